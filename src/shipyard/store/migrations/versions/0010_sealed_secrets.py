"""Webhook URLs and secrets are stored sealed (Fernet tokens are about 4/3 of the value plus
~100 characters), so their columns become text.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("url", existing_type=sa.String(length=2000), type_=sa.Text(), existing_nullable=False)
        batch_op.alter_column("secret", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=True)
        batch_op.alter_column("url", existing_type=sa.Text(), type_=sa.String(length=2000), existing_nullable=False)
