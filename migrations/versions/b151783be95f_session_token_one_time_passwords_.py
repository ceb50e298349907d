"""Session token per user, one-time passwords, aggregated audit rows.

Revision ID: b151783be95f
Revises: edbf3943b335
Create Date: 2026-11-29 10:38:57.872077

Existing users get a fresh random session token each (every cookie issued before the upgrade
stops working, since it lacks one) and keep their password (must_change_password false).
"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b151783be95f"
down_revision = "8d41c2b7e915"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("count", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("count", server_default=None)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update().where(users.c.id == user_id).values(session_token=secrets.token_hex(16))
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("must_change_password", server_default=None)


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("session_token")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("count")
