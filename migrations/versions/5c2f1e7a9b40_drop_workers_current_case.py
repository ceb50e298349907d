"""drop workers.current_case (never written: the case's own row says which worker holds it)

Revision ID: 5c2f1e7a9b40
Revises: edbf3943b335
Create Date: 2026-11-29 10:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c2f1e7a9b40'
down_revision = 'edbf3943b335'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_column('current_case')


def downgrade():
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current_case', sa.String(length=32), nullable=True))
