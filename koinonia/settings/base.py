"""Settings shared by every environment, read through django-environ (12-factor)."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
# The embedded default is for a laptop; production.py insists on a real key.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "churches",
    "messaging",
    "conversations",
    "billing",
    "integrations",
    "analytics",
    "koinonia",  # the project package: management commands that span every app (seed_demo)
]

MIDDLEWARE = [
    "koinonia.middleware.RequestIdMiddleware",
    # Where this request reads (primary or replica): decided before the session and auth middleware read.
    "koinonia.db_router.ReplicaReadsMiddleware",
    # Request latency by view name for /metrics (absent unless METRICS_ENABLED).
    "koinonia.metrics.RequestLatencyMiddleware",
    "koinonia.middleware.ApiGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "koinonia.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "churches.middleware.CurrentChurchMiddleware",
    "churches.middleware.ChurchTimezoneMiddleware",  # times on pages in the church's zone
    "churches.middleware.StaffLanguageMiddleware",  # pages in the user's language (English or Spanish)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a sign-in refused for lockout into AXES_LOCKOUT_CALLABLE's page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "koinonia.urls"
WSGI_APPLICATION = "koinonia.wsgi.application"
ASGI_APPLICATION = "koinonia.asgi.application"

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
                "koinonia.context_processors.current_church",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# SQLite for the embedded default; DATABASE_URL (postgres://...) for everything real.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + immediate transactions let web, worker and beat share one SQLite file without
    # "database is locked" errors under the embedded default.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PgBouncer in transaction pooling mode (docs/scaling.md): consecutive transactions of one Django connection
# may run on different server connections, so nothing may outlive a transaction on the server — no
# server-side cursors (iterator() then fetches client-side), no prepared statements (psycopg prepares a
# query it has run prepare_threshold times: off), and a connection to PgBouncer is cheap, so none is kept.
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ValueError(f"DATABASE_POOLER must be empty or 'pgbouncer', not {DATABASE_POOLER!r}")


def _database(settings_dict: dict, *, replica: bool = False) -> dict:
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return settings_dict
    pooled = DATABASE_POOLER == "pgbouncer"
    settings_dict.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if pooled else 60))
    options = settings_dict.setdefault("OPTIONS", {})
    if replica:
        options.setdefault("connect_timeout", 2)  # a replica that is down must not hold a page up for long
    if pooled:  # the replica too: in production it sits behind its own PgBouncer (docs/scaling.md)
        settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
        options["prepare_threshold"] = None
        if not replica:  # the replica's test database is the primary's copy: never created or dropped
            settings_dict["ENGINE"] = "koinonia.db_backends.postgresql_pgbouncer"  # drops WITH (FORCE)
    return settings_dict


_database(DATABASES["default"])
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = _database(env.db_url("DATABASE_REPLICA_URL"), replica=True)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # Tests read the replica's copy of the primary's test database (tests/koinonia/test_replica_reads.py).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["koinonia.db_router.PrimaryReplicaRouter"]
# Replica reads (koinonia/db_router.py): on when a replica is configured, for the views named here and API
# GETs; a session/API key that wrote reads the primary for DATABASE_REPLICA_PIN_SECONDS, which must exceed
# DATABASE_REPLICA_MAX_LAG_SECONDS (a replica further behind is skipped, so a pin outlives any lag served).
DATABASE_REPLICA_READS = env.bool("DATABASE_REPLICA_READS", default=True)
DATABASE_REPLICA_MAX_LAG_SECONDS = env.float("DATABASE_REPLICA_MAX_LAG_SECONDS", default=10.0)
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=15)
DATABASE_REPLICA_CHECK_SECONDS = env.float("DATABASE_REPLICA_CHECK_SECONDS", default=2.0)
DATABASE_REPLICA_VIEWS = frozenset(
    {
        "dashboard",
        "analytics",
        "members_home",
        "member_export",
        "member_import_report",
        "branch_list",
        "group_list",
        "messaging_home",
        "message_templates",
        "recurring_list",
    }
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
            "KEY_PREFIX": "koinonia",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "churches.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
# django-axes checks each sign-in (our /login/ and /admin/login/ both go through authenticate(request=...))
# and locks an account after AXES_FAILURE_LIMIT failures, from any address, for AXES_COOLOFF_TIME; a
# success clears the count. Attempts are rows in the database (support sees and clears them in admin).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username"]  # per account; per address is the login_ip throttle below
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_LOCKOUT_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "churches.views.accounts.signin_username"
AXES_LOCKOUT_CALLABLE = "churches.views.accounts.signin_locked_out"
AXES_CLIENT_IP_CALLABLE = "koinonia.throttling.client_ip"
AXES_DISABLE_ACCESS_LOG = True  # keep failures only, not a row per successful sign-in
AXES_SENSITIVE_PARAMETERS = ["username", "password"]
# axes warns when it does not also lock by address; one address is limited by the login_ip throttle
# instead, with its own (higher) rate, so a church office behind one address isn't locked by one typo-prone user.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
INVITATION_TTL_DAYS = 14

# --- Email ----------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Koinonia <no-reply@koinonia.example>")

# --- I18N / time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The staff pages' languages (a user picks one; blank follows the browser) and a member's texts'.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security that holds in every environment -----------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

# Phones are encrypted with the first key; every key in the list can decrypt (rotation).
# These development keys are public; production.py requires real ones.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=["aW5zZWN1cmUtZGV2LWtleS0wMDAwMDAwMDAwMDAwMDA="])
PHONE_HASH_KEY = env.str("PHONE_HASH_KEY", default="insecure-development-phone-hash-key")
# Days a finished import's rejected-rows report (and an unfinished import's file) is kept.
IMPORT_REPORT_RETENTION_DAYS = env.int("IMPORT_REPORT_RETENTION_DAYS", default=30)

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "churches.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The role first (a key's or a person's), then an API key's scopes (koinonia/api/scopes.py).
    "DEFAULT_PERMISSION_CLASSES": [
        "koinonia.api.permissions.ChurchRolePermission",
        "koinonia.api.permissions.ApiKeyScopePermission",
    ],
    "DEFAULT_PAGINATION_CLASS": "koinonia.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "koinonia.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "koinonia.api.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "koinonia.api.parsers.JSONParser",
        "koinonia.api.parsers.FormParser",
        "koinonia.api.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "koinonia.api.throttling.ApiKeyRateThrottle",
        "koinonia.api.throttling.ApiKeyBurstThrottle",
        "koinonia.api.throttling.StaffSessionRateThrottle",
        "koinonia.api.throttling.StaffSessionBurstThrottle",
    ],
    # API keys' rates are per plan (API_PLAN_RATE_LIMITS); these are the other scopes (koinonia/throttling.py).
    "DEFAULT_THROTTLE_RATES": {
        "session": "600/min",  # a staff browser calling the API, per user
        "session_burst": "30/s",
        "login_ip": "30/15m",  # sign-in attempts (POSTs) from one address, /login/ and /admin/login/
        "signup_ip": "10/h",
        "signup_email": "5/h",  # sign-up attempts with one email address
        "password_reset_ip": "20/h",
        "password_reset_email": "3/h",  # emails to one address, whatever the caller's address; silent
        "invitation_ip": "60/h",  # invitation pages opened or posted from one address (token guessing)
        "invitation_account": "10/h",  # attempts to accept one invitation
    },
    # Proxies in front of the app whose X-Forwarded-For we trust (0: use the connection's address).
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Per API key, by the church's plan code: (sustained, burst). "default" is for a plan not listed.
API_PLAN_RATE_LIMITS = {
    "default": ("60/min", "10/s"),
    "trial": ("60/min", "10/s"),
    "starter": ("120/min", "20/s"),
    "growth": ("300/min", "30/s"),
    "pro": ("600/min", "50/s"),
}
# When set (e.g. "120/min", "20/s"), the same limit for every key, whatever its plan.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="")
API_BURST_RATE_LIMIT = env.str("API_BURST_RATE_LIMIT", default="")
# Where Idempotency-Key answers are kept (koinonia/api/idempotency.py; the table is an app's).
API_IDEMPOTENCY_STORE = "churches.idempotency.DatabaseIdempotencyStore"

SPECTACULAR_SETTINGS = {
    "TITLE": "Koinonia API",
    "DESCRIPTION": "Text your congregation: members, groups, broadcasts, conversations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # An API key's role is one of three (no owner keys); a staff member's one of four.
    "ENUM_NAME_OVERRIDES": {
        "ApiKeyRoleEnum": "koinonia.roles.API_KEY_ROLE_CHOICES",
        "StaffRoleEnum": "koinonia.roles.Role",
    },
    "SECURITY": [{"ApiKey": []}],
    # Every operation's error responses, in the error shape (koinonia/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "koinonia.api.schema.document_errors",
    ],
}

# --- Celery ---------------------------------------------------------------------------------------
# Redis when REDIS_URL is set; otherwise a filesystem broker so the embedded default runs a real
# worker and beat with nothing else installed.
if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    # Its folders (and processed/, control/) must exist: `make run` makes them.
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "celery-broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu's default is ./control, which litters the checkout with exchange files.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task goes back to the queue
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # One-to-one texts (replies, opt-out/HELP confirmations) and welcomes never wait behind broadcasts:
    # their own queue, served by the `worker` process (exact names win over the patterns below).
    "conversations.tasks.send_conversation_message": {"queue": "priority"},
    "messaging.broadcasts.tasks.send_welcome": {"queue": "priority"},
    "messaging.broadcasts.tasks.send_*": {"queue": "sends"},
    "messaging.broadcasts.tasks.dispatch_*": {"queue": "sends"},
    "*.tasks.process_webhook*": {"queue": "webhooks"},
    "messaging.broadcasts.tasks.apply_status_events": {"queue": "webhooks"},
    "conversations.tasks.apply_inbound_events": {"queue": "webhooks"},
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {
    # The database is the outbox: the sweeper re-dispatches anything stuck, lost or due.
    "messaging-sweep": {
        "task": "messaging.broadcasts.tasks.sweep",
        "schedule": env.float("SWEEP_INTERVAL_SECONDS", default=15),
    },
    # Inbound texts stored by the webhook that no batch applied (a lost task, a killed worker).
    "conversations-inbound-sweep": {"task": "conversations.tasks.sweep_inbound_events", "schedule": 15},
    # Recurring messages and scheduled one-offs fire from here (each firing has a unique key).
    # Stripe events and meter reports that could not be applied or sent yet.
    "billing-retry": {"task": "billing.tasks.retry_pending_billing_work", "schedule": 300},
    "messaging-recurring": {
        "task": "messaging.recurring.tasks.recurring_tick",
        "schedule": env.float("RECURRING_TICK_SECONDS", default=60),
    },
    # Phone-linking recovery. Hourly: a drifted webhook silently drops replies and STOPs, so a day is too
    # long to leave it; each check is 3-4 cheap provider GETs per number, so hourly costs little.
    "messaging-check-sender-numbers": {
        "task": "messaging.numbers.tasks.check_sender_numbers",
        "schedule": env.float("SENDER_NUMBER_CHECK_SECONDS", default=3600),
    },
    # Imports keep members' details only as long as needed: expired rejected-rows reports and the files
    # of imports that never finished are deleted (churches/imports/jobs.py: member_import_purge_expired).
    "churches-import-purge": {
        "task": "churches.tasks.purge_import_data",
        "schedule": 3600,
    },
    # Outgoing webhooks: due retries, and first attempts whose task was lost (the outbox rows are the truth).
    "integrations-webhook-sweep": {
        "task": "integrations.tasks.sweep_webhook_deliveries",
        "schedule": env.float("WEBHOOK_SWEEP_SECONDS", default=10),
    },
    # Stored Idempotency-Key answers are kept 24 hours (koinonia/api/idempotency.py).
    "churches-idempotency-purge": {
        "task": "churches.tasks.purge_idempotency_records",
        "schedule": 3600,
    },
    # 10DLC: the fallback for lost registration webhooks (pending brands, campaigns and number links only).
    "messaging-tendlc-poll": {
        "task": "messaging.numbers.tasks.poll_tendlc_registrations",
        "schedule": env.float("TENDLC_POLL_SECONDS", default=900),
    },
    # Analytics: today's and yesterday's daily figures of churches with new activity (analytics/services.py).
    "analytics-refresh": {
        "task": "analytics.tasks.refresh_daily_stats",
        "schedule": env.float("ANALYTICS_REFRESH_SECONDS", default=300),
    },
}
# A recurring firing found more than this late (the scheduler was down) is skipped, not sent late.
RECURRING_MISFIRE_GRACE_SECONDS = env.int("RECURRING_MISFIRE_GRACE_SECONDS", default=3600)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True

# --- SMS and billing providers (base URLs configurable so tests and staging use local fakes) ------
SMS_PROVIDER = env.str("SMS_PROVIDER", default="console")
TELNYX_API_KEY = env.str("TELNYX_API_KEY", default="")
TELNYX_API_BASE = env.str("TELNYX_API_BASE", default="https://api.telnyx.com").rstrip("/")
TELNYX_PUBLIC_KEY = env.str("TELNYX_PUBLIC_KEY", default="")
TELNYX_MESSAGING_PROFILE_ID = env.str("TELNYX_MESSAGING_PROFILE_ID", default="")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com").rstrip("/")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS = 300
# Inbound MMS pictures are fetched only from the provider's own media hosts ("*.example.com" = any
# subdomain), over HTTPS, never from private addresses, at most this many bytes, images only.
SMS_MEDIA_HOSTS = {
    "twilio": env.list("SMS_MEDIA_HOSTS_TWILIO", default=["api.twilio.com", "*.twiliocdn.com"]),
    "telnyx": env.list("SMS_MEDIA_HOSTS_TELNYX", default=["media.telnyx.com", "*.telnyx.com"]),
}
SMS_MEDIA_ALLOW_PRIVATE_HOSTS = False  # only tests aimed at a loopback fake turn this on (plain HTTP too)
CONVERSATION_INBOUND_MEDIA_MAX_BYTES = env.int("CONVERSATION_INBOUND_MEDIA_MAX_BYTES", default=5 * 1024 * 1024)
# Send pipeline tuning (segments per second per bucket; batch sizes; leases).
SMS_RATE_LIMITS = {
    "account": env.float("SMS_RATE_ACCOUNT", default=50),
    "sender": env.float("SMS_RATE_SENDER", default=50),
}
# A sender number not yet on a live 10DLC campaign (no campaign_id): US carriers filter or block
# unregistered traffic, so its bucket is held to this many segments per second (telnyx and twilio;
# the console provider is exempt; 0 switches the limit off).
SMS_RATE_UNREGISTERED_SENDER = env.float("SMS_RATE_UNREGISTERED_SENDER", default=1.0)
# The part of each account and sender rate kept for one-to-one texts (replies, confirmations), so a
# broadcast at full speed cannot make them wait — lent to broadcasts whenever no one-to-one text was sent in
# the last SMS_RATE_PRIORITY_WINDOW seconds (messaging/broadcasts/ratelimit.py: reserve_shared).
SMS_RATE_PRIORITY_SHARE = env.float("SMS_RATE_PRIORITY_SHARE", default=0.1)
SMS_RATE_PRIORITY_WINDOW = env.float("SMS_RATE_PRIORITY_WINDOW", default=10.0)
# The console registrar (embedded default) approves 10DLC submissions after this many seconds.
CONSOLE_TENDLC_APPROVAL_SECONDS = env.float("CONSOLE_TENDLC_APPROVAL_SECONDS", default=10.0)
# One turn of fair sending (messaging/broadcasts/fair.py): two waves of SEND_CONCURRENCY hand-offs, so no
# thread idles at a turn's tail, and small enough that a turn of a big broadcast takes well under a second.
SEND_BATCH_SIZE = env.int("SEND_BATCH_SIZE", default=64)
SEND_CONCURRENCY = env.int("SEND_CONCURRENCY", default=32)
SEND_PARALLELISM = env.int("SEND_PARALLELISM", default=2)
# A sending task renews its rows' lease every third of this while it works, so the lease only has to
# outlive a missed renewal or two: a killed worker's rows go back to the queue (sweeper) this soon after.
SEND_LEASE_SECONDS = env.int("SEND_LEASE_SECONDS", default=30)
# Send results are written back (one set-based UPDATE) once this many are waiting or the oldest has
# waited this long: what a killed worker can have sent without recording it, so texted twice later. Each
# write-back also moves the counters and the billing meter (~10 statements), so half a turn per write-back.
SEND_FLUSH_SIZE = env.int("SEND_FLUSH_SIZE", default=32)
SEND_FLUSH_SECONDS = env.float("SEND_FLUSH_SECONDS", default=0.5)
SEND_RETRY_BASE_SECONDS = env.float("SEND_RETRY_BASE_SECONDS", default=5.0)
SEND_TASK_TIME_BUDGET = env.float("SEND_TASK_TIME_BUDGET", default=60)
CONSOLE_SMS_FAILURE_RATE = env.float("CONSOLE_SMS_FAILURE_RATE", default=0.03)
CONSOLE_DELIVERY_DELAY_SECONDS = env.float("CONSOLE_DELIVERY_DELAY_SECONDS", default=1.5)

# --- Outgoing webhooks (integrations/, docs/webhooks.md) -------------------------------------------
# Whether endpoints may be private, loopback or plain-http targets: yes on a laptop and in tests (a local
# receiver), never in production (production.py turns it off). Link-local and reserved addresses
# (cloud metadata) are refused always.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=True)
# The retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h x6) is multiplied by this: 1.0 is the real
# schedule, 0 retries at once (tests), 0.01 squeezes three days into about 40 minutes (staging).
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=1.0)
# After a secret rotation, the old secret keeps signing (a second signature) for this long.
WEBHOOK_SECRET_OVERLAP_HOURS = env.float("WEBHOOK_SECRET_OVERLAP_HOURS", default=24)
WEBHOOK_LOG_RETENTION_DAYS = env.int("WEBHOOK_LOG_RETENTION_DAYS", default=30)

# --- Monitoring: Prometheus /metrics (koinonia/metrics.py) and Sentry -----------------------------
# Off by default: the page shows aggregate numbers only, and with METRICS_TOKEN wants that bearer token.
# Several processes per machine (gunicorn, Celery prefork) also need PROMETHEUS_MULTIPROC_DIR.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from koinonia.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# --- Logging: JSON lines, each carrying the request id --------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "koinonia.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": "INFO"},
        # One line per send task (what it served), like celery's own task lines: kept at INFO everywhere.
        "messaging.broadcasts.fair": {"level": "INFO"},
    },
}
SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)
