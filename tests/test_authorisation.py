"""Authorisation matrix generated from `app.url_map`: every route x every principal.

The expected statuses come from the one table `tests.routes.RULES`; a route without a rule (or a
rule without a route) fails `test_every_route_has_a_rule`, so a new route must be classified.
"""

from __future__ import annotations

import pytest

from tests.routes import (
    LOGIN,
    PRINCIPALS,
    RULES,
    api_client,
    is_api,
    make_cast,
    route_methods,
    send,
    url_for_route,
    web_client,
)


def test_every_route_has_a_rule(app):
    routes = set(route_methods(app))
    unclassified = sorted(routes - set(RULES))
    assert not unclassified, f"classify in tests/routes.py RULES: {unclassified}"
    stale = sorted(set(RULES) - routes)
    assert not stale, f"RULES names routes the app does not have: {stale}"


@pytest.mark.parametrize(
    ("endpoint", "method"), [pytest.param(*key, id="-".join(key)) for key in sorted(RULES)]
)
def test_route_answers_each_principal_as_its_rule_says(app, nifti_case, endpoint, method):
    rule = RULES[(endpoint, method)]
    url_rule = route_methods(app).get((endpoint, method))
    assert url_rule is not None, f"{endpoint} {method} is in RULES but not in the app"
    cast = make_cast(nifti_case)
    answers = {}
    for principal in PRINCIPALS:
        user = cast.user(principal)
        client = api_client(app, user) if is_api(endpoint) else web_client(app, user)
        world = cast.world()
        url = url_for_route(app, url_rule, world)
        data = rule.data(world) if rule.data else None
        response = send(client, url, method, data)
        expected = rule.expected(principal)
        if expected == LOGIN:
            location = response.headers.get("Location", "")
            answers[principal] = LOGIN if response.status_code == 302 and \
                location.startswith("/login") else (response.status_code, location)
        else:
            answers[principal] = response.status_code
    expected = {principal: rule.expected(principal) for principal in PRINCIPALS}
    assert answers == expected, f"{method} {url_rule.rule}"


API_WITH_TOKEN = sorted(key for key, rule in RULES.items()
                        if is_api(key[0]) and rule.anonymous == 401)


def test_api_routes_ignore_a_session_cookie(app, nifti_case):
    """A signed-in browser session is no API credential (the API has no CSRF protection)."""
    cast = make_cast(nifti_case)
    client = web_client(app, cast.owner)
    routes = route_methods(app)
    for endpoint, method in API_WITH_TOKEN:
        world = cast.world()
        rule = RULES[(endpoint, method)]
        url = url_for_route(app, routes[(endpoint, method)], world)
        response = send(client, url, method, rule.data(world) if rule.data else None)
        assert response.status_code == 401, f"{method} {url}"
