"""Settings of this Django project, for development. The services' ports come from the box's
environment: [env] in devbox.toml."""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "development-only-not-a-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["hits"]
MIDDLEWARE = []
ROOT_URLCONF = "config.urls"

# PostgreSQL: the db service (trust authentication on 127.0.0.1, so no password)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": os.environ.get("DB_PORT", "5432"),
        "NAME": "app",
        "USER": "postgres",
    }
}
# Redis: the cache service
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
