import pytest

from app import create_app
from app.extensions import db
from tests.factories import make_user


@pytest.fixture
def csrf_app(tmp_path):
    app = create_app({
        "TESTING": True,
        "WTF_CSRF_ENABLED": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'csrf.sqlite'}",
        "STORAGE_DIR": str(tmp_path / "storage"),
    })
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_form_post_without_token_is_rejected(csrf_app):
    user = make_user(email="csrf@example.org")
    client = csrf_app.test_client()
    response = client.post("/login", data={"email": user.email,
                                           "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert b"reload the page" in response.data


def test_form_post_with_token_is_accepted(csrf_app):
    user = make_user(email="csrf2@example.org")
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"email": user.email, "csrf_token": token,
                                           "password": "correct-horse-battery"})
    assert response.status_code == 302
