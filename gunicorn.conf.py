"""gunicorn settings; every value can be overridden with GUNICORN_* environment variables."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# With gthread, `timeout` is the worker heartbeat (a process silent this long is restarted), not
# a per-request limit, and gunicorn has no limit on how slowly a client may send a request: one
# that sends a byte a second holds a thread for as long as it likes (docs/benchmarks.md, "Slow
# clients"). In deployment nginx reads each request whole first and drops stalled clients
# (docs/deploy/nginx.conf); keep gunicorn bound to 127.0.0.1 or a private network behind it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Idle kept-alive connections are closed after this; nginx's upstream keepalive_timeout (4 s) is
# shorter, so nginx never reuses a connection that gunicorn is closing.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Request line and headers stay small (gunicorn's defaults, stated): a 400 beyond them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Each worker builds its own app: no connection or file handle is shared across the fork.
preload_app = False
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
