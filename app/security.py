"""HTTP security headers for every response."""

from __future__ import annotations

from flask import Response, request, session

# Blueprints whose every answer may show patient data or secrets (case pages, scans, artefacts,
# status, the account page with a new API token, the admin pages).
PRIVATE_BLUEPRINTS = frozenset({"cases", "auth", "admin", "api"})

# NiiVue compiles WebGL shaders and may create blob: workers; it needs no eval and no inline code.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self' blob: data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def add_security_headers(response: Response) -> Response:
    """Return `response` with CSP, no-sniff, frame and referrer headers set."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def add_no_store(response: Response) -> Response:
    """Return `response` marked `Cache-Control: no-store` when it may carry patient data.

    That is every answer of the private blueprints and every answer to a signed-in user, files
    included (send_file's own "no-cache" would still let a browser or proxy keep a copy).
    """
    if request.endpoint == "static":
        return response
    # The session, not current_user: this must not query the database (it may be the failure).
    if request.blueprint in PRIVATE_BLUEPRINTS or "_user_id" in session:
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
        response.headers.pop("ETag", None)
        response.headers.pop("Last-Modified", None)
    return response
