"""The home page."""

from flask import Response, jsonify, render_template

from app.health import health
from app.main import bp


@bp.route("/")
def home() -> str:
    """Show what the tool does, a 3D brain to explore, and the way in."""
    return render_template("main/home.html")


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    """Answer the health report as JSON: 200 when the web tier can serve, 503 when it cannot."""
    report, status = health()
    return jsonify(report), status
