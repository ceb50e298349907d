"""Configuration from environment variables, with safe defaults for the embedded mode.

Every variable is listed with one line of explanation in `.env.example`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

GIB = 1024**3
MAX_REMEMBER_ME_DAYS = 14


def load_or_create_secret_key(instance_path: str | os.PathLike[str]) -> str:
    """Return the secret key kept in the instance folder, creating it (mode 0600) on first use.

    A key generated here never leaves the machine and is never committed: the instance folder
    is git-ignored. Refuses nothing; raises OSError when the folder is not writable.
    """
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: when two processes start at once, the first writer wins and the second re-reads.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def parse_model_dirs(spec: str | None, subtype_dir: str | None = None) -> dict[str, str]:
    """Return {task: model folder} from ``"task=folder,task=folder"`` plus MODEL_DIR for subtype.

    Tasks not named here are served by the model folders found under MODELS_ROOT. ValueError
    for an entry without ``=``.
    """
    dirs: dict[str, str] = {}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        task, sep, folder = item.partition("=")
        if not sep or not task.strip() or not folder.strip():
            raise ValueError(f"MODEL_DIRS entry {item!r} is not task=folder")
        dirs[task.strip()] = folder.strip()
    if subtype_dir:
        dirs["subtype"] = subtype_dir
    return dirs


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings for one process, read from `environ` with defaults rooted in the instance folder."""

    def __init__(self, instance_path: str, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        instance = Path(instance_path)
        self.SECRET_KEY = env.get("SECRET_KEY") or load_or_create_secret_key(instance)
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL") or (
            f"sqlite:///{instance / 'gliomalens.sqlite'}"
        )
        self.STORAGE_DIR = env.get("STORAGE_DIR") or str(instance / "storage")
        self.MAX_CONTENT_LENGTH = int(env.get("MAX_UPLOAD_BYTES") or GIB)
        self.MODELS_ROOT = env.get("MODELS_ROOT") or str(
            Path(__file__).resolve().parent.parent / "models"
        )
        self.MODEL_DIRS = parse_model_dirs(env.get("MODEL_DIRS"), env.get("MODEL_DIR"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool(env.get("SESSION_COOKIE_SECURE"), False)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Sessions (app/auth/sessions.py): idle timeout, absolute lifetime, remember-me (0 = off).
        self.SESSION_IDLE_MINUTES = int(env.get("SESSION_IDLE_MINUTES") or 30)
        self.SESSION_LIFETIME_HOURS = int(env.get("SESSION_LIFETIME_HOURS") or 12)
        self.REMEMBER_ME_DAYS = min(
            int(env.get("REMEMBER_ME_DAYS") or MAX_REMEMBER_ME_DAYS), MAX_REMEMBER_ME_DAYS
        )
        self.REMEMBER_COOKIE_DURATION = timedelta(days=max(self.REMEMBER_ME_DAYS, 1))
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_REFRESH_EACH_REQUEST = False
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.SESSION_LIFETIME_HOURS)
        # Behind a reverse proxy: how many proxies to trust for X-Forwarded-For/-Proto (0 = none).
        self.TRUSTED_PROXY_COUNT = int(env.get("TRUSTED_PROXY_COUNT") or 0)
        self.HSTS_SECONDS = int(env.get("HSTS_SECONDS") or 31536000)
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO")
        # Worker limits (seconds): soft raises inside the task, hard kills the child process.
        self.TASK_SOFT_TIME_LIMIT = int(env.get("TASK_SOFT_TIME_LIMIT") or 300)
        self.TASK_HARD_TIME_LIMIT = int(env.get("TASK_HARD_TIME_LIMIT") or 360)
        # Seconds between a worker's recovery sweeps (and heartbeats); see app/worker/recovery.py.
        self.RECOVERY_SWEEP_SECONDS = float(env.get("RECOVERY_SWEEP_SECONDS") or 30)
        broker = env.get("CELERY_BROKER_URL") or f"sqla+sqlite:///{instance / 'broker.sqlite'}"
        self.CELERY = {
            "broker_url": broker,
            "task_ignore_result": True,
        }
        # Throttling (app/ratelimit.py): counters in Redis when given, else in the database.
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URL") or (
            broker if broker.startswith(("redis://", "rediss://")) else ""
        )
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LOGIN_LIMIT_ACCOUNT = env.get("LOGIN_LIMIT_ACCOUNT") or "5/minute;10/hour;30/day"
        self.LOGIN_LIMIT_ADDRESS = env.get("LOGIN_LIMIT_ADDRESS") or "20/minute;100/hour;300/day"
        self.API_TOKEN_LIMIT = env.get("API_TOKEN_LIMIT") or "20/minute;200/day"
        self.UPLOAD_LIMIT = env.get("UPLOAD_LIMIT") or "30/hour;200/day"

    def as_dict(self) -> dict[str, object]:
        """Return the settings as a plain dict of UPPER_CASE names, ready for `app.config`."""
        return {key: value for key, value in vars(self).items() if key.isupper()}


class TestConfig:
    """Overrides used by the test suite on top of `Config` (CSRF stays testable per test)."""

    TESTING = True
    WTF_CSRF_ENABLED = False
    SERVER_NAME = None
