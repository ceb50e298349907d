"""Route-generated test helpers: every route of `app.url_map`, the objects its URL names, the
principals who call it, and the ONE table of who gets what (`RULES`).

A rule is keyed by `(endpoint, method)` and gives the status each principal gets:

- `anonymous`: no session, no token;
- `other`: a clinician who does not own the object in the URL;
- `owner`: the clinician who owns it (the case, the token); on routes without an object,
  simply a signed-in clinician (a non-admin);
- `admin`: an administrator who does not own it.

`LOGIN` stands for "302 to the login page". API routes (blueprint `api`) are called with each
principal's bearer token instead of a session. `data` builds the request body for the principal's
fresh `World` (a valid one, so that allowed calls succeed with `ok`).

Adding a route: add its `(endpoint, method)` to `RULES` with one of the helpers below
(`public`, `signed_in`, `owned`, `admin_only`, `api_signed_in`, `api_owned`) or a `Rule(...)`;
a URL argument not yet known gets its value in `World.url_values` (by endpoint where it differs).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule as UrlRule

from app.cases.uploads import UploadedFile, store_upload
from app.extensions import db
from app.models import ApiToken, Case, User
from app.pipeline.io.naming import SEQUENCES
from tests.factories import DEFAULT_PASSWORD, make_prediction, make_user, write_artefacts

LOGIN = "login"
"""Expected outcome: a 302 redirect to the login page (a web route, no session)."""

PRINCIPALS = ("anonymous", "other", "owner", "admin")
NEW_PASSWORD = "a-fresh-and-long-passphrase-42"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass
class World:
    """The objects one principal's request works on (fresh for each principal)."""

    owner: User
    other: User
    admin: User
    case: Case
    token_id: int
    target: User
    nifti: dict[str, Path]

    def url_values(self, endpoint: str) -> dict[str, Any]:
        """Return a value for every URL argument a route may name (unused ones are ignored)."""
        return {
            "case_id": self.case.id,
            "sequence": SEQUENCES[0],
            "name": "montage.png",
            "user_id": self.target.id,
            "token_id": self.token_id,
            "filename": "css/app.css",
        }


def upload_form(world: World) -> dict[str, Any]:
    """Return a valid multipart body with the four sequences (web form and API alike)."""
    return {seq: (io.BytesIO(path.read_bytes()), path.name) for seq, path in world.nifti.items()}


@dataclass(frozen=True)
class Rule:
    """The status each principal gets, and how to build a valid request body."""

    anonymous: int | str
    other: int | str
    owner: int | str
    admin: int | str
    data: Callable[[World], dict[str, Any] | str] | None = field(default=None, compare=False)

    def expected(self, principal: str) -> int | str:
        """Return the expected status (or LOGIN) for `principal`."""
        return getattr(self, principal)


def public(ok: int, data: Callable[[World], dict[str, Any]] | None = None) -> Rule:
    """Anyone, signed in or not, gets `ok`."""
    return Rule(ok, ok, ok, ok, data)


def signed_in(ok: int, data: Callable[[World], dict[str, Any]] | None = None) -> Rule:
    """Any signed-in user gets `ok`; anonymous callers go to the login page."""
    return Rule(LOGIN, ok, ok, ok, data)


def owned(ok: int, data: Callable[[World], dict[str, Any]] | None = None) -> Rule:
    """The owner and admins get `ok`; another user 404 (no existence leak)."""
    return Rule(LOGIN, 404, ok, ok, data)


def admin_only(ok: int, data: Callable[[World], dict[str, Any]] | None = None) -> Rule:
    """Admins get `ok`; every non-admin 404."""
    return Rule(LOGIN, 404, 404, ok, data)


def api_signed_in(ok: int, data: Callable[[World], dict[str, Any]] | None = None) -> Rule:
    """Any valid token gets `ok`; no token 401."""
    return Rule(401, ok, ok, ok, data)


def api_owned(ok: int, data: Callable[[World], dict[str, Any]] | None = None) -> Rule:
    """The owner's and admins' tokens get `ok`; another user's 404; no token 401."""
    return Rule(401, 404, ok, ok, data)


def send(client: Any, url: str, method: str, data: dict[str, Any] | str | None) -> Any:
    """Send one request: a str body is JSON (API actions), a dict a form / multipart body."""
    if isinstance(data, str):
        return client.open(url, method=method, data=data, content_type="application/json")
    return client.open(url, method=method, data=data)


