"""The worker side of GliomaLens: Celery app, analyse task, signals, recovery, case state machine.

Modules:
- `celery_app`: `celery_init_app(app)` and the Celery settings built from the Flask config;
- `queueing`: `enqueue_case(case)`, used by the web tier and the recovery sweep;
- `state`: the case state machine (claim, progress, finish, fail, requeue) and the attempt cap;
- `tasks`: the `analyse_case` task;
- `inference`: the one place that loads the models and calls the analysis;
- `signals`: model loading in each pool child, recovery sweep thread, heartbeat;
- `recovery`: the recovery sweep;
- `registry`: the table of workers shown on the admin health page.

Nothing here imports the app factory or any blueprint: the `celery -A app.celery_worker worker`
entry module (app/celery_worker.py) creates the Flask app and hands it to `signals`.
"""
