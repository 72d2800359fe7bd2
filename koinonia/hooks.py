"""Cross-app hooks, so dependencies keep pointing one way.

``churches`` must not import ``billing`` or ``messaging``, yet plan limits (billing) must be checked when
a member is added (churches) or a broadcast is sent (messaging). The app that owns the rule registers a
checker here in its ``AppConfig.ready()``; the app that performs the action calls ``check_limit``.

Resources in use: ``members``, ``branches``, ``staff_seats`` (``adding`` = how many more),
``broadcast`` (``adding`` = segments; ``branch_id`` may be given), ``reply`` (conversations; replies
and opt-out confirmations stay allowed when broadcasts are blocked).
"""

from collections.abc import Callable

from django.dispatch import Signal

LimitChecker = Callable[..., None]
_limit_checkers: list[LimitChecker] = []


def register_limit_checker(checker: LimitChecker) -> None:
    """``checker(*, church, resource, adding, **context)`` raises BusinessRuleError to refuse."""
    if checker not in _limit_checkers:
        _limit_checkers.append(checker)


def check_limit(*, church, resource: str, adding: int = 1, **context) -> None:
    for checker in _limit_checkers:
        checker(church=church, resource=resource, adding=adding, **context)


HeadroomReporter = Callable[..., int | None]
_headroom_reporters: list[HeadroomReporter] = []


def register_headroom_reporter(reporter: HeadroomReporter) -> None:
    """``reporter(*, church, branch_id=None)`` returns how many more broadcast segments ``check_limit``
    would allow right now, or None when nothing caps the amount."""
    if reporter not in _headroom_reporters:
        _headroom_reporters.append(reporter)


def broadcast_headroom(*, church, branch_id: int | None = None) -> int | None:
    """The most segments a broadcast could add before the limit checkers refuse it on amount (None: no
    cap). Lets messaging count a large audience only as far as the answer could change; ``check_limit``
    stays the one authority."""
    rooms = [reporter(church=church, branch_id=branch_id) for reporter in _headroom_reporters]
    rooms = [room for room in rooms if room is not None]
    return min(rooms) if rooms else None


# Sent (after commit) by messaging when segments are handed to a provider:
#   church_id=int, segments=int, message_id=int|None, branch_id=int|None, occurred_at=datetime.
# Billing meters usage from it. Segments that fail before reaching the carrier are not sent here.
segments_sent = Signal()

# Sent (after commit) by messaging when segments announced through ``segments_sent`` failed before
# reaching the carrier (e.g. Telnyx ``sending_failed``): same arguments. Billing takes them back off usage.
segments_failed = Signal()


# --- Usage for compose pages (billing registers the reporter; callers need not import billing) -----

UsageReporter = Callable[..., dict | None]
_usage_reporters: list[UsageReporter] = []


def register_usage_reporter(reporter: UsageReporter) -> None:
    """``reporter(*, church, adding=0, branch_id=None)`` returns the usage summary dict."""
    if reporter not in _usage_reporters:
        _usage_reporters.append(reporter)


def usage_summary(*, church, adding: int = 0, branch_id: int | None = None) -> dict | None:
    """This period's allowance, used, remaining, projected, spend cap and status (and, with ``adding``
    segments, a ``send`` estimate: cost, whether it's allowed and why not); None without billing."""
    if not _usage_reporters:
        return None
    return _usage_reporters[0](church=church, adding=adding, branch_id=branch_id)


# --- The church's plan, for per-plan API rate limits (billing registers the reader) ------------------

PlanReader = Callable[..., str | None]
_plan_readers: list[PlanReader] = []


def register_plan_reader(reader: PlanReader) -> None:
    """``reader(*, church)`` returns the code of the church's plan ('trial', 'starter', ...)."""
    if reader not in _plan_readers:
        _plan_readers.append(reader)


def church_plan_code(*, church) -> str | None:
    """The church's plan code; None without billing."""
    if not _plan_readers:
        return None
    return _plan_readers[0](church=church)
