"""api_token.role: viewer, editor or admin (tokens made before keep every power: admin)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch: SQLite's batch mode copies the table and would drop
    # the triggers 0007 put on it.
    op.add_column(
        "api_token",
        sa.Column("role", sa.String(length=16), server_default="viewer", nullable=False),
    )
    op.execute("UPDATE api_token SET role = 'admin'")


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("role")
