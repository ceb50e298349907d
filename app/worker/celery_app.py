"""The Celery app, built from the Flask app's config the way Flask's documentation shows.

The broker only carries case ids; the database is the source of truth for a case's state.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

ANALYSE_TASK = "gliomalens.analyse_case"
RECOVER_TASK = "gliomalens.recover_cases"
INFERENCE_QUEUE = "inference"


def celery_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return Celery settings for the Flask `config`: reliability first, then the broker's options.

    Redis: a message a worker took is redelivered only after `visibility_timeout`; it must exceed
    the hard time limit, or a long but healthy case would be handed to a second worker.
    """
    hard = int(config["TASK_HARD_TIME_LIMIT"])
    soft = int(config["TASK_SOFT_TIME_LIMIT"])
    settings: dict[str, Any] = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": soft,
        "task_time_limit": hard,
        "task_default_queue": INFERENCE_QUEUE,
        "task_routes": {ANALYSE_TASK: {"queue": INFERENCE_QUEUE}},
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        # Publishing from the web must fail fast when the broker is down (see queueing.py).
        "broker_connection_timeout": 3,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        # The model loads in each child after the fork; give it time before the parent gives up.
        "worker_proc_alive_timeout": 120,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "include": ["app.worker.tasks"],
    }
    settings.update(config.get("CELERY", {}))
    broker = str(settings.get("broker_url", ""))
    options = dict(settings.get("broker_transport_options", {}))
    if broker.startswith(("redis://", "rediss://")):
        options.setdefault("visibility_timeout", hard * 2 + 60)
    # The SQLite (sqla+) transport polls every second (kombu's default). Its `polling_interval`
    # cannot be changed: that transport hands every transport option to create_engine().
    settings["broker_transport_options"] = options
    return settings


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app`, store it in `app.extensions["celery"]` and return it.

    Every task runs inside `app.app_context()`; nothing connects to the broker here.
    """

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = celery_config(app.config)
    include = settings.pop("include")
    celery_app = Celery(app.name, task_cls=FlaskTask, include=include)
    celery_app.config_from_object(settings)
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
