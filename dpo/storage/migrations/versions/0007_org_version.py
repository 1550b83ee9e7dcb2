"""org_version: a counter per organization, raised by triggers when its data changes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (how a row names its organization, the operations that raise the counter)
WATCHED = {
    "fact_change": ("org_id", ("INSERT",)),
    "agg_state": ("org_id", ("INSERT", "UPDATE", "DELETE")),
    "goal": ("org_id", ("INSERT", "UPDATE", "DELETE")),
    "insight": ("org_id", ("INSERT", "UPDATE", "DELETE")),
    "source": ("org_id", ("INSERT", "UPDATE", "DELETE")),
    "window_quality": ("source_id", ("INSERT", "DELETE")),
    "organization": ("id", ("UPDATE",)),
}

PG_FUNCTION = """
CREATE FUNCTION dpo_raise_org_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fields jsonb;
    org integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        fields := to_jsonb(OLD);
    ELSE
        fields := to_jsonb(NEW);
    END IF;
    IF TG_ARGV[0] = 'source_id' THEN
        SELECT s.org_id INTO org FROM source s WHERE s.id = (fields ->> 'source_id')::integer;
    ELSE
        org := (fields ->> TG_ARGV[0])::integer;
    END IF;
    IF org IS NOT NULL THEN
        INSERT INTO org_version (org_id, version) VALUES (org, 1)
        ON CONFLICT (org_id) DO UPDATE SET version = org_version.version + 1;
    END IF;
    RETURN NULL;
END
$$
"""


def _trigger(table: str, operation: str) -> str:
    return f"dpo_version_{table}_{operation.lower()}"


def _sqlite_trigger(table: str, column: str, operation: str) -> str:
    row = "OLD" if operation == "DELETE" else "NEW"
    org = f"{row}.{column}"
    if column == "source_id":
        org = f"(SELECT org_id FROM source WHERE id = {row}.source_id)"
    return (
        f"CREATE TRIGGER {_trigger(table, operation)} AFTER {operation} ON {table} "
        f"WHEN {org} IS NOT NULL BEGIN "
        f"INSERT OR IGNORE INTO org_version (org_id, version) VALUES ({org}, 0); "
        f"UPDATE org_version SET version = version + 1 WHERE org_id = {org}; END"
    )


def upgrade() -> None:
    op.create_table(
        "org_version",
        sa.Column("org_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(PG_FUNCTION)
    for table, (column, operations) in WATCHED.items():
        for operation in operations:
            if postgres:
                op.execute(
                    f"CREATE TRIGGER {_trigger(table, operation)} AFTER {operation} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION dpo_raise_org_version('{column}')"
                )
            else:
                op.execute(_sqlite_trigger(table, column, operation))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (_column, operations) in WATCHED.items():
        for operation in operations:
            suffix = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table, operation)}{suffix}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS dpo_raise_org_version()")
    op.drop_table("org_version")
