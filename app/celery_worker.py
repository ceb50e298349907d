"""Entry point of the worker: `celery -A app.celery_worker worker --pool prefork --concurrency 1`.

Creates the Flask app (which reads the environment, as the web's wsgi.py does) and exposes its
Celery app as `celery`; connects the worker's lifecycle signals (model loading in each child,
recovery sweep, heartbeat). Nothing imports this module: it only serves the `celery` command.
"""

from app import create_app
from app.worker.signals import connect_signals

flask_app = create_app()
celery = flask_app.extensions["celery"]
connect_signals(flask_app)
