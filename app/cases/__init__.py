"""Cases: upload, list, result page, status, files."""

from flask import Blueprint

bp = Blueprint("cases", __name__)

from app.cases import routes
