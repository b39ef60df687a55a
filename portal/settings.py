"""CivicDesk settings: one module, driven by environment variables.

Safe local defaults (SQLite, eager Celery, in-memory channel layer); production switches on
with DATABASE_URL, REDIS_URL and DJANGO_DEBUG=0 (see docs/deployment.md).
"""

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.city import city_from_env
from portal.map_tiles import tile_origin

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
TESTING = env.bool("CIVICDESK_TESTING", default="pytest" in sys.modules)

# The city this deployment serves (core/city.py; docs/deployment.md "The city"). The portal
# URL defaults to the local server on PORT, which `make run` passes on.
CITY = city_from_env(env, port=env.int("PORT", default=8000))
_portal_host = urlsplit(CITY["PORTAL_URL"]).hostname or "127.0.0.1"

if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-" + "x" * 40)
    ALLOWED_HOSTS = env.list(
        "DJANGO_ALLOWED_HOSTS",
        default=list(dict.fromkeys(["127.0.0.1", "localhost", "[::1]", _portal_host])),
    )
else:
    _missing = [k for k in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS") if not env.str(k, "")]
    if _missing:
        raise ImproperlyConfigured(
            "Production mode (DJANGO_DEBUG=0) needs these environment variables: "
            + ", ".join(_missing)
        )
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "portal.admin_site.CivicAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "pgtrigger",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "allauth.usersessions",
    "portal.accounts",
    "portal",
    "outbox",
    "services",
    "services.open311",
    "consent",
    "consent.rights",
]

MIDDLEWARE = [
    "core.unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.json_limits.JsonLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.account_language.AccountLanguageMiddleware",
    "portal.middleware.SessionRolesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "portal.middleware.SessionTimeoutMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.roles",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# No DATABASE_URL: a SQLite file in WAL mode. With it: PostgreSQL through psycopg 3's pool,
# which works for both WSGI and ASGI servers (CONN_MAX_AGE>0 under ASGI leaks a connection
# per request thread, so persistent connections are not used).
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # psycopg may prepare statements on the connection. Django's own cursors bind on the
        # client and never prepare; the consent store's two fixed statements are bound on the
        # server and prepared (consent/store.py). Behind PgBouncer this needs session pooling
        # or PgBouncer >= 1.21 with max_prepared_statements (docs/deployment.md).
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
        if env.bool("DATABASE_POOL", default=not TESTING):
            DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
                "min_size": env.int("DATABASE_POOL_MIN", default=2),
                "max_size": env.int("DATABASE_POOL_MAX", default=10),
                # While PostgreSQL is down a request waits this long for a connection,
                # then answers 503 + Retry-After (core.unavailable).
                "timeout": env.float("DATABASE_POOL_TIMEOUT", default=5.0),
            }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

# Two roles on PostgreSQL (docs/deployment.md): DATABASE_URL is the application's runtime role
# (SELECT/INSERT only on the append-only log tables); DATABASE_OWNER_URL (or
# MIGRATE_DATABASE_URL) is the role that owns the schema. `migrate`, `flush` and `db_roles`
# connect as the owner (portal/dbroles.py); everything else runs as the runtime role.
_owner_url = env.str("DATABASE_OWNER_URL", default="") or env.str("MIGRATE_DATABASE_URL",
                                                                   default="")
# The owner URL gives the owner's credentials (and host); the database is always
# DATABASE_URL's. SQLite has no roles: there the owner URL is ignored.
DATABASE_OWNER: dict[str, object] | None = None
# The runtime role's own credentials (kept apart: the test set-up logs `default` in as the
# owner while it creates the test database).
DATABASE_RUNTIME = {k: DATABASES["default"].get(k, "") for k in ("USER", "PASSWORD")}
if _owner_url and IS_POSTGRES:
    DATABASE_OWNER = dict(env.db_url_config(_owner_url))
    if DATABASE_OWNER["ENGINE"] != DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_OWNER_URL must be a PostgreSQL URL")
    if DATABASE_OWNER["USER"] == DATABASES["default"]["USER"]:
        raise ImproperlyConfigured(
            "DATABASE_URL must use the runtime role, not the owner of DATABASE_OWNER_URL"
        )

