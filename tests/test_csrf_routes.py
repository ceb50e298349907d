"""CSRF refusal for every form route, generated from `app.url_map` (CSRF protection on).

Every state-changing method of the non-API blueprints is posted twice by a principal its rule
allows: without a token it must get the CSRF refusal (not the view's own 400), with a token the
status its rule in `tests.routes.RULES` gives.
"""

from __future__ import annotations

import pytest

from tests.routes import (
    LOGIN,
    RULES,
    csrf_token,
    is_api,
    make_cast,
    route_methods,
    url_for_route,
    web_client,
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_REFUSAL = "The form expired or was sent from elsewhere"
FORM_ROUTES = sorted(key for key in RULES if key[1] in UNSAFE and not is_api(key[0]))


def _allowed_principal(endpoint: str, method: str) -> str:
    rule = RULES[(endpoint, method)]
    for principal in ("anonymous", "owner", "admin"):
        if rule.expected(principal) not in (LOGIN, 401, 404):
            return principal
    raise AssertionError(f"no principal may call {endpoint} {method}")


def test_form_routes_are_every_unsafe_route_outside_the_api(csrf_app):
    unsafe = {key for key in route_methods(csrf_app) if key[1] in UNSAFE and not is_api(key[0])}
    assert unsafe == set(FORM_ROUTES)


@pytest.mark.parametrize(
    ("endpoint", "method"), [pytest.param(*key, id="-".join(key)) for key in FORM_ROUTES]
)
def test_form_route_refuses_a_request_without_csrf_token(csrf_app, nifti_case, endpoint,
                                                         method):
    rule = RULES[(endpoint, method)]
    url_rule = route_methods(csrf_app)[(endpoint, method)]
    principal = _allowed_principal(endpoint, method)
    cast = make_cast(nifti_case)
    client = web_client(csrf_app, cast.user(principal), csrf=True)

    world = cast.world()
    url = url_for_route(csrf_app, url_rule, world)
    refused = client.open(url, method=method, data=rule.data(world) if rule.data else None)
    assert refused.status_code == 400, f"{method} {url_rule.rule} without a CSRF token"
    assert CSRF_REFUSAL in refused.get_data(as_text=True)

    page = "/login" if principal == "anonymous" else "/account"
    token = csrf_token(client.get(page).get_data(as_text=True))
    world = cast.world()
    url = url_for_route(csrf_app, url_rule, world)
    data = {**(rule.data(world) if rule.data else {}), "csrf_token": token}
    accepted = client.open(url, method=method, data=data)
    assert accepted.status_code == rule.expected(principal), f"{method} {url_rule.rule}"
