"""GliomaLens: the Flask application factory.

The web tier never imports TensorFlow: the models run in the Celery worker (app/worker/).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | type | None = None) -> Flask:
    """Return a configured Flask app: settings from the environment, then `config` on top.

    `config` may be a mapping or a class with UPPER_CASE attributes (e.g. `TestConfig`);
    `INSTANCE_PATH` in it (or the INSTANCE_PATH environment variable) moves the instance folder.
    """
    overrides = _as_mapping(config)
    instance_path = overrides.get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path or ROOT / "instance").resolve()),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from app.config import Config

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(Config(app.instance_path).as_dict())
    app.config.update(overrides)
    Path(app.config["STORAGE_DIR"]).mkdir(parents=True, exist_ok=True)

    configure_logging(app)
    configure_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_rate_limits(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_commands(app)
    register_celery(app)
    return app


def _as_mapping(config: Mapping[str, Any] | type | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    return {key: getattr(config, key) for key in dir(config) if key.isupper()}


def configure_logging(app: Flask) -> None:
    """Log to stderr at LOG_LEVEL with timestamps; gunicorn and Celery collect stderr."""
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.logger.setLevel(level)
    # Alembic announces its plugins at INFO on every start; keep the console for our messages.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    """Bind db, migrate, login manager and CSRF protection to the app."""
    from app.auth.sessions import init_sessions
    from app.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    init_sessions(app)


def register_blueprints(app: Flask) -> None:
    """Mount one blueprint per domain (the API through flask-smorest, which documents it)."""
    from app.admin import bp as admin_bp
    from app.api.document import register_api
    from app.auth import bp as auth_bp
    from app.cases import bp as cases_bp
    from app.errors import bp as errors_bp
    from app.main import bp as main_bp
    from app.routing import CaseIdConverter

    app.url_map.converters["case_id"] = CaseIdConverter
    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    register_api(app)
    app.register_blueprint(errors_bp)


def configure_proxy(app: Flask) -> None:
    """Mark cookies Secure over HTTPS; behind TRUSTED_PROXY_COUNT proxies, trust their headers.

    Only then are X-Forwarded-For / X-Forwarded-Proto honoured (a client could forge them).
    """
    from app.security import SecureCookiesOverHttps

    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)
    count = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def register_rate_limits(app: Flask) -> None:
    """Throttle failed logins, failed API token checks and uploads (app/ratelimit.py)."""
    from app.ratelimit import register_limits

    register_limits(app)


def register_errorhandlers(app: Flask) -> None:
    """Answer errors in kind: JSON for API and fetch requests, an HTML page otherwise."""
    from app.errors.handlers import register

    register(app)


def register_security_headers(app: Flask) -> None:
    """Set a strict CSP and related headers; no-store on every answer carrying patient data."""
    from app.security import add_hsts, add_no_store, add_security_headers

    app.after_request(add_security_headers)
    app.after_request(add_no_store)
    app.after_request(add_hsts)


def register_commands(app: Flask) -> None:
    """Add the CLI groups (`flask users ...`, `flask model ...`, `flask phantoms`, ...)."""
    from app.commands import register

    register(app)


def register_celery(app: Flask) -> None:
    """Create the Celery app bound to this Flask app (no broker connection is opened here)."""
    from app.worker.celery_app import celery_init_app

    celery_init_app(app)
