"""rollups: agg_hourly, agg_daily, agg_state; fact_change consumed per rollup

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _metrics() -> list[sa.Column]:  # type: ignore[type-arg]
    money = sa.Numeric(precision=20, scale=6)
    return [
        sa.Column("campaign_name", sa.String(length=500), nullable=True),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("clicks", sa.BigInteger(), nullable=True),
        sa.Column("spend", money, nullable=True),
        sa.Column("sessions", sa.BigInteger(), nullable=True),
        sa.Column("conversions", money, nullable=True),
        sa.Column("attributed_conversions", money, nullable=True),
        sa.Column("attributed_revenue", money, nullable=True),
        sa.Column("revenue", money, nullable=True),
        sa.Column("orders", sa.BigInteger(), nullable=True),
        sa.Column("refunds", money, nullable=True),
        sa.Column("source_revenue", money, nullable=True),
        sa.Column("source_orders", sa.BigInteger(), nullable=True),
        sa.Column("source_refunds", money, nullable=True),
        sa.Column("skipped_facts", sa.Integer(), nullable=False),
    ]


def _rollup(name: str, key: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        *_metrics(),
        sa.Column("org_id", sa.Integer(), nullable=False),
        key,
        sa.Column("source_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", key.name, "source_id", "channel", "campaign"),
    )


def upgrade() -> None:
    _rollup("agg_hourly", sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False))
    _rollup("agg_daily", sa.Column("day", sa.Date(), nullable=False))
    op.create_table(
        "agg_state",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("fingerprint", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "grain"),
    )
    with op.batch_alter_table("fact_change", schema=None) as batch_op:
        for name in ("hourly_done", "daily_done"):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)
            )


def downgrade() -> None:
    with op.batch_alter_table("fact_change", schema=None) as batch_op:
        batch_op.drop_column("daily_done")
        batch_op.drop_column("hourly_done")
    op.drop_table("agg_state")
    op.drop_table("agg_daily")
    op.drop_table("agg_hourly")
