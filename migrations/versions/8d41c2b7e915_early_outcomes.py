"""early outcomes: a prediction may carry no subtype; cases may await a review of their sequences

Revision ID: 8d41c2b7e915
Revises: 5c2f1e7a9b40
Create Date: 2026-11-29 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d41c2b7e915'
down_revision = '5c2f1e7a9b40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=32), nullable=False,
                                      server_default='subtype'))
        batch_op.alter_column('predicted_class', existing_type=sa.String(length=1), nullable=True)
        batch_op.alter_column('probabilities', existing_type=sa.JSON(), nullable=True)
        batch_op.alter_column('slice_index', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequences_confirmed', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('sequences_confirmed')
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.alter_column('slice_index', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('probabilities', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('predicted_class', existing_type=sa.String(length=1), nullable=False)
        batch_op.drop_column('outcome')
