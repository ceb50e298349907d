"""HTTP security headers for every response."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, current_app, request, session

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


def add_hsts(response: Response) -> Response:
    """Over HTTPS, return `response` with Strict-Transport-Security (HSTS_SECONDS, 0 = off).

    HTTPS is what the request says after ProxyFix (X-Forwarded-Proto from a trusted proxy), so
    the same deployment works on plain loopback HTTP and behind a TLS-terminating proxy.
    """
    seconds = int(current_app.config.get("HSTS_SECONDS") or 0)
    if request.is_secure and seconds:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={seconds}")
    return response


class SecureCookiesOverHttps:
    """WSGI middleware: over HTTPS, mark every cookie `Secure` (session, remember, CSRF...).

    At the WSGI level because Flask writes the session cookie, and Flask-Login the remember
    cookie, after the app's own after-request hooks have run.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        """Wrap the WSGI callable `app`."""
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Run the app; over https, add `; Secure` to each Set-Cookie header lacking it."""
        if environ.get("wsgi.url_scheme") != "https":
            return self.app(environ, start_response)

        def secure_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            fixed = [
                (name, _secure(value)) if name.lower() == "set-cookie" else (name, value)
                for name, value in headers
            ]
            return start_response(status, fixed, *args)

        return self.app(environ, secure_start_response)


def _secure(cookie: str) -> str:
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    return cookie if "secure" in attributes else f"{cookie}; Secure"
