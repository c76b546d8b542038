"""Every table, imported in one place so `Base.metadata` is complete (Alembic, tests)."""

from vibes.accounts.models import AuthSession, PasswordResetToken, RefreshToken, User
from vibes.db import Base
from vibes.events.models import Delivery, DeliveryAttempt, OutboxEvent, Webhook
from vibes.journals.models import Journal
from vibes.platform.models import AuditLog, IdempotencyKey
from vibes.reminders.models import Reminder
from vibes.sync.models import Change
from vibes.tags.models import JournalTag, Tag
from vibes.vault.models import SecretTag

__all__ = [
    "AuditLog",
    "AuthSession",
    "Base",
    "Change",
    "Delivery",
    "DeliveryAttempt",
    "IdempotencyKey",
    "Journal",
    "JournalTag",
    "OutboxEvent",
    "PasswordResetToken",
    "RefreshToken",
    "Reminder",
    "SecretTag",
    "Tag",
    "User",
    "Webhook",
]
