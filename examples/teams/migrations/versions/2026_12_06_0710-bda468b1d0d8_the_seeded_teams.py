"""the seeded teams

Revision ID: bda468b1d0d8
Revises: 35950a49a8d1
Create Date: 2026-12-06 07:10:41.624676

A data migration: the teams a new database starts with, so that `porch db migrate` on a fresh
machine gives the seeded site. The tables as they were at this revision, not the models (which
will change after it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "bda468b1d0d8"
down_revision: str | Sequence[str] | None = "35950a49a8d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# In the order of their levels: the list shows them so, and they get the ids 1 to 4.
SEEDED = (("Falcons", "U09"), ("Otters", "U12"), ("Harriers", "U16"), ("First XI", "Senior"))

team = sa.table(
    "team",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
    sa.column("level", sa.String),
)
player = sa.table("player", sa.column("team_id", sa.Integer))


def upgrade() -> None:
    op.bulk_insert(
        team,
        [{"name": name, "name_key": name.casefold(), "level": level} for name, level in SEEDED],
    )


def downgrade() -> None:
    # The seeded teams go, and the players added to them since.
    keys = [name.casefold() for name, _ in SEEDED]
    seeded = sa.select(team.c.id).where(team.c.name_key.in_(keys))
    op.execute(player.delete().where(player.c.team_id.in_(seeded)))
    op.execute(team.delete().where(team.c.name_key.in_(keys)))
