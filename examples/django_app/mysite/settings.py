"""Settings of the example project. Environment variables let the demo, the tests and the
benchmarks run it against their own database and in DEBUG on or off."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-not-secret"
DEBUG = os.environ.get("EXAMPLE_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "library",
    "otel_perf.django",
    "gql",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB_PATH", str(BASE_DIR / "db.sqlite3")),
    }
}

# otel-perf reads this optional dict (the environment wins over it).
OTEL_PERF = {
    "slow_request_ms": float(os.environ.get("EXAMPLE_OTEL_PERF_SLOW_REQUEST_MS", "1000")),
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# The cache behind library/cache_views.py: local memory by default (per process), Redis with
# EXAMPLE_CACHE=redis; EXAMPLE_CACHE_PREFIX keeps runs apart on a shared Redis server.
if os.environ.get("EXAMPLE_CACHE") == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("EXAMPLE_CACHE_URL", "redis://127.0.0.1:6379"),
            "KEY_PREFIX": os.environ.get("EXAMPLE_CACHE_PREFIX", "otel-perf-example"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "otel-perf-example",
        }
    }

# Peers for benchmarks/overhead.py, off unless their variable is set. EXAMPLE_SILK=1: django-silk
# with its defaults (app + middleware; its tables in this app's database: run migrate).
if os.environ.get("EXAMPLE_SILK") == "1":
    INSTALLED_APPS.append("silk")
    MIDDLEWARE.append("silk.middleware.SilkyMiddleware")

# EXAMPLE_SENTRY_DSN: sentry-sdk with its Django integration, tracing every request by default.
if os.environ.get("EXAMPLE_SENTRY_DSN"):
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=os.environ["EXAMPLE_SENTRY_DSN"],
        traces_sample_rate=float(os.environ.get("EXAMPLE_SENTRY_TRACES_SAMPLE_RATE", "1.0")),
        integrations=[DjangoIntegration()],
    )
