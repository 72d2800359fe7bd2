"""Test settings: the base settings made fast and hermetic.

DATABASE_URL / REDIS_URL still choose PostgreSQL + Redis (CI) or the embedded default (SQLite).
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run in-process unless a test starts a real worker (the pipeline tests do, on PostgreSQL).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# With DATABASE_REPLICA_URL set (CI's PgBouncer pass) the suite's pages still read the primary: a test that
# writes through the ORM and then loads a page can't wait out replication lag. The replica tests turn it on.
DATABASE_REPLICA_READS = False
SMS_PROVIDER = env.str("SMS_PROVIDER", default="console")
CONSOLE_SMS_FAILURE_RATE = 0.0
CONSOLE_DELIVERY_DELAY_SECONDS = 0
SEND_CONCURRENCY = env.int("SEND_CONCURRENCY", default=8)
# The suite's sender numbers stand for registered ones; 10DLC tests set the unregistered limit themselves.
SMS_RATE_UNREGISTERED_SENDER = env.float("SMS_RATE_UNREGISTERED_SENDER", default=0)
# Limits high enough that no test meets one by accident; throttling tests lower the one they prove.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="1000000/min")
API_BURST_RATE_LIMIT = env.str("API_BURST_RATE_LIMIT", default="1000000/s")
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": dict.fromkeys(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "1000000/min"),  # noqa: F405
}
