"""Forget client file names: scans.original_filename becomes the server's stored name.

Revision ID: c4d2e8a1f907
Revises: b151783be95f
Create Date: 2026-11-29 11:00:00

Client file names may hold a patient's name and date of birth. New uploads never store them;
this replaces those kept by earlier versions with the stored file's own name (flair.nii.gz...).
There is no way back: the downgrade leaves the names as they are.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c4d2e8a1f907"
down_revision = "b151783be95f"
branch_labels = None
depends_on = None


def upgrade():
    scans = sa.table(
        "scans",
        sa.column("id", sa.Integer),
        sa.column("stored_path", sa.String),
        sa.column("original_filename", sa.String),
    )
    conn = op.get_bind()
    for scan_id, stored_path in conn.execute(sa.select(scans.c.id, scans.c.stored_path)).all():
        name = stored_path.replace("\\", "/").rsplit("/", 1)[-1]
        conn.execute(scans.update().where(scans.c.id == scan_id).values(original_filename=name))


def downgrade():
    pass  # the client names are gone for good