# --- Redis: cache, broker, channel layer --------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if TESTING and REDIS_URL and os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    # Parallel test workers each get a Redis database of their own (channel groups, cache
    # keys and Celery queues would otherwise cross between workers). Subprocesses the tests
    # start inherit it through the environment.
    _parts = urlsplit(REDIS_URL)
    _base = int(_parts.path.strip("/") or 0)
    _db = (_base + 1 + int(os.environ["PYTEST_XDIST_WORKER"][2:])) % 16
    REDIS_URL = urlunsplit(_parts._replace(path=f"/{_db}"))
    os.environ["REDIS_URL"] = REDIS_URL
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="civicdesk"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times reads out after 5 s by default, exactly how long
                # channels-redis blocks in BZPOPMIN: idle sockets then die with 1011.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_keepalive": True}],
                "prefix": env.str("CHANNELS_PREFIX", default="civicdesk:asgi"),
                "capacity": 1500,
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would otherwise close every database connection (and, in a prefork
# child, the psycopg pool) around each task; see portal/celery.py.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "services.tasks.route_request": {"queue": "routing"},
    "services.tasks.relay_outbox": {"queue": "routing"},
    "services.tasks.reroute_stranded": {"queue": "routing"},
    "services.tasks.deliver_event": {"queue": "live"},
    "services.tasks.send_notification": {"queue": "notifications"},
    "services.tasks.*": {"queue": "maintenance"},
    "consent.tasks.*": {"queue": "maintenance"},
    "consent.rights.tasks.*": {"queue": "maintenance"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A killed worker's unacked task returns to the queue once the visibility timeout passes;
# keep it short so redelivery happens within seconds (tasks are idempotent).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=30),
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    # Look for such abandoned messages every few seconds (kombu's default is ~100 s).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=5),
    "unacked_restore_throttle": 1,
    "retry_on_timeout": True,
}
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "relay-outbox": {"task": "services.tasks.relay_outbox", "schedule": 5.0},
    "reroute-stranded": {"task": "services.tasks.reroute_stranded", "schedule": 30.0},
    "mark-overdue": {"task": "services.tasks.mark_overdue", "schedule": 60.0},
    "auto-close-resolved": {"task": "services.tasks.auto_close_resolved", "schedule": 3600.0},
    "supervisor-digest": {
        "task": "services.tasks.send_supervisor_digest",
        "schedule": crontab(hour=7, minute=0),
    },
    "train-router": {
        "task": "services.tasks.train_router",
        "schedule": crontab(day_of_week="mon", hour=3, minute=0),
    },
    "send-surveys": {"task": "services.tasks.send_surveys", "schedule": crontab(hour=10, minute=0)},
    "prune-outbox": {"task": "services.tasks.prune_outbox", "schedule": crontab(hour=4, minute=15)},
    "prune-idempotency-keys": {
        "task": "services.tasks.prune_idempotency_keys",
        "schedule": crontab(hour=4, minute=20),
    },
    # Tree heads in batches: at most one per max merge delay, only when the log grew.
    "publish-tree-head": {"task": "consent.tasks.publish_tree_head", "schedule": 60.0},
    "expire-consents": {"task": "consent.tasks.expire_consents", "schedule": 3600.0},
    "verify-log": {"task": "consent.tasks.verify_log", "schedule": crontab(hour=2, minute=30)},
    "apply-retention": {
        "task": "consent.rights.tasks.apply_retention",
        "schedule": crontab(hour=3, minute=30),
    },
}

# --- Auth: django-allauth (web sessions + headless app client) -----------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    # OWASP ASVS 2.1: at least 10 characters, long passphrases allowed, common passwords
    # rejected, no composition rules.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "portal.accounts.validators.MaximumLengthValidator"},
]
if TESTING:
    # Hashing cost is irrelevant in tests and dominates their run time otherwise.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_RATE_LIMITS: dict[str, str] | bool = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
