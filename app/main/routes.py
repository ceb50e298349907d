"""The home page."""

from flask import render_template

from app.main import bp


@bp.route("/")
def home() -> str:
    """Show what the tool does, a 3D brain to explore, and the way in."""
    return render_template("main/home.html")
