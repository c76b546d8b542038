"""Export and import over the HTTP API, with progress bars on long transfers."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from vibes.cli.client.common import connect, err, out, print_json


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=True,
        # Only on a terminal: scripts and logs get no bars.
        disable=not err().is_terminal,
    )


@contextlib.contextmanager
def private_output(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or FILE written whole or not at all, mode 0600 (an export is the
    whole journal)."""
    if path is None or str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = path.with_name(f".{path.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def export(profile: str | None, fmt: str, output: Path | None) -> None:
    with connect(profile) as client, private_output(output) as sink, _progress() as bars:
        response = client.request("GET", "/export", params={"format": fmt}, stream=True)
        try:
            total = response.headers.get("Content-Length")
            task = bars.add_task("Exporting", total=int(total) if total else None)
            for chunk in response.iter_bytes():
                sink.write(chunk)
                bars.advance(task, len(chunk))
        finally:
            response.close()
    if output is not None and str(output) != "-":
        err().print(f"[green]Exported[/] to {output} ({output.stat().st_size:,} bytes).")


class _Counted:
    """A file whose reads move a progress bar (httpx reads uploads in chunks)."""

    def __init__(self, handle: IO[bytes], bars: Progress, task: TaskID) -> None:
        self._handle, self._bars, self._task = handle, bars, task
        self._sent = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._bars.advance(self._task, len(chunk))
        if not chunk and not self._sent:
            # Sent: the server reads and writes it all before it answers.
            self._sent = True
            self._bars.update(self._task, visible=False)
            self._bars.add_task("Importing on the server", total=None)
        return chunk

    def fileno(self) -> int:
        return self._handle.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


def import_(profile: str | None, fmt: str, file: Path, json_output: bool) -> None:
    media = "application/zip" if file.suffix.lower() == ".zip" else "application/json"
    with connect(profile) as client, file.open("rb") as handle, _progress() as bars:
        task = bars.add_task("Uploading", total=file.stat().st_size)
        counted: Any = _Counted(handle, bars, task)
        summary = client.request(
            "POST",
            "/import",
            params={"format": fmt},
            files={"file": (file.name, counted, media)},
        ).json()
    if json_output:
        print_json(summary)
        return
    imported, skipped = summary.get("imported", {}), summary.get("skipped", {})
    said = ", ".join(f"{count} {kind}" for kind, count in imported.items())
    out().print(f"[green]Imported[/] {said or 'nothing'}.")
    left = {kind: count for kind, count in skipped.items() if count}
    if left:
        out().print(
            "[yellow]Skipped[/] " + ", ".join(f"{count} {kind}" for kind, count in left.items())
        )
