"""Every table, imported in one place so `Base.metadata` is complete (Alembic, tests)."""

from vibes.accounts.models import (
    AuthSession,
    Invite,
    MfaChallenge,
    PasswordResetToken,
    PersonalAccessToken,
    RecoveryCode,
    RefreshToken,
    User,
    UserTotp,
)
from vibes.db import Base
from vibes.events.models import Delivery, DeliveryAttempt, Webhook
from vibes.journals.models import Journal, JournalTag, Tag
from vibes.platform.models import AuditLog, IdempotencyKey, PeriodicJob
from vibes.portability.models import ImportedObject
from vibes.recording.models import Change, OutboxEvent, SyncCounter
from vibes.reminders.models import Reminder
from vibes.vault.models import SecretTag

__all__ = [
    "AuditLog",
    "AuthSession",
    "Base",
    "Change",
    "Delivery",
    "DeliveryAttempt",
    "IdempotencyKey",
    "ImportedObject",
    "Invite",
    "Journal",
    "JournalTag",
    "MfaChallenge",
    "OutboxEvent",
    "PasswordResetToken",
    "PeriodicJob",
    "PersonalAccessToken",
    "RecoveryCode",
    "RefreshToken",
    "Reminder",
    "SecretTag",
    "SyncCounter",
    "Tag",
    "User",
    "UserTotp",
    "Webhook",
]
