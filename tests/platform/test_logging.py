"""Log lines carry no raw control characters, whatever a client sends (log forging)."""

from __future__ import annotations

import json
import logging
from typing import Literal

import httpx
import pytest
import structlog

from tests.platform.logcapture import configured_logs
from vibes.config import Settings

FORGED_PATH = "/api/v1/nothing%0a2026-01-01 INFO forged line%1b[2J%00%c2%9b31m%e2%80%aeend"
ESCAPED = "\\x0a2026-01-01 INFO forged line\\x1b[2J\\x00\\x9b31m\\u202eend"


@pytest.mark.parametrize("log_format", ["console", "json"])
async def test_access_log_escapes_control_characters_in_the_path(
    client: httpx.AsyncClient, settings: Settings, log_format: Literal["json", "console"]
) -> None:
    with configured_logs(settings, log_format) as output:
        response = await client.get(FORGED_PATH)
    assert response.status_code == 404
    lines = [line for line in output.getvalue().splitlines() if "vibes.access" in line]
    assert len(lines) == 1, output.getvalue()
    line = lines[0]
    for raw in ("\x1b", "\x00", "\x9b", "\u202e", "\r"):
        assert raw not in line
    if log_format == "json":
        fields = json.loads(line)
        assert fields["event"] == "request"
        assert ESCAPED in fields["path"]
        assert fields["route"] == "unmatched"
        assert fields["status"] == 404
        assert set(fields) >= {"request_id", "method", "duration_ms", "user_id"}
    else:
        # The console shows field values as Python literals: backslashes doubled.
        assert ESCAPED.replace("\\", "\\\\") in line


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_every_structured_field_is_escaped(
    settings: Settings, log_format: Literal["json", "console"]
) -> None:
    with configured_logs(settings, log_format) as output:
        structlog.get_logger("vibes.test").warning(
            "message\nforged", field="a\nb\x1b", nested={"k\x00": ["x\u2028y"]}, slash="a\\x0a"
        )
    text = output.getvalue()
    assert text.count("\n") == 1, text
    for raw in ("\x1b", "\x00", "\u2028"):
        assert raw not in text
    # A backslash is doubled, so a client cannot spell an escape that reads like ours.
    assert "a\\\\x0a" in text


def test_a_traceback_keeps_its_lines_but_not_control_characters(settings: Settings) -> None:
    with configured_logs(settings) as output:
        try:
            raise ValueError("bad\x1b[31m value\u202e")
        except ValueError:
            logging.getLogger("vibes.test").exception("failed")
    text = output.getvalue()
    assert "Traceback" in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "bad\\x1b[31m value\\u202e" in text