RULES: dict[tuple[str, str], Rule] = {
    ("main.home", "GET"): public(200),
    ("main.healthz", "GET"): public(200),
    ("static", "GET"): public(200),
    # The login page sends signed-in users on to the upload page.
    ("auth.login", "GET"): Rule(200, 302, 302, 302),
    ("auth.login", "POST"): public(302, lambda w: {"email": w.target.email,
                                                   "password": DEFAULT_PASSWORD}),
    ("auth.logout", "POST"): signed_in(302),
    ("auth.account", "GET"): signed_in(200),
    ("auth.account", "POST"): signed_in(200, lambda w: {"name": "matrix"}),
    ("auth.change_password", "POST"): signed_in(302, lambda w: {
        "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD}),
    # Only the token's owner may revoke it: an admin is "another user" here.
    ("auth.revoke_token", "POST"): Rule(LOGIN, 404, 302, 404),
    ("cases.index", "GET"): signed_in(200),
    ("cases.upload", "GET"): signed_in(200),
    ("cases.upload", "POST"): signed_in(302, upload_form),
    ("cases.result", "GET"): owned(200),
    ("cases.status", "GET"): owned(200),
    ("cases.artefact", "GET"): owned(200),
    ("cases.scan", "GET"): owned(200),
    ("cases.rerun", "POST"): owned(302),
    ("cases.delete", "POST"): owned(302),
    # The world's case is done, not waiting for a review: the page says so and goes back (302).
    ("cases.report", "GET"): owned(200),
    ("cases.sequences_reassign", "POST"): owned(302),
    ("cases.sequences_confirm", "POST"): owned(302),
    ("admin.users", "GET"): admin_only(200),
    ("admin.users", "POST"): admin_only(302, lambda w: {
        "email": "created@example.org", "password": NEW_PASSWORD, "role": "clinician"}),
    ("admin.toggle_active", "POST"): admin_only(302),
    ("admin.reset_password", "POST"): admin_only(302, lambda w: {"password": NEW_PASSWORD}),
    ("admin.set_role", "POST"): admin_only(302, lambda w: {"role": "admin"}),
    ("admin.workers", "GET"): admin_only(200),
    ("admin.audit_log", "GET"): admin_only(200),
    ("admin.audit_csv", "GET"): admin_only(200),
    ("api.openapi", "GET"): public(200),
    ("api.list_cases", "GET"): api_signed_in(200),
    ("api.create_case", "POST"): api_signed_in(201, upload_form),
    ("api.get_case", "GET"): api_owned(200),
    ("api.remove_case", "DELETE"): api_owned(204),
    ("api.case_report", "GET"): api_owned(200),
    # Not waiting for a review: 409 for those who may see the case.
    ("api.answer_sequence_review", "POST"): api_owned(409, lambda w: '{"action": "confirm"}'),
    ("api.case_file", "GET"): api_owned(200),
}


def route_methods(app: Flask) -> dict[tuple[str, str], UrlRule]:
    """Return every `(endpoint, method)` the app answers (HEAD and OPTIONS aside) with its rule."""
    routes = {}
    for url_rule in app.url_map.iter_rules():
        for method in sorted((url_rule.methods or set()) - IGNORED_METHODS):
            routes[(url_rule.endpoint, method)] = url_rule
    return routes


def is_api(endpoint: str) -> bool:
    """Return True for endpoints of the token-authenticated API blueprint."""
    return endpoint.split(".", 1)[0] == "api"


@dataclass
class Cast:
    """The users of one test: the owner, another clinician, an admin; their clients."""

    owner: User
    other: User
    admin: User
    nifti: dict[str, Path]
    web: dict[str, FlaskClient] = field(default_factory=dict)

    def world(self) -> World:
        """Return fresh objects for one request: a finished case of the owner with its scans
        and artefacts, a token of the owner, and a target account for admin actions."""
        files = {seq: UploadedFile(path.name, io.BytesIO(path.read_bytes()))
                 for seq, path in self.nifti.items()}
        case = store_upload(files, self.owner.id)
        db.session.commit()
        make_prediction(case)
        write_artefacts(case)
        row, _plain = ApiToken.issue(self.owner.id, "matrix")
        db.session.add(row)
        db.session.commit()
        return World(owner=self.owner, other=self.other, admin=self.admin, case=case,
                     token_id=row.id, target=make_user(), nifti=self.nifti)

    def user(self, principal: str) -> User | None:
        """Return the user acting as `principal` (None when anonymous)."""
        return None if principal == "anonymous" else getattr(self, principal)


def make_cast(nifti: dict[str, Path]) -> Cast:
    """Create the owner, another clinician and an admin."""
    return Cast(owner=make_user(), other=make_user(), admin=make_user(role="admin"), nifti=nifti)


def web_client(app: Flask, user: User | None, csrf: bool = False) -> FlaskClient:
    """Return a client with a session of `user` (signed in through the login form), or none.

    With `csrf`, the login form's token is read from the page first (CSRF protection on).
    """
    client = app.test_client()
    if user is None:
        return client
    data = {"email": user.email, "password": DEFAULT_PASSWORD}
    if csrf:
        data["csrf_token"] = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf_token(page: str) -> str:
    """Return the CSRF token of the first form of `page`."""
    return page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def api_client(app: Flask, user: User | None) -> FlaskClient:
    """Return a cookie-less client sending a fresh bearer token of `user` (none if anonymous)."""
    client = app.test_client(use_cookies=False)
    if user is not None:
        row, plain = ApiToken.issue(user.id, "matrix-client")
        db.session.add(row)
        db.session.commit()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {plain}"
    return client


def url_for_route(app: Flask, url_rule: UrlRule, world: World) -> str:
    """Return the URL of `url_rule` with the world's objects filled in."""
    values = {k: v for k, v in world.url_values(url_rule.endpoint).items()
              if k in url_rule.arguments}
    with app.test_request_context():
        from flask import url_for

        return url_for(url_rule.endpoint, **values)