if TESTING:
    ACCOUNT_RATE_LIMITS = False
ACCOUNT_ADAPTER = "portal.accounts.adapter.AccountAdapter"
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
HEADLESS_CLIENTS = ("app", "browser")
# One cache round trip per token lookup instead of two (portal/token_strategy.py).
HEADLESS_TOKEN_STRATEGY = "portal.token_strategy.OneLookupSessionTokenStrategy"  # noqa: S105
HEADLESS_ONLY = False
HEADLESS_SERVE_SPECIFICATION = True
# Swagger UI from our static files (allauth's default loads Redoc from a CDN; the CSP blocks it).
HEADLESS_SPECIFICATION_TEMPLATE_NAME = "headless/spec/swagger_local.html"
# Links in allauth's e-mails point at the public portal, whatever Host the request came in on.
HEADLESS_FRONTEND_URLS = {
    "account_confirm_email": CITY["PORTAL_URL"] + "/accounts/confirm-email/{key}/",
    "account_reset_password_from_key": CITY["PORTAL_URL"] + "/accounts/password/reset/key/{key}/",
    "account_signup": CITY["PORTAL_URL"] + "/accounts/signup/",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "CivicDesk"
# Activity is recorded by core.session_activity at most once a minute per session, not by
# allauth on every request (five statements per API call).
USERSESSIONS_TRACK_ACTIVITY = False

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.SessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "core.api.problems.problem_exception_handler",
    # Every endpoint: per IP for anonymous callers, per account for signed-in ones. Views add
    # scoped limits (submit, comment, upload, export) on top.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="10000/min" if TESTING else "120/min"),
        "user": env.str("THROTTLE_USER", default="10000/min" if TESTING else "600/min"),
        "submit": env.str("THROTTLE_SUBMIT", default="30/hour"),
        "comment": "60/hour",
        "upload": "60/hour",
        "export": "5/hour",
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CivicDesk API",
    "DESCRIPTION": (
        "Service requests, complaints, department queues, the data-use register, consent and "
        "the transparency log of a city's Citizen Service Center. Mobile clients authenticate "
        "with the allauth headless app API (/_allauth/app/v1/) and send X-Session-Token."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: the page loads nothing from other origins.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.problem_media_types",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RequestStatusEnum": "services.models.Status",
        "RequestKindEnum": ["request", "complaint"],
        "AccessEventKindEnum": "consent.rights.models.AccessEventKind",
        "DataSubjectRequestKindEnum": "consent.rights.models.DataSubjectRequestKind",
        "DataSubjectRequestChannelEnum": "consent.rights.models.DataSubjectRequestChannel",
        "DataSubjectRequestStatusEnum": "consent.rights.models.DataSubjectRequestStatus",
    },
}

# --- i18n -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("CIVICDESK_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and media ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
    # The transparency log's outside anchor (consent/anchor.py): a directory by default; any
    # Django storage backend (e.g. django-storages' S3 backend with object lock) in production,
    # set with CIVICDESK_TLOG_MIRROR_BACKEND / CIVICDESK_TLOG_MIRROR_OPTIONS (JSON).
    "tlog_mirror": {
        "BACKEND": env.str("CIVICDESK_TLOG_MIRROR_BACKEND",
                           default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env.json("CIVICDESK_TLOG_MIRROR_OPTIONS", default={}) or {
            "location": env.str(
                "CIVICDESK_TLOG_MIRROR_DIR",
                default=(tempfile.mkdtemp(prefix="civicdesk-tlog-mirror-") if TESTING
                         else str(BASE_DIR / "var" / "tlog-mirror")),
            ),
            "file_permissions_mode": 0o444,
        },
    },
}
# Uploaded photos live outside the web root and are served only through views that check
# access (services.api), never by URL guessing.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- Email ------------------------------------------------------------------------------------
# A mail server that stops answering must not hold a worker (the routing task sends inline).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend",
)
# Only read by the file backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend).
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CivicDesk <no-reply@civicdesk.local>")

