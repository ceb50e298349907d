from sqlalchemy import select

from app.models import ApiToken, User
from app.models.token import hash_token


def test_users_create_with_password_option(runner, db):
    result = runner.invoke(args=["users", "create", "Boss@Example.org", "--admin",
                                 "--password", "long-enough-pw"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "boss@example.org"))
    assert user.is_admin and user.check_password("long-enough-pw")


def test_users_create_prompts_for_the_password(runner, db):
    result = runner.invoke(args=["users", "create", "doc@example.org"],
                           input="prompted-password\nprompted-password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "doc@example.org"))
    assert not user.is_admin and user.check_password("prompted-password")


def test_users_create_refuses_duplicates_and_short_passwords(runner, db, user):
    result = runner.invoke(args=["users", "create", user.email, "--password", "long-enough-pw"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(args=["users", "create", "x@example.org", "--password", "short"])
    assert result.exit_code != 0 and "at least" in result.output


def test_ensure_admin_creates_one_account_once_with_a_printed_password(runner, db):
    first = runner.invoke(args=["users", "ensure-admin"])
    assert first.exit_code == 0
    password = first.output.split("one-time password")[1].split()[0]
    admin = db.session.scalar(select(User))
    assert admin.is_admin and admin.check_password(password)
    second = runner.invoke(args=["users", "ensure-admin"])
    assert second.output == ""
    assert len(db.session.scalars(select(User)).all()) == 1


def test_users_token_prints_a_token_stored_hashed(runner, db, user):
    result = runner.invoke(args=["users", "token", user.email])
    plain = result.output.strip()
    assert plain.startswith("gl_")
    row = db.session.scalar(select(ApiToken))
    assert row.token_hash == hash_token(plain) and plain not in row.token_hash
