"""HTTP routes of the accounts domain: parse, call the service, choose the status code."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
