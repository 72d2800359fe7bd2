"""Log lines: request ids (one context variable set by the middleware or a Celery task), no personal
data (phone numbers and email addresses are scrubbed from every record), and the gunicorn logger that
writes access lines through the same JSON logging."""

import logging
import re
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A line that names its request itself (the access log, after the request is over) keeps it.
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or None
        return True


# --- Personal data never reaches a log line ------------------------------------------------------
# Log lines end up in files and log services with their own retention, outside the database's
# encryption. Anything shaped like a phone number or an email address is replaced in every record —
# its message, its formatted exception and its extra fields (Celery's task-failure lines quote the
# exception and the arguments, and an argument or an error message may be a member's number).

# "+13125550100", "+44 20 7946 0958" and North American "(312) 555-0100" / "312.555.0100" / "3125550100".
PHONE_PATTERNS = (
    re.compile(r"\+\d[\d ().-]{6,18}\d"),
    # Not inside a longer run of letters and digits: a hex id ("…a8654448650d", a UUID's last group) is
    # not a phone number, and scrubbing it would hide the ids support searches the logs for.
    re.compile(r"(?<![0-9A-Za-z])(?:1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?![0-9A-Za-z])"),
)
# Anything shaped like an address, valid or not ("ann@example.org", "ann@@example").
EMAIL_PATTERN = re.compile(r"[^\s'\"<>(),;:@]+@+[^\s'\"<>(),;:]+")
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def scrub_personal_data(text: str) -> str:
    """``text`` with anything that looks like a phone number or an email address replaced."""
    text = EMAIL_PATTERN.sub("[email]", text)
    for pattern in PHONE_PATTERNS:
        text = pattern.sub("[number]", text)
    return text


def _scrub_value(value, depth: int = 0):
    if isinstance(value, str):
        return scrub_personal_data(value)
    if depth < 3 and isinstance(value, dict):
        return {key: _scrub_value(item, depth + 1) for key, item in value.items()}
    if depth < 3 and isinstance(value, list | tuple):
        return type(value)(_scrub_value(item, depth + 1) for item in value)
    return value


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave the record as it is, logging reports it
        return record
    record.msg, record.args = scrub_personal_data(message), None
    if record.exc_info and record.exc_info[0] is not None:
        # Formatted once here (formatters reuse exc_text), scrubbed, and the live exception dropped so
        # no handler formats it again unscrubbed.
        record.exc_text = scrub_personal_data(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    for key in record.__dict__.keys() - _STANDARD_ATTRIBUTES:
        record.__dict__[key] = _scrub_value(record.__dict__[key])
    return record


_base_factory = logging.getLogRecordFactory()


def _scrubbing_factory(*args, **kwargs) -> logging.LogRecord:
    return scrub_record(_base_factory(*args, **kwargs))


def install_scrubbing_record_factory() -> None:
    """Scrub every record at creation, whoever handles it (Django's handlers, or Celery's in a worker,
    which replaces the root handlers). Records are created only for enabled levels, so the cost falls
    on lines that are written anyway. Idempotent."""
    if logging.getLogRecordFactory() is not _scrubbing_factory:
        logging.setLogRecordFactory(_scrubbing_factory)


# Imported by the LOGGING settings (RequestIdFilter) and by the Celery app: every process that logs.
install_scrubbing_record_factory()

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
