"""Public pages: the home page with the 3D brain."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from app.main import routes
