"""gunicorn settings for production: ``gunicorn koinonia.wsgi -c gunicorn.conf.py`` (Procfile ``web``).

What the benchmarks ran (bench/messaging_support.py ``Gunicorn``: 4 processes x 4 threads, gthread):
threads let a process overlap the waits on PostgreSQL and Redis, processes use the cores. Every knob has
an environment variable; docs/operations.md says how to size them.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in {"1", "true", "yes", "on"}


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# --- Concurrency: processes x threads ---------------------------------------------------------------
worker_class = "gthread"
# WEB_CONCURRENCY is the platforms' convention (Heroku sets it from the dyno size). Unset: two processes
# per core, at least 2 (one can restart while the other serves), at most 8.
workers = _int("WEB_CONCURRENCY", max(2, min(8, multiprocessing.cpu_count() * 2)))
threads = _int("WEB_THREADS", 4)
# Each thread keeps its own database connection (CONN_MAX_AGE): workers x threads per web process
# counts against PostgreSQL's max_connections (or the pooler's pool size).

# --- Timeouts ---------------------------------------------------------------------------------------
# A request still running after this is killed with its process; every page and hook answers in well
# under a second, and the slow work is on Celery.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (deploy, scale down) or a recycle, in-flight requests get this long to finish. Keep it under
# the platform's kill delay (Heroku: 30 s) so requests finish instead of being cut.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# Longer than the load balancer's idle timeout (AWS ALB: 60 s), else the balancer may reuse a connection
# we just closed and answer 502. gthread parks idle keep-alive connections in its poller, not a thread.
keepalive = _int("GUNICORN_KEEPALIVE", 75)

# --- Recycling: each process restarts after about this many requests, one at a time (the jitter
# spreads them), after finishing its in-flight requests: slow leaks never reach the memory limit. 0: off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)

# --- Behind a proxy ---------------------------------------------------------------------------------
# Whose X-Forwarded-* headers gunicorn believes (wsgi.url_scheme, REMOTE_ADDR). Set FORWARDED_ALLOW_IPS
# to the load balancer's address or network; "*" only when nothing but the balancer can reach us
# (Heroku's router). Django's SECURE_PROXY_SSL_HEADER reads X-Forwarded-Proto itself (production.py).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# --- preload_app: off. Preloading imports the app in the master and forks it: less memory, but any
# connection opened during import (psycopg, Redis) would be shared by every process, and a HUP would not
# load new code. If GUNICORN_PRELOAD turns it on, pre_fork below closes the master's database
# connections before each fork (redis-py reconnects after a fork by itself).
preload_app = _bool("GUNICORN_PRELOAD", False)


def pre_fork(server, worker):
    if preload_app:
        from django.db import connections

        connections.close_all()


def child_exit(server, worker):
    # Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR): fold a gone worker's live gauges away.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# The heartbeat file on tmpfs: on a container's overlay filesystem its writes can stall a worker long
# enough for the master to think it hung. (gunicorn creates its files there with mkstemp.)
_TMPFS = "/dev/shm"  # noqa: S108
if os.path.isdir(_TMPFS):
    worker_tmp_dir = _TMPFS

# The runtime control socket defaults to one path per user; two servers on one host would fight over it.
control_socket_disable = True

# --- Logs: JSON lines on stdout/stderr like the app's -------------------------------------------------
# Access lines go through the app's logging (koinonia.logging.GunicornLogger: the LOGGING JSON handler,
# with the request id the app answered with); gunicorn's own lines use the same JSON shape.
logger_class = "koinonia.logging.GunicornLogger"
accesslog = "-" if _bool("GUNICORN_ACCESS_LOG", True) else None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    # Until the app configures logging (each process, at load), stray lines take the same shape.
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False}},
}
