"""The JSON Schema file shipped beside the export format is the format's schema."""

from __future__ import annotations

import json
from importlib import resources

from vibes.portability.schemas import SCHEMA_FILE, document_schema


def test_the_schema_file_matches_the_document_model() -> None:
    shipped = resources.files("vibes.portability").joinpath(SCHEMA_FILE).read_text("utf-8")
    expected = json.dumps(document_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    # Regenerate: python -c "from tests.portability.test_schema_file import write; write()"
    assert shipped == expected


def write() -> None:
    path = resources.files("vibes.portability").joinpath(SCHEMA_FILE)
    text = json.dumps(document_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    with open(str(path), "w", encoding="utf-8") as out:
        out.write(text)
