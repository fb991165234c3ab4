"""merge the resources and digests branch

Revision ID: 0006
Revises: 0005, 0003
Create Date: 2026-11-26
"""
from __future__ import annotations

revision = "0006"
down_revision = ("0005", "0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
