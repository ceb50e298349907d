"""Error pages and JSON error answers."""

from flask import Blueprint

bp = Blueprint("errors", __name__)
