"""webhook signing secrets sealed at rest

`webhooks.secret` held each receiver's signing secret in the clear: a database dump or
backup let anyone forge deliveries. It becomes `webhooks.secret_sealed`: AES-256-GCM under
a subkey of the server key (`vibes.platform.sealing`, purpose "webhook-signing-secrets"),
the webhook's id as associated data. Existing rows are sealed here, which needs the server
key: `vibes db upgrade` and `vibes serve` hand it in; otherwise it is loaded from the
settings (VIBES_SECRET_KEY or the data folder), as the server loads it. Reversible: the
downgrade opens every secret back into the clear.

Revision ID: 20261202_1730
Revises: 20261127_1500
Create Date: 2026-12-02 17:30:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from vibes.platform.keys import KeyRing
from vibes.platform.sealing import seal, unseal

revision: str = "20261202_1730"
down_revision: str | Sequence[str] | None = "20261127_1500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: what `vibes.events.secrets` used when this migration was written.
PURPOSE = "webhook-signing-secrets"

webhooks = sa.table(
    "webhooks",
    sa.column("id", sa.Uuid()),
    sa.column("secret", sa.String()),
    sa.column("secret_sealed", sa.String()),
)


def _key() -> bytes:
    keyring = context.config.attributes.get("keyring")
    if keyring is None:
        from vibes.config import Settings
        from vibes.platform.keys import load_keyring

        keyring = load_keyring(Settings())
    assert isinstance(keyring, KeyRing)
    return keyring.derive(PURPOSE)


def _rows(column: str) -> list[tuple[uuid.UUID, str]]:
    found = op.get_bind().execute(sa.select(webhooks.c.id, webhooks.c[column]))
    return [(row[0], row[1]) for row in found]


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("secret_sealed", sa.String(length=255), nullable=True))
    rows = _rows("secret")
    if rows:
        key = _key()
        for hook_id, secret in rows:
            op.get_bind().execute(
                webhooks.update()
                .where(webhooks.c.id == hook_id)
                .values(secret_sealed=seal(key, secret, context=hook_id.bytes))
            )
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret_sealed", existing_type=sa.String(length=255), nullable=False)
        batch.drop_column("secret")


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("secret", sa.String(length=100), nullable=True))
    rows = _rows("secret_sealed")
    if rows:
        key = _key()
        for hook_id, sealed in rows:
            op.get_bind().execute(
                webhooks.update()
                .where(webhooks.c.id == hook_id)
                .values(secret=unseal(key, sealed, context=hook_id.bytes))
            )
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=100), nullable=False)
        batch.drop_column("secret_sealed")