# --- Security ---------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "font-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Logging: structured, never personal data or tokens ------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "portal.logging.RedactPersonalDataFilter"}},
    "formatters": {"json": {"()": "portal.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # runserver's access lines (Django's defaults send them to a handler of their own,
        # unfiltered): through the redacting handler, which drops query strings of routes
        # that carry search text (portal.logging.QUERY_FREE_PATHS).
        "django.server": {"level": "WARNING", "handlers": ["console"], "propagate": False},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "WARNING"},
    },
}

# --- CivicDesk ---------------------------------------------------------------------------------
CIVICDESK = {
    # The demo city (`make run`'s default): the classifier may learn from the shipped seed set,
    # whose labels are the demo's department codes. A real city sets CIVICDESK_DEMO=0.
    "DEMO": env.bool("CIVICDESK_DEMO", default=True),
    # Clerks, supervisors, data officers and administrators must have TOTP enrolled before
    # their staff roles take effect (core.roles).
    "STAFF_MFA_REQUIRED": env.bool("CIVICDESK_STAFF_MFA_REQUIRED", default=True),
    "SESSION_ABSOLUTE_TIMEOUT": env.int("CIVICDESK_SESSION_ABSOLUTE_SECONDS", default=12 * 3600),
    "STAFF_IDLE_TIMEOUT": env.int("CIVICDESK_STAFF_IDLE_SECONDS", default=30 * 60),
    "RESIDENT_IDLE_TIMEOUT": env.int("CIVICDESK_RESIDENT_IDLE_SECONDS", default=4 * 3600),
    # Every JSON body (API, allauth headless, WebSocket frames): core/json_limits.py.
    "MAX_JSON_DEPTH": env.int("CIVICDESK_MAX_JSON_DEPTH", default=32),
    "MAX_JSON_BYTES": env.int("CIVICDESK_MAX_JSON_BYTES", default=1024 * 1024),
    # A staff member's photo link (from their own logged reveal) works this long, for them only.
    "PHOTO_LINK_SECONDS": env.int("CIVICDESK_PHOTO_LINK_SECONDS", default=10 * 60),
    "MAX_PHOTOS_PER_REQUEST": env.int("CIVICDESK_MAX_PHOTOS", default=5),
    "MAX_PHOTO_BYTES": env.int("CIVICDESK_MAX_PHOTO_BYTES", default=10 * 1024 * 1024),
    "MAX_PHOTO_PIXELS": env.int("CIVICDESK_MAX_PHOTO_PIXELS", default=40_000_000),
    "NEARBY_RADIUS_M": env.int("CIVICDESK_NEARBY_RADIUS_M", default=50),
    # The duplicate check on the same street or district looks at reports this recent.
    "NEARBY_RECENT_DAYS": env.int("CIVICDESK_NEARBY_RECENT_DAYS", default=30),
    "AUTO_CLOSE_DAYS": env.int("CIVICDESK_AUTO_CLOSE_DAYS", default=7),
    # A mobile client retries a POST with the same Idempotency-Key within minutes; after this
    # long the key is forgotten (a new submission with it is a new request).
    "IDEMPOTENCY_KEY_HOURS": env.int("CIVICDESK_IDEMPOTENCY_KEY_HOURS", default=24),
    "MAX_OPEN_REQUESTS_PER_HOUR": env.int("CIVICDESK_MAX_REQUESTS_PER_HOUR", default=20),
    "ROUTER_CONFIDENCE_THRESHOLD": env.float("CIVICDESK_ROUTER_THRESHOLD", default=0.35),
    # The routing task sends the reporter's e-mail itself (one Celery message per report).
    # Off: it queues `send_notification` instead, so a slow mail server never holds up
    # routing (at the price of a second message per report).
    "NOTIFY_INLINE": env.bool("CIVICDESK_NOTIFY_INLINE", default=True),
    "ROUTER_MODEL_PATH": env.str(
        "CIVICDESK_ROUTER_MODEL_PATH", default=str(BASE_DIR / "var" / "router-model.json")
    ),
    "LOG_SIGNING_KEY": env.str("CIVICDESK_LOG_SIGNING_KEY", default=""),
    "LOG_ORIGIN": env.str("CIVICDESK_LOG_ORIGIN", default="civicdesk.example.city/log"),
    # Where consent changes are written (consent/store.py): "auto" = the one-statement fast
    # path on PostgreSQL, the ORM elsewhere; "portable" = the ORM everywhere.
    "CONSENT_STORE": env.str("CIVICDESK_CONSENT_STORE", default="auto"),
    "LOG_MAX_MERGE_DELAY": timedelta(seconds=env.int("CIVICDESK_LOG_MMD_SECONDS", default=180)),
    # Witnesses (C2SP tlog-witness): parallel lists of base URLs and verifier keys; a head
    # counts as witnessed with WITNESS_QUORUM cosignatures (default: 1 if any is configured).
    "WITNESS_URLS": env.list("CIVICDESK_WITNESS_URLS", default=[]),
    "WITNESS_KEYS": env.list("CIVICDESK_WITNESS_KEYS", default=[]),
    "WITNESS_QUORUM": env.int("CIVICDESK_WITNESS_QUORUM", default=-1),
    "WITNESS_TIMEOUT_SECONDS": env.float("CIVICDESK_WITNESS_TIMEOUT", default=5.0),
    # The request form's map (docs/map-tiles.md): a tile URL template such as
    # https://tiles.example.city/{z}/{x}/{y}.png; empty = no map, the form works without one.
    "MAP_TILE_URL": env.str("CIVICDESK_MAP_TILE_URL", default=""),
    "MAP_ATTRIBUTION": env.str("CIVICDESK_MAP_ATTRIBUTION", default=""),
    # The city (core/city.py): names, controller and DPO, public URL, SMS gateway. The flat
    # keys below it are the same values under the names older code reads.
    "CITY": CITY,
    "PORTAL_URL": CITY["PORTAL_URL"],
    "OPEN311_JURISDICTION": CITY["JURISDICTION_ID"],
    "SMS_BACKEND": CITY["SMS_BACKEND"],
    # Browsers may open WebSockets only from these origins (the portal's, plus any listed).
    "WEBSOCKET_ALLOWED_ORIGINS": list(
        dict.fromkeys(
            [CITY["PORTAL_URL"], *env.list("CIVICDESK_WEBSOCKET_EXTRA_ORIGINS", default=[])]
        )
    ),
    # Residents' data rights (consent.rights): export files live outside the web root.
    "EXPORT_ROOT": env.str("CIVICDESK_EXPORT_ROOT", default=str(BASE_DIR / "var" / "exports")),
    "EXPORT_LINK_HOURS": env.int("CIVICDESK_EXPORT_LINK_HOURS", default=72),
    "ACCESS_ANOMALY_DAILY_REVEALS": env.int("CIVICDESK_ACCESS_ANOMALY_DAILY", default=40),
    "RETENTION_BATCH_SIZE": env.int("CIVICDESK_RETENTION_BATCH", default=200),
    # Per-resident pseudonym keys live here, never in the database (consent/keystore.py).
    # Back this directory up on its own short retention: a resident's erasure is final when
    # the last backup holding their key has aged out (docs/data-subject-rights.md).
    "KEYSTORE_DIR": env.str("CIVICDESK_KEYSTORE_DIR", default=str(BASE_DIR / "var" / "keystore")),
    "KEYSTORE_BACKUP_DAYS": env.int("CIVICDESK_KEYSTORE_BACKUP_DAYS", default=7),
    # How long backups of the main database are kept (docs/deployment.md §6): a backup taken
    # before an erasure still holds the account itself until it ages out.
    "DATABASE_BACKUP_DAYS": env.int("CIVICDESK_DATABASE_BACKUP_DAYS", default=35),
}

# The map's tile server is the one extra origin images may come from (not img-src *).
_tile_origin = tile_origin(CIVICDESK["MAP_TILE_URL"])
if _tile_origin:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"].append(_tile_origin)
