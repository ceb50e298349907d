#!/usr/bin/env bash
# Run GliomaLens on one machine: gunicorn (web) + one Celery worker, stopped together by Ctrl-C.
# Called by `make run` after setup (venv, static files, database migrations).
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
VENV=.venv

# First run: an administrator with a random password, printed once.
"$VENV/bin/flask" users ensure-admin

"$VENV/bin/celery" -A app.celery_worker worker --pool prefork --concurrency 1 -Q inference \
  --loglevel "${LOG_LEVEL:-INFO}" -n "worker1@%h" &
worker_pid=$!
"$VENV/bin/gunicorn" -c gunicorn.conf.py wsgi:app &
web_pid=$!

stop() {
  trap - INT TERM EXIT
  echo "Stopping web (pid $web_pid) and worker (pid $worker_pid)..."
  kill -TERM "$web_pid" "$worker_pid" 2>/dev/null || true
  wait "$web_pid" "$worker_pid" 2>/dev/null || true
}
trap stop INT TERM EXIT

echo "GliomaLens is starting on http://${GUNICORN_BIND:-127.0.0.1:8000}  (Ctrl-C stops web and worker)"
# If either process exits, stop the other one too.
wait -n "$web_pid" "$worker_pid"
