"""an index of records by capture time: `before:` and `after:` find where their dates begin
and end among the ids a search walks

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_created", "records", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_records_created", table_name="records")
