
from tests.factories import make_user


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
