"""The `vibes` command: the operator's commands (`cli/server.py`) and the terminal
client's (`cli/client/`), side by side."""

from __future__ import annotations

from vibes.cli import client, transfer
from vibes.cli.server import app

client.register(app)
transfer.register(app, client.JOURNAL)

if __name__ == "__main__":
    app()
