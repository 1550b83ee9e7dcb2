"""org_version: a counter per organization, raised by triggers when its data changes (row 0:
when tokens or organizations change)

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

ACCESS = "access"  # row 0: who may see what (tokens, organizations)

# (table, event, how a row names the organization whose counter it raises)
TRIGGERS = [
    ("fact_change", "INSERT", "org_id"),
    *[
        (table, event, "org_id")
        for table in ("agg_state", "goal", "insight", "source")
        for event in ("INSERT", "UPDATE", "DELETE")
    ],
    ("window_quality", "INSERT", "source_id"),
    ("window_quality", "DELETE", "source_id"),
    ("organization", "UPDATE", "id"),
    *[("organization", event, ACCESS) for event in ("INSERT", "UPDATE", "DELETE")],
    ("api_token", "INSERT", ACCESS),
    ("api_token", "DELETE", ACCESS),
    ("api_token", "UPDATE OF org_id, is_admin, revoked_at", ACCESS),  # not its last use
]

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
    IF TG_ARGV[0] = 'access' THEN
        org := 0;
    ELSIF TG_ARGV[0] = 'source_id' THEN
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


def _trigger(table: str, event: str, column: str) -> str:
    operation = event.split(maxsplit=1)[0].lower()
    return f"dpo_version_{table}_{operation}_{'access' if column == ACCESS else 'org'}"


def _sqlite_trigger(table: str, event: str, column: str) -> str:
    row = "OLD" if event == "DELETE" else "NEW"
    org = f"{row}.{column}"
    if column == ACCESS:
        org = "0"
    elif column == "source_id":
        org = f"(SELECT org_id FROM source WHERE id = {row}.source_id)"
    return (
        f"CREATE TRIGGER {_trigger(table, event, column)} AFTER {event} ON {table} "
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
    for table, event, column in TRIGGERS:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {_trigger(table, event, column)} AFTER {event} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION dpo_raise_org_version('{column}')"
            )
        else:
            op.execute(_sqlite_trigger(table, event, column))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, event, column in TRIGGERS:
        suffix = f" ON {table}" if postgres else ""
        op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table, event, column)}{suffix}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS dpo_raise_org_version()")
    op.drop_table("org_version")
