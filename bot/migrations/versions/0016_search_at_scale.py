"""search at scale: words of one or two characters indexed (records.search_terms), and the
indexes that let a search or a list walk a workspace's records newest first

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.models import search_terms

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BATCH = 5_000
# The tokens are written by Sayso (bot.models.search_terms), separated by spaces; the
# tokenizer only splits them again, keeping accents (they are part of the word).
SQLITE_TERMS = [
    "CREATE VIRTUAL TABLE records_terms USING fts5(search_terms, content='records', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER records_terms_insert AFTER INSERT ON records BEGIN "
    "INSERT INTO records_terms(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    "CREATE TRIGGER records_terms_update AFTER UPDATE OF search_terms ON records BEGIN "
    "INSERT INTO records_terms(records_terms, rowid, search_terms) "
    "VALUES ('delete', old.id, old.search_terms); "
    "INSERT INTO records_terms(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    "CREATE TRIGGER records_terms_delete AFTER DELETE ON records BEGIN "
    "INSERT INTO records_terms(records_terms, rowid, search_terms) "
    "VALUES ('delete', old.id, old.search_terms); END",
]
# The same expression as bot.records.search.matching's, so the planner can use the index.
POSTGRES_TERMS = (
    "CREATE INDEX ix_records_search_terms ON records USING gin (string_to_array(search_terms, ' '))"
)
INDEXES = {
    "ix_records_team_channel": ("records", ["team_id", "channel_id", "id"]),
    "ix_records_team_status": ("records", ["team_id", "status", "id"]),
    "ix_records_team_owner": ("records", ["team_id", "owner_id", "id"]),
    "ix_records_team_capturer": ("records", ["team_id", "captured_by_id", "id"]),
    "ix_requesters_user": ("record_requesters", ["user_id", "record_id"]),
}


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("search_terms", sa.Text(), nullable=False, server_default=""))
    _fill_search_terms()
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TERMS:
            op.execute(statement)
        op.execute("INSERT INTO records_terms(records_terms) VALUES ('rebuild')")
    elif dialect == "postgresql":
        op.execute(POSTGRES_TERMS)


def _fill_search_terms() -> None:
    bind = op.get_bind()
    records = sa.table("records", sa.column("id"), sa.column("text"), sa.column("search_terms"))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(records.c.id, records.c.text)
            .where(records.c.id > last)
            .order_by(records.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            records.update()
            .where(records.c.id == sa.bindparam("record_id"))
            .values(search_terms=sa.bindparam("terms")),
            [{"record_id": row.id, "terms": search_terms(row.text)} for row in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("records_terms_insert", "records_terms_update", "records_terms_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS records_terms")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_records_search_terms")
    for name, (table, _columns) in INDEXES.items():
        op.drop_index(name, table)
    with op.batch_alter_table("records") as batch:
        batch.drop_column("search_terms")
