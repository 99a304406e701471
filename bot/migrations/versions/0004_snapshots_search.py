"""thread snapshots, and indexes for searching records' text (Chinese included)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# Words in Chinese have no spaces around them, so word tokenizers cannot find 网络参数 in
# 请把网络参数改成30秒. Both databases index character trigrams instead: FTS5's trigram
# tokenizer on SQLite, pg_trgm's GIN index on PostgreSQL (it serves LIKE '%...%').
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE records_fts USING fts5("
    "text, content='records', content_rowid='id', tokenize='trigram')",
    "INSERT INTO records_fts(rowid, text) SELECT id, text FROM records",
    "CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN "
    "INSERT INTO records_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER records_fts_update AFTER UPDATE OF text ON records BEGIN "
    "INSERT INTO records_fts(records_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO records_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN "
    "INSERT INTO records_fts(records_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
]


def upgrade() -> None:
    op.create_table(
        "thread_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_thread_snapshots_record_id", "thread_snapshots", ["record_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        bind = op.get_bind()
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        except sa.exc.DBAPIError as error:
            # Search still works (a sequential ILIKE); only the index is missing.
            log.warning("pg_trgm is not available (%s); records are searched unindexed", error)
            return
        op.execute(
            "CREATE INDEX ix_records_text_trgm ON records USING gin (text public.gin_trgm_ops)"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("records_fts_insert", "records_fts_update", "records_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS records_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_records_text_trgm")
    op.drop_index("ix_thread_snapshots_record_id", "thread_snapshots")
    op.drop_table("thread_snapshots")
