"""REST API v1: token-authenticated JSON endpoints (no cookies, no CSRF), described by OpenAPI.

Routes are declared on a flask-smorest blueprint with marshmallow schemas; the OpenAPI document
is generated from them (app/api/document.py).
"""

from app.api.document import ApiBlueprint
from app.extensions import csrf

bp = ApiBlueprint("api", __name__, description="Upload cases, poll them, fetch their results.")
# Clients authenticate with a bearer token, never a cookie, so cross-site forgery cannot ride on
# a browser session: CSRF tokens would only get in the way of scripts.
csrf.exempt(bp)

from app.api import routes
