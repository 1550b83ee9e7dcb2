"""job_run.worker: the Celery worker a run ran on (NULL for cron, the CLI and the API)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (see 0008): a batch copy would drop the table's triggers on SQLite.
    op.add_column("job_run", sa.Column("worker", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_column("worker")
