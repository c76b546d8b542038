"""`/openapi.json` tells the truth (issue 12, found with schemathesis): what the schema
offers is accepted, and what the API answers is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vibes.app import create_app
from vibes.config import Settings
from vibes.vault.schemas import SECRET_TAG_NAME_PATTERN

API = "/api/v1"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Generating the document needs the routes only: no database, no lifespan.
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    document: dict[str, Any] = create_app(Settings(data_dir=data_dir)).openapi()
    return document


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(
        alt.get("type") == "null" for alt in prop.get("anyOf", ())
    )


def _patterns(prop: dict[str, Any]) -> set[str]:
    found = {prop["pattern"]} if "pattern" in prop else set()
    for alt in prop.get("anyOf", ()):
        found |= _patterns(alt)
    return found


def test_validation_error_locations_may_hold_list_indices(spec: dict[str, Any]) -> None:
    # `["body", "items", 3, "secret_tag_id"]`: a batch item's index is an integer.
    loc = _schema(spec, "Problem")["properties"]["errors"]["items"]["properties"]["loc"]
    assert loc["type"] == "array"
    types = {alt["type"] for alt in loc["items"]["anyOf"]}
    assert types == {"string", "integer"}


@pytest.mark.parametrize(
    ("schema", "refuse_null", "take_null"),
    [
        (
            "JournalUpdate",
            {"title", "content", "entry_date", "tags"},
            {"mood_rating", "secret_tag_id"},
        ),
        (
            "ReminderUpdate",
            {"title", "priority", "remind_at", "timezone"},
            {"notes", "recurrence", "journal_id"},
        ),
        ("TagUpdate", {"name"}, {"color"}),
        ("UserUpdate", {"timezone", "language"}, {"display_name"}),
        ("SecretTagUpdate", set(), {"name", "color"}),
    ],
)
def test_update_fields_are_nullable_only_where_null_is_taken(
    spec: dict[str, Any], schema: str, refuse_null: set[str], take_null: set[str]
) -> None:
    properties = _schema(spec, schema)["properties"]
    assert set(properties) == refuse_null | take_null
    for name in refuse_null:
        assert not _nullable(properties[name]), name
    for name in take_null:
        assert _nullable(properties[name]), name
    # Optional all the same: a field left out stays as it is.
    assert not _schema(spec, schema).get("required")


@pytest.mark.parametrize("schema", ["SecretTagCreate", "SecretTagUpdate"])
def test_secret_tag_color_and_name_declare_their_patterns(
    spec: dict[str, Any], schema: str
) -> None:
    properties = _schema(spec, schema)["properties"]
    assert _patterns(properties["color"]) == {"^#[0-9a-fA-F]{6}$"}
    assert _patterns(properties["name"]) == {SECRET_TAG_NAME_PATTERN}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/auth/password"),
        ("delete", "/users/me"),
        ("delete", "/secret-tags/{tag_id}"),
        ("post", "/secret-tags/forgotten"),
    ],
)
def test_a_wrong_password_is_documented_as_the_403_it_answers(
    spec: dict[str, Any], method: str, path: str
) -> None:
    responses = spec["paths"][API + path][method]["responses"]
    assert "password" in responses["403"]["description"].lower()
    assert list(responses["403"]["content"]) == ["application/problem+json"]
    # A 401 (if documented) is the access token's, never the password's.
    assert "401" not in responses or "credentials" not in responses["401"]["description"].lower()


@pytest.mark.parametrize("path", ["/auth/web/login", "/auth/web/refresh", "/auth/web/logout"])
def test_the_web_sign_in_routes_declare_their_csrf_header(spec: dict[str, Any], path: str) -> None:
    # Every request without it is a 403: a client built from the schema must send it.
    operation = spec["paths"][API + path]["post"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "X-Vibes-CSRF"]
    assert header["in"] == "header"
    assert header["required"] is True
    assert header["schema"]["enum"] == ["1"]
    assert "403" in operation["responses"]


def test_journal_list_filters_declare_what_they_take(spec: dict[str, Any]) -> None:
    parameters = {
        p["name"]: p["schema"] for p in spec["paths"][API + "/journals"]["get"]["parameters"]
    }
    assert parameters["tag"]["items"]["maxLength"] == 64
    assert "pattern" in parameters["tag"]["items"]
    for bound in ("from", "to"):
        assert {s["format"] for s in parameters[bound]["anyOf"]} == {"date-time", "date"}
