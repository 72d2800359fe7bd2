"""Request ids for log lines: one context variable set by the middleware (or a Celery task), and the
gunicorn logger that writes access lines through the same JSON logging."""

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A line that names its request itself (the access log, after the request is over) keeps it.
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or None
        return True


try:
    from gunicorn.glogging import Logger as _GunicornBaseLogger
except ImportError:  # gunicorn is the production server only
    _GunicornBaseLogger = None


if _GunicornBaseLogger is not None:

    class GunicornLogger(_GunicornBaseLogger):
        """gunicorn's logger with access lines sent to ``koinonia.access`` (the app's JSON handler) as
        fields, not an Apache-format string: method, path, status, duration, bytes, client, and the
        request id the app answered with (the middleware has reset its context variable by then).
        ``gunicorn.conf.py`` selects it; ``accesslog = None`` switches access lines off."""

        access_logger = logging.getLogger("koinonia.access")

        def setup(self, cfg):
            super().setup(cfg)
            # Access lines are INFO by nature; whether they are written is accesslog's call, not LOG_LEVEL's.
            self.access_logger.setLevel(logging.INFO)

        def access(self, resp, req, environ, request_time):
            if self.cfg.accesslog is None:
                return
            try:
                headers = {name.lower(): value for name, value in resp.headers}
                status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
                method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
                self.access_logger.info(
                    "%s %s %s",
                    method,
                    path,
                    status,
                    extra={
                        "method": method,
                        "path": path,
                        "status": int(status),
                        "duration_ms": round(request_time.total_seconds() * 1000, 2),
                        "bytes": getattr(resp, "sent", None),
                        "remote_addr": environ.get("REMOTE_ADDR"),
                        "user_agent": environ.get("HTTP_USER_AGENT"),
                        "request_id": headers.get("x-request-id"),
                    },
                )
            except Exception:
                self.exception("could not write the access log line")
