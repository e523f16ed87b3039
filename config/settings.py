"""Prism settings: one module, driven by environment variables (see README, "Configuration")."""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from config.env import env_bool, env_float, env_int, env_list, env_secret, env_str

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


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY") or _local_secret("secret.key", lambda: secrets.token_urlsafe(50))
# Keys that encrypt provider API keys at rest; newest first (MultiFernet). Separate from SECRET_KEY
# so that rotating one never makes the other unreadable.
PRISM_ENCRYPTION_KEYS = env_list("PRISM_ENCRYPTION_KEYS") or [_local_secret("encryption.key", _fernet_key)]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

REDIS_URL = env_str("REDIS_URL")
DATABASE_URL = env_str("DATABASE_URL")
# With Redis: Celery workers and the Redis channel layer. Without: everything runs in the web process.
EMBEDDED = not REDIS_URL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "accounts",
    "providers",
    "canvas",
    "engine",
    "evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "canvas.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Synchronous, and last on purpose: under Django's ASGI handler (the embedded mode) a synchronous
    # middleware innermost keeps the whole chain synchronous on one thread, where async-capable ones
    # would each run their hooks through sync_to_async, two hops to a thread and back per middleware.
    "canvas.handlers.PageErrorMiddleware",
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
            "pool": {"min_size": 1, "max_size": env_int("PRISM_DB_POOL_SIZE", 10), "timeout": 30}
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "prism.sqlite3")),
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
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-runs": {"task": "engine.tasks.sweep_stale_runs", "schedule": 15.0},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

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

# The built-in simulator provider (served by this app under /simulator/) — on by default so that a
# fresh install works with no keys and no network.
PRISM_SIMULATOR = env_bool("PRISM_SIMULATOR", True)
# Where the app reaches its own simulator; `make run` sets it from $PORT.
PRISM_SIMULATOR_URL = env_str("PRISM_SIMULATOR_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}/simulator/v1")
PRISM_SYSTEM_PROMPT = env_str("PRISM_SYSTEM_PROMPT")

# Streaming relay: each process sends every stream's new text in one batch, at most once per
# PRISM_FLUSH_MS (under load batches coalesce on their own); partial text is written to the database
# every PRISM_PERSIST_MS, so a reload or a crash loses little.
PRISM_FLUSH_MS = env_int("PRISM_FLUSH_MS", 10)
# Threads a web process runs HTTP requests on (with PostgreSQL; config/threaded_http.py). Each holds a
# database connection while it serves a request, so keep it below PRISM_DB_POOL_SIZE.
PRISM_HTTP_THREADS = env_int("PRISM_HTTP_THREADS", 6)
PRISM_PERSIST_MS = env_int("PRISM_PERSIST_MS", 1000)
# A run whose heartbeat is older than this is taken for dead and marked interrupted by the sweeper.
PRISM_STALE_AFTER_S = env_float("PRISM_STALE_AFTER_S", 30.0)
PRISM_MAX_MODELS_PER_PROMPT = env_int("PRISM_MAX_MODELS_PER_PROMPT", 16)
# Limits checked before any provider is called: one user's runs at once, and a warning when a team
# has spent this share of its monthly budget.
PRISM_MAX_RUNS_PER_USER = env_int("PRISM_MAX_RUNS_PER_USER", 32)
PRISM_BUDGET_WARN_RATIO = env_float("PRISM_BUDGET_WARN_RATIO", 0.8)

# Mail (password resets, invitations): printed to the console unless an SMTP host is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Prism <prism@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpcore", "httpx2", "httpcore2")},
}

# Providers configured by the environment (README, "Configuration"). A provider appears when its key
# or URL is set; base URLs are written as each provider's official SDK expects them.
PRISM_ENV_PROVIDERS = {
    "openai": {
        "api_key": env_secret("OPENAI_API_KEY"),
        "base_url": env_str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    },
    "deepseek": {
        "api_key": env_secret("DEEPSEEK_API_KEY"),
        "base_url": env_str("DEEPSEEK_BASE_URL", "https://api.deepseek.com"),
    },
    "vllm": {"api_key": env_secret("VLLM_API_KEY"), "base_url": env_str("VLLM_BASE_URL")},
    "anthropic": {
        "api_key": env_secret("ANTHROPIC_API_KEY"),
        "base_url": env_str("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    },
    "gemini": {
        "api_key": env_secret("GEMINI_API_KEY"),
        "base_url": env_str("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
    },
}
