"""Password hashing (Argon2id) and the strength rule (zxcvbn).

Hashing and verifying run in a worker thread: each takes tens of milliseconds of CPU and
would otherwise stall every other request on the event loop. Passwords are NFKC-normalised
first, so the same password typed on two keyboards (composed or decomposed accents, full-
width digits) is the same password.
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vibes.config import Settings
from vibes.errors import Unprocessable

T = TypeVar("T")

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn refuses longer input; a password this long is judged on its first 72 characters.
_ZXCVBN_MAX = 72


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True, slots=True)
class Hasher:
    hasher: PasswordHasher
    # A hash of a random password with the same parameters: unknown accounts are
    # "verified" against it so they take as long as known ones.
    dummy_hash: str


@functools.lru_cache(maxsize=8)
def _hasher(memory_kib: int, time_cost: int, parallelism: int) -> Hasher:
    hasher = PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    return Hasher(hasher, hasher.hash("dummy password for timing equality"))


def hasher_for(settings: Settings) -> Hasher:
    return _hasher(
        settings.password_hash_memory_kib,
        settings.password_hash_time_cost,
        settings.password_hash_parallelism,
    )


# One semaphore per event loop (a semaphore belongs to the loop that first waits on it).
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]
_slots = weakref.WeakKeyDictionary()


def hash_slots(settings: Settings) -> int:
    """How many Argon2 runs may go at once: the setting, kept below the pool size."""
    return max(1, min(settings.password_hash_concurrency, settings.database_pool_size - 1))


def _semaphore(settings: Settings) -> asyncio.Semaphore:
    per_size = _slots.setdefault(asyncio.get_running_loop(), {})
    size = hash_slots(settings)
    semaphore = per_size.get(size)
    if semaphore is None:
        semaphore = per_size[size] = asyncio.Semaphore(size)
    return semaphore


async def _bounded(settings: Settings, work: Callable[[], T]) -> T:
    """Run Argon2 in a worker thread, a bounded number at once: a burst of logins queues
    here (callers hold no database connection meanwhile) instead of taking every thread
    and megabytes of memory per attempt."""
    async with _semaphore(settings):
        return await asyncio.to_thread(work)


async def hash_password(settings: Settings, password: str) -> str:
    """The PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`)."""

    def hash_it() -> str:
        return hasher_for(settings).hasher.hash(normalize(password))

    return await _bounded(settings, hash_it)


async def verify_password(settings: Settings, stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no stored hash, spends the same time and is False."""

    def verify() -> bool:
        h = hasher_for(settings)
        target = stored_hash if stored_hash is not None else h.dummy_hash
        try:
            return h.hasher.verify(target, normalize(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    matched = await _bounded(settings, verify)
    return matched and stored_hash is not None


def needs_rehash(settings: Settings, stored_hash: str) -> bool:
    """True when the stored hash was made with other (e.g. older, weaker) parameters."""
    try:
        return hasher_for(settings).hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


def personal_words(email: str, display_name: str | None) -> list[str]:
    """What zxcvbn should treat as guessable for this person: the address and its parts."""
    local, _, domain = email.casefold().partition("@")
    words = [email.casefold(), local, domain, *re.split(r"[^\w]+", local)]
    if display_name:
        words += [display_name.casefold(), *display_name.casefold().split()]
    return [word for word in dict.fromkeys(words) if len(word) >= 3]


def _evaluate(password: str, user_inputs: list[str]) -> dict[str, Any]:
    # Imported on first use: its word lists are ~12 MB of memory that a server answering
    # reads never needs (only registration and password changes do).
    from zxcvbn import zxcvbn

    result: dict[str, Any] = zxcvbn(normalize(password)[:_ZXCVBN_MAX], user_inputs=user_inputs)
    return result


async def check_strength(
    settings: Settings, password: str, *, user_inputs: list[str], field: str
) -> None:
    """Refuse short, common and guessable passwords with zxcvbn's own advice.

    Length limits are also in the schemas; checked again here because this is the rule.
    No composition rules: a long passphrase of plain words is welcome.
    """
    length = len(password)
    loc = ["body", field]
    if length < MIN_LENGTH or length > MAX_LENGTH:
        message = f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters."
        raise Unprocessable(
            message, errors=[{"loc": loc, "msg": message, "type": "password_length"}]
        )
    await check_guessable(settings, password, user_inputs=user_inputs, field=field)


async def check_guessable(
    settings: Settings,
    secret: str,
    *,
    user_inputs: list[str],
    field: str,
    noun: str = "password",
) -> None:
    """Refuse a secret zxcvbn scores below `password_min_score` (422 with its advice);
    also the vault's rule for secret phrases (`noun="phrase"`)."""
    loc = ["body", field]
    inputs = [item for item in user_inputs if item] + ["vibes", "journal"]
    result = await asyncio.to_thread(_evaluate, secret, inputs)
    if int(result["score"]) >= settings.password_min_score:
        return
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or f"This {noun} is too easy to guess.")
    suggestions = [str(s) for s in feedback.get("suggestions") or []]
    if not suggestions:
        suggestions = ["Add another word or two. Uncommon words are better."]
    message = " ".join([warning, *suggestions])
    raise Unprocessable(
        f"Choose a stronger {noun}. {message}",
        errors=[
            {
                "loc": loc,
                "msg": message,
                "type": "weak_password",
                "warning": warning,
                "suggestions": suggestions,
            }
        ],
    )
