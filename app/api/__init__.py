"""REST API v1: token-authenticated JSON endpoints (no cookies, no CSRF)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import routes  # noqa: E402,F401
