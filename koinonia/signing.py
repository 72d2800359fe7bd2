"""What every signed webhook checks the same way, whatever signs it (Stripe's HMAC, Telnyx's Ed25519)."""

import time


def check_signed_at(timestamp: str, *, now: float | None, tolerance: int, error: type[Exception]) -> None:
    """Raise ``error`` unless ``timestamp`` (Unix seconds, as the sender wrote it) is within ``tolerance``
    seconds of ``now`` (default: the clock) on either side: an old one may be a replay, and one dated in
    the future would stay replayable for as long as its date is ahead."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise error("timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        raise error("timestamp outside the allowed window")
