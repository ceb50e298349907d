"""Entry point of the worker: `celery -A app.worker worker --pool prefork --concurrency 1`.

Creates the Flask app and exposes its Celery app; importing this module connects the worker's
lifecycle signals (model loading in each child, recovery sweep, heartbeat).
"""

from app import create_app
from app.worker_lifecycle import connect_signals

flask_app = create_app()
celery = flask_app.extensions["celery"]
connect_signals(flask_app)
