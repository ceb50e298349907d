"""REST API v1: token-authenticated JSON endpoints (no cookies, no CSRF)."""

from flask import Blueprint

from app.extensions import csrf

bp = Blueprint("api", __name__)
# Clients authenticate with a bearer token, never a cookie, so cross-site forgery cannot ride on
# a browser session: CSRF tokens would only get in the way of scripts.
csrf.exempt(bp)

from app.api import routes  # noqa: E402,F401
