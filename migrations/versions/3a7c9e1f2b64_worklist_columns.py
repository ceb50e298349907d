"""worklist columns: a prediction's top probability and low-confidence flag, a failure's kind

Revision ID: 3a7c9e1f2b64
Revises: ed820125e157
Create Date: 2026-11-29 12:00:00.000000

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3a7c9e1f2b64'
down_revision = 'ed820125e157'
branch_labels = None
depends_on = None


def _backfill_predictions():
    """Fill the new columns from each stored summary (the worker fills them from now on)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, probabilities, extra FROM predictions")).fetchall()
    for row_id, probabilities, extra in rows:
        probabilities = json.loads(probabilities) if isinstance(probabilities, str) \
            else probabilities
        extra = json.loads(extra) if isinstance(extra, str) else extra
        top = max(probabilities.values()) if probabilities else None
        low = bool((extra or {}).get("low_confidence", False))
        conn.execute(sa.text("UPDATE predictions SET top_probability = :top, "
                             "low_confidence = :low WHERE id = :id"),
                     {"top": top, "low": low, "id": row_id})


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure_kind', sa.String(length=16), nullable=True))
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('top_probability', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('low_confidence', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_predictions_top_probability'), ['top_probability'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_predictions_low_confidence'), ['low_confidence'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_predictions_predicted_class'), ['predicted_class'],
                              unique=False)
    _backfill_predictions()


def downgrade():
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_predictions_predicted_class'))
        batch_op.drop_index(batch_op.f('ix_predictions_low_confidence'))
        batch_op.drop_index(batch_op.f('ix_predictions_top_probability'))
        batch_op.drop_column('low_confidence')
        batch_op.drop_column('top_probability')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('failure_kind')
