"""Prism settings: one module, driven by environment variables (see README, "Configuration")."""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_optional_int,
    env_secret,
    env_secret_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PRISM_VAR_DIR", str(BASE_DIR / "var")))


def _local_secret(name: str, make) -> str:
    """Embedded default only: a secret generated once and kept in var/, so `make run` needs no setup."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _owner_only(path: Path) -> None:
    """The SQLite file holds everything (sessions, encrypted keys, canvases): readable by its owner only. It
    is created here, empty, with mode 0600; SQLite gives its -wal and -shm files the same mode."""
    if str(path) == ":memory:":
        return
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        path.chmod(0o600)  # made by an earlier version with the default mode


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _strong_secret_key(key: str) -> str:
    """Refuse, outside DEBUG, a signing key anyone could know or guess: a placeholder such as .env.example's,
    Django's insecure prefix, or a short or repetitive one (Django's own `check --deploy` rule)."""
    placeholder = any(word in key.lower() for word in ("change-me", "changeme", "replace", "placeholder", "secret-key"))
    weak = len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")
    if (placeholder or weak) and not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is a placeholder or too weak (it needs 50 or more random characters). Generate one with: "
            'python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    return key


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = _strong_secret_key(
    env_secret("SECRET_KEY") or _local_secret("secret.key", lambda: secrets.token_urlsafe(50))
)
# Keys that encrypt provider API keys at rest; newest first (MultiFernet). Separate from SECRET_KEY
# so that rotating one never makes the other unreadable.
PRISM_ENCRYPTION_KEYS = env_secret_list("PRISM_ENCRYPTION_KEYS") or [_local_secret("encryption.key", _fernet_key)]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

REDIS_URL = env_str("REDIS_URL")
DATABASE_URL = env_secret("DATABASE_URL")  # it holds the database password
# With Redis: Celery workers and the Redis channel layer. Without: everything runs in the web process.
EMBEDDED = not REDIS_URL
# Web processes uvicorn starts on the one port (it reads the variable itself); they share a burst
# through Redis and PostgreSQL. The embedded mode runs in one process (config/asgi.py refuses more).
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "axes",
    "accounts",
    "providers",
    "canvas",
    "engine",
    "evaluation",
    "usage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "canvas.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a sign-in refused for too many failures into the lockout page (axes settings below).
    "axes.middleware.AxesMiddleware",
    # Synchronous, and last on purpose: under Django's ASGI handler (the embedded mode) a synchronous
    # middleware innermost keeps the whole chain synchronous on one thread, where async-capable ones
    # would each run their hooks through sync_to_async, two hops to a thread and back per middleware.
    "canvas.middleware.PageErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.signup",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request may run on a thread of its own, so persistent per-thread
        # connections pile up; a pool bounds them (Django's advice for ASGI).
        DATABASES["default"]["OPTIONS"] = {
            "pool": {"min_size": 1, "max_size": env_int("PRISM_DB_POOL_SIZE", 10), "timeout": 30},
            # The statements config.sql writes out are prepared on their first run (config/sql_postgres.py);
            # the ORM's cursors bind on the client and never prepare, whatever this says.
            "prepare_threshold": 0,
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _SQLITE_PATH = Path(env_str("SQLITE_PATH", str(VAR_DIR / "prism.sqlite3")))
    _owner_only(_SQLITE_PATH)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_SQLITE_PATH),
            # Each of the web process's HTTP threads keeps its connection (opening one costs more than
            # most requests' queries).
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL and IMMEDIATE let the page read while a stream writes, without "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The leaderboard's cache (evaluation/cache.py): shared by every web process through Redis when there is
# one; the embedded mode has a single process, and Django's default in-process cache serves it.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "prism",
        }
    }

# Celery carries the periodic upkeep (beat's schedule below); prompts' runs go through engine.run_queue.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# An unacknowledged task (one a dead worker had reserved) comes back after the visibility timeout; a
# dead worker's runs are ended by the sweeper long before, so it finds its node claimed and does
# nothing. Run tasks are acknowledged when they start (engine/tasks.py says why), never rejected back.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# A Redis blip must not stop the streams a worker holds (Celery 6 would cancel them by default).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How often dead runs are looked for (by Celery beat, or by the web process in the embedded mode).
PRISM_SWEEP_INTERVAL_S = env_float("PRISM_SWEEP_INTERVAL_S", 15.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-runs": {"task": "engine.tasks.sweep_stale_runs", "schedule": PRISM_SWEEP_INTERVAL_S},
}
# How often the models a server lists (vLLM, an OpenAI-compatible OPENAI_BASE_URL) are imported again, so
# a server that starts after the app, or starts serving another model, is picked up; 0: only at start.
PRISM_MODEL_SYNC_S = env_float("PRISM_MODEL_SYNC_S", 60.0)
if PRISM_MODEL_SYNC_S > 0:
    CELERY_BEAT_SCHEDULE["sync-served-models"] = {
        "task": "providers.tasks.sync_served_models",
        "schedule": PRISM_MODEL_SYNC_S,
    }
# How often (seconds) each vLLM server's /health and /metrics are read into the database (providers/
# server_scrape.py), and how many hours of those samples are kept; 0: not read at all.
PRISM_SERVER_SCRAPE_S = env_float("PRISM_SERVER_SCRAPE_S", 15.0)
PRISM_SERVER_SAMPLES_HOURS = max(1, env_int("PRISM_SERVER_SAMPLES_HOURS", 24))
if PRISM_SERVER_SCRAPE_S > 0:
    CELERY_BEAT_SCHEDULE["scrape-servers"] = {
        "task": "providers.tasks.scrape_servers",
        "schedule": PRISM_SERVER_SCRAPE_S,
    }

# How often (seconds) canvases deleted over 30 days ago are deleted for good (Celery beat; in the embedded
# mode the web process); 0: never.
PRISM_PURGE_INTERVAL_S = env_float("PRISM_PURGE_INTERVAL_S", 3600.0)
if PRISM_PURGE_INTERVAL_S > 0:
    CELERY_BEAT_SCHEDULE["purge-deleted-canvases"] = {
        "task": "canvas.tasks.purge_deleted_canvases",
        "schedule": PRISM_PURGE_INTERVAL_S,
    }

# How often (seconds) the usage figures of the days that closed are rolled up (usage/rollups.py), so that a
# long period's report reads a row per day instead of every run; 0: never (reports stay exact, only slower).
PRISM_USAGE_ROLLUP_S = env_float("PRISM_USAGE_ROLLUP_S", 600.0)
if PRISM_USAGE_ROLLUP_S > 0:
    CELERY_BEAT_SCHEDULE["usage-rollups"] = {"task": "usage.tasks.build_rollups", "schedule": PRISM_USAGE_ROLLUP_S}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed sign-ins (pages and admin; the API takes tokens, never passwords) are counted per username and per
# address by django-axes: past the limit, that username, or that address, is refused until the cool-off ends.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("PRISM_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PRISM_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# How many reverse proxies stand in front of the app: the client's address is read through them.
PRISM_PROXY_COUNT = env_int("PRISM_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "accounts.client_ip.client_ip"
# Sign-up by anyone who finds the site; off (PRISM_SIGNUP=off, the compose default): an admin adds people.
PRISM_SIGNUP = env_bool("PRISM_SIGNUP", True)
# How long the mailed link that finishes a sign-up works.
PRISM_SIGNUP_LINK_MAX_AGE = timedelta(days=1)
# The first administrator, created by `manage.py ensure_admin` (the compose `migrate` service) if missing.
PRISM_ADMIN_USERNAME = env_str("PRISM_ADMIN_USERNAME")
PRISM_ADMIN_PASSWORD = env_secret("PRISM_ADMIN_PASSWORD")
PRISM_ADMIN_EMAIL = env_str("PRISM_ADMIN_EMAIL")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS behind a TLS-terminating proxy (docker compose turns these on): HSTS, a redirect of plain HTTP, and
# the header by which the proxy says the request came over HTTPS, e.g. "X-Forwarded-Proto" (its value
# must be "https"). Trust that header only behind a proxy that sets it, or a client could claim HTTPS.
SECURE_HSTS_SECONDS = env_int("PRISM_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PRISM_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("PRISM_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("PRISM_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the compose health check asks over plain HTTP
_PROXY_SSL_HEADER = env_str("PRISM_PROXY_SSL_HEADER")
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
# Asking browsers' preload lists to take the domain is the domain owner's decision, not a default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from static/ when collectstatic has not run (the embedded default, the tests).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(exist_ok=True)

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)

# Where the app reaches its own simulator (PRISM_SIMULATOR, at the end); `make run` sets it from $PORT.
PRISM_SIMULATOR_URL = env_str("PRISM_SIMULATOR_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}/simulator/v1")
PRISM_SYSTEM_PROMPT = env_str("PRISM_SYSTEM_PROMPT")

# Streaming relay: each process sends every stream's new text in one batch, at most once per
# PRISM_FLUSH_MS (under load batches coalesce on their own); partial text is written to the database
# every PRISM_PERSIST_MS, so a reload or a crash loses little.
PRISM_FLUSH_MS = env_int("PRISM_FLUSH_MS", 10)
# Threads a web process runs HTTP requests on (config/threaded_http.py). With PostgreSQL each holds a
# database connection while it serves a request, so keep it below PRISM_DB_POOL_SIZE.
PRISM_HTTP_THREADS = env_int("PRISM_HTTP_THREADS", 6)
# How much lower those threads' CPU priority (nice) is than the loop's that relays the tokens (0: the same).
PRISM_HTTP_NICE = env_int("PRISM_HTTP_NICE", 10)
PRISM_PERSIST_MS = env_int("PRISM_PERSIST_MS", 1000)
# A run whose heartbeat is older than this is taken for dead and marked interrupted by the sweeper.
PRISM_STALE_AFTER_S = env_float("PRISM_STALE_AFTER_S", 30.0)
PRISM_MAX_MODELS_PER_PROMPT = env_int("PRISM_MAX_MODELS_PER_PROMPT", 16)
# Limits checked before any provider is called: one user's runs at once, and a warning when a team
# has spent this share of its monthly budget.
PRISM_MAX_RUNS_PER_USER = env_int("PRISM_MAX_RUNS_PER_USER", 32)
# The most characters of one answer (its text and reasoning together) that are relayed and stored: a
# model that runs on past it is stopped there, and the answer ends with finish_reason "length".
PRISM_MAX_ANSWER_CHARS = env_int("PRISM_MAX_ANSWER_CHARS", 1_000_000)
PRISM_BUDGET_WARN_RATIO = env_float("PRISM_BUDGET_WARN_RATIO", 0.8)
# Per-person quotas (canvas/quotas.py): canvases made, non-personal teams owned, open invitations and
# active share links.
PRISM_MAX_CANVASES_PER_USER = env_int("PRISM_MAX_CANVASES_PER_USER", 1000)
PRISM_MAX_TEAMS_PER_USER = env_int("PRISM_MAX_TEAMS_PER_USER", 50)
PRISM_MAX_INVITES_PER_USER = env_int("PRISM_MAX_INVITES_PER_USER", 100)
PRISM_MAX_SHARE_LINKS_PER_USER = env_int("PRISM_MAX_SHARE_LINKS_PER_USER", 100)

# Mail (sign-up links, password resets): sent by SMTP when a host is set; else written as files to
# EMAIL_FILE_PATH when that is set; else printed to the console.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
elif EMAIL_FILE_PATH:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Prism <prism@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"url_secrets": {"()": "config.log_redaction.RedactUrlSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["url_secrets"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpcore", "httpx2", "httpcore2")},
}

# Providers configured by the environment (README, "Configuration"). A provider appears when its key
# or URL is set; base URLs are written as each provider's official SDK expects them. A provider's
# `max_concurrency` (streams to it at once, across all workers) is set only when its variable is.
PRISM_ENV_PROVIDERS = {
    "openai": {
        "api_key": env_secret("OPENAI_API_KEY"),
        "base_url": env_str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        "max_concurrency": env_optional_int("OPENAI_MAX_CONCURRENCY"),
    },
    "deepseek": {
        "api_key": env_secret("DEEPSEEK_API_KEY"),
        "base_url": env_str("DEEPSEEK_BASE_URL", "https://api.deepseek.com"),
        "max_concurrency": env_optional_int("DEEPSEEK_MAX_CONCURRENCY"),
    },
    "vllm": {
        "api_key": env_secret("VLLM_API_KEY"),
        "base_url": env_str("VLLM_BASE_URL"),
        "max_concurrency": env_optional_int("VLLM_MAX_CONCURRENCY"),
    },
    "anthropic": {
        "api_key": env_secret("ANTHROPIC_API_KEY"),
        "base_url": env_str("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
        "max_concurrency": env_optional_int("ANTHROPIC_MAX_CONCURRENCY"),
    },
    "gemini": {
        "api_key": env_secret("GEMINI_API_KEY"),
        "base_url": env_str("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
        "max_concurrency": env_optional_int("GEMINI_MAX_CONCURRENCY"),
    },
}

# The built-in simulator provider (served by this app under /simulator/ to signed-in people and to the app
# itself): on by default so that a fresh install works with no keys and no network, off by default in
# production (DEBUG off and a real provider configured) unless PRISM_SIMULATOR=on.
# A real provider is configured as providers/env_sync.py's _configured reads it: a key, or a server that lists
# its models (vLLM, or OpenAI's protocol at another address), which needs no key.
_REAL_PROVIDER = any(
    conf["api_key"] or (kind == "vllm" and conf["base_url"])
    or (kind == "openai" and conf["base_url"].rstrip("/") != "https://api.openai.com/v1")
    for kind, conf in PRISM_ENV_PROVIDERS.items()
)  # fmt: skip
PRISM_SIMULATOR = env_bool("PRISM_SIMULATOR", DEBUG or not _REAL_PROVIDER)
# The key the app calls its own simulator with: derived from SECRET_KEY, so the web process and every worker
# agree on it with no setup (sync_providers stores it, encrypted, on the simulator's provider account).
PRISM_SIMULATOR_KEY = "prism-sim-" + hmac.new(SECRET_KEY.encode(), b"prism.simulator", "sha256").hexdigest()
