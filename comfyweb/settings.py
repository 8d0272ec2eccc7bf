"""Settings: everything a deployment changes comes from the environment (SPEC §6)."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from comfyweb.env import env_bool, env_choice, env_float, env_int, env_json, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("COMFYWEB_DATA_DIR", str(BASE_DIR / "var"))).resolve()
try:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
except OSError as error:
    raise ImproperlyConfigured(f"COMFYWEB_DATA_DIR {DATA_DIR} cannot be created: {error}") from error

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS") or ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jobs.web.access.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "comfyweb.urls"
ASGI_APPLICATION = "comfyweb.asgi.application"

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

# SQLite in the data dir by default; DATABASE_URL (dj-database-url) selects PostgreSQL.
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    try:
        # Connections are kept (and checked before reuse): each process does its database work
        # on one shared thread (comfyweb.http_handler), and a new PostgreSQL connection per
        # call would cost more than the call.
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL,
                conn_max_age=env_int("COMFYWEB_DB_CONN_MAX_AGE", 600),
                conn_health_checks=True,
            )
        }
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("COMFYWEB_SQLITE_PATH", str(DATA_DIR / "comfyweb.sqlite3")),
            # Keep each thread's connection: opening one (and its PRAGMAs) cost more than most
            # of the queries a request or a relay step makes.
            "CONN_MAX_AGE": None,
            # Several threads and processes write: wait for the lock instead of failing,
            # and take the write lock at BEGIN so read-then-write transactions cannot deadlock.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # One per test process, so two test runs at once never share a file.
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"comfyweb-test-{os.getpid()}.sqlite3")},
        }
    }

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # The pub/sub layer: the list-based RedisChannelLayer shares one capacity of 100 messages
    # per process and drops silently past it, while pub/sub carried 2,000 messages/s here.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_keepalive": True}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
# English and Simplified Chinese; chosen from the browser's Accept-Language, or the switch.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"

# Uploads and results are private: no MEDIA_URL, files are served by views that check ownership.
# COMFYWEB_STORAGE_BACKEND / COMFYWEB_STORAGE_OPTIONS (JSON) select another Django storage, for
# example a shared volume or an object store, so that several machines see the same files.
COMFYWEB_FILES_DIR = DATA_DIR / "files"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "comfyweb": {
        "BACKEND": env_str("COMFYWEB_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env_json(
            "COMFYWEB_STORAGE_OPTIONS",
            {"location": str(COMFYWEB_FILES_DIR), "base_url": None, "allow_overwrite": True},
        ),
    },
}

SESSION_COOKIE_AGE = 60 * 60 * 24 * 30
# Django's database sessions, read in plain SQL (every request of a job reads its session).
SESSION_ENGINE = "jobs.web.sessions"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "index"
LOGOUT_REDIRECT_URL = "login"
# Password reset mails: Django's mail settings; on the console unless EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "comfyweb@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
SESSION_SAVE_EVERY_REQUEST = False

COMFYUI_SERVERS = env_list("COMFYUI_SERVERS")
COMFYWEB_FAILOVER_AFTER = env_float("COMFYWEB_FAILOVER_AFTER", 30.0)
COMFYWEB_TAB_GRACE = env_float("COMFYWEB_TAB_GRACE", 300.0)
COMFYWEB_MAX_ACTIVE_PER_TAB = env_int("COMFYWEB_MAX_ACTIVE_PER_TAB", 8, minimum=1)
COMFYWEB_MAX_ACTIVE_PER_SESSION = env_int("COMFYWEB_MAX_ACTIVE_PER_SESSION", 32, minimum=1)
# Who may use the app (issue U, SPEC §6): "open" (no sign-in; each browser session owns its
# jobs) or "accounts" (every page, API call and socket needs a signed-in person, who owns
# the jobs on every device).
COMFYWEB_ACCESS = env_choice("COMFYWEB_ACCESS", "open", ("open", "accounts"))
# Sign-up in accounts mode: by staff invitation only, or open to anyone (optionally only
# e-mail addresses in COMFYWEB_SIGNUP_DOMAINS, comma-separated).
COMFYWEB_OPEN_SIGNUP = env_bool("COMFYWEB_OPEN_SIGNUP", False)
COMFYWEB_SIGNUP_DOMAINS = [d.lower().lstrip("@") for d in env_list("COMFYWEB_SIGNUP_DOMAINS")]
# Webhooks (issue T): networks a callback may reach although not public (CIDRs, comma-
# separated; e.g. 127.0.0.1/32 for a receiver on this machine), and for how long after a job
# ended a failing call is tried again.
COMFYWEB_WEBHOOK_ALLOW = env_list("COMFYWEB_WEBHOOK_ALLOW")
for _network in COMFYWEB_WEBHOOK_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"COMFYWEB_WEBHOOK_ALLOW: {_network!r} is not a network (CIDR)") from None
COMFYWEB_WEBHOOK_RETRY_FOR = env_float("COMFYWEB_WEBHOOK_RETRY_FOR", 3600.0)
# Days an invitation link stays valid.
COMFYWEB_INVITATION_DAYS = env_int("COMFYWEB_INVITATION_DAYS", 14, minimum=1)
COMFYWEB_MAX_UPLOAD_BYTES = env_int("COMFYWEB_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1)
COMFYWEB_MAX_UPLOAD_PIXELS = env_int("COMFYWEB_MAX_UPLOAD_PIXELS", 40_000_000, minimum=1)
# Prefer servers where a job's models are warm (issue W); off: the least outstanding work
# among capable servers (the benchmark's comparison).
COMFYWEB_WARM_PLACEMENT = env_bool("COMFYWEB_WARM_PLACEMENT", True)
# Seconds a job's model must be waited for before a server loads it for the job (a burst of
# submissions is seen whole); a job whose model is warm on a server with room goes at once.
COMFYWEB_PLACEMENT_SETTLE = env_float("COMFYWEB_PLACEMENT_SETTLE", 0.1)
# Longest video or sound accepted as an input, in seconds.
COMFYWEB_MAX_UPLOAD_SECONDS = env_float("COMFYWEB_MAX_UPLOAD_SECONDS", 600.0)
# Largest result file kept from a server (streamed to storage; a larger one fails its job).
COMFYWEB_MAX_OUTPUT_BYTES = env_int("COMFYWEB_MAX_OUTPUT_BYTES", 2 * 1024 * 1024 * 1024, minimum=1)
COMFYWEB_MAX_ATTEMPTS = env_int("COMFYWEB_MAX_ATTEMPTS", 3, minimum=1)
# Seconds a job may wait while no server is reachable before it fails (0: it waits for ever).
COMFYWEB_FAIL_WAITING_AFTER = env_float("COMFYWEB_FAIL_WAITING_AFTER", 0.0)
# Seconds between re-reads of each server's /object_info (node classes, model files), beside
# every connect and an operator's refresh: models get copied onto running servers.
COMFYWEB_INVENTORY_EVERY = env_float("COMFYWEB_INVENTORY_EVERY", 300.0)
COMFYWEB_METRICS_TOKEN = env_str("COMFYWEB_METRICS_TOKEN", "")
# How often the relay looks for pending jobs and checks on servers, in seconds.
COMFYWEB_RELAY_POLL = env_float("COMFYWEB_RELAY_POLL", 1.0)
# How long a relay's claim on a server lasts without renewal; another relay takes the server
# over within this time when one dies.
COMFYWEB_RELAY_LEASE = env_float("COMFYWEB_RELAY_LEASE", 10.0, minimum=1.0)

# The ComfyUI-compatible listener (jobs.comfyapi): the pool as one ComfyUI server on its own
# port of the same process; off when unset (`make run` sets 8288). COMFYWEB_COMFYUI_ANONYMOUS:
# callers without a token share one anonymous identity there (on under `make run`).
_COMFYUI_PORT = env_int("COMFYWEB_COMFYUI_PORT", 0, minimum=0)
if _COMFYUI_PORT > 65535:
    raise ImproperlyConfigured(f"COMFYWEB_COMFYUI_PORT must be a port (1-65535), got {_COMFYUI_PORT}")
COMFYWEB_COMFYUI_PORT: int | None = _COMFYUI_PORT or None
COMFYWEB_COMFYUI_ANONYMOUS = env_bool("COMFYWEB_COMFYUI_ANONYMOUS", False)

DATA_UPLOAD_MAX_MEMORY_SIZE = COMFYWEB_MAX_UPLOAD_BYTES + 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "jobs": {"handlers": ["console"], "level": env_str("COMFYWEB_LOG_LEVEL", "INFO")},
    },
}

# --- Production security (issue G) ---
# Dev defaults stay easy (DEBUG on, plain HTTP); DJANGO_DEBUG=0 demands a real secret key, and
# COMFYWEB_TLS=1 turns on everything `manage.py check --deploy` asks of an HTTPS site.
# See SECURITY.md.
if not DEBUG and (not os.environ.get("DJANGO_SECRET_KEY") or SECRET_KEY.startswith("dev-only-insecure")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value when DJANGO_DEBUG is off "
        "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

# Every /api/ error is JSON, oversized bodies are refused by their Content-Length (SPEC §4).
MIDDLEWARE = ["jobs.web.http.ApiErrorMiddleware", *MIDDLEWARE]

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the page reads it for the X-CSRFToken header (SPEC §4)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

COMFYWEB_TLS = env_bool("COMFYWEB_TLS", False)
if COMFYWEB_TLS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("COMFYWEB_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("COMFYWEB_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("COMFYWEB_HSTS_PRELOAD", True)
    # /healthz is polled over plain HTTP by load balancers and process managers.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    if env_bool("COMFYWEB_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Tab socket: job.submit frames per socket, as a token bucket (SPEC §5; error `rate_limited`).
COMFYWEB_SUBMIT_BURST = env_int("COMFYWEB_SUBMIT_BURST", 10, minimum=1)
COMFYWEB_SUBMIT_RATE = env_float("COMFYWEB_SUBMIT_RATE", 2.0, minimum=0.01)
