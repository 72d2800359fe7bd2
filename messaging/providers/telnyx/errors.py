"""Telnyx error codes → what they mean for us (plain-English reason, retry or not, account-level or not)."""

from messaging.providers.base import ErrorInfo, Reason

_CREDENTIALS = ErrorInfo(Reason.CREDENTIALS_REJECTED.format(provider="Telnyx"), sender_level=True)

# Telnyx error codes are digit strings; the HTTP status that carries them is not documented for several,
# so these decide. Codes 40001–40018 arrive in message.finalized webhooks rather than send responses.
TELNYX_ERRORS: dict[str, ErrorInfo] = {
    "10006": _CREDENTIALS,
    "10009": _CREDENTIALS,
    "10010": _CREDENTIALS,
    "10011": ErrorInfo(Reason.RATE_LIMITED.format(provider="Telnyx"), retryable=True),
    "40300": ErrorInfo(Reason.OPTED_OUT),
    "40302": ErrorInfo("The message is too large to send; shorten the text or remove attachments."),
    "40304": ErrorInfo("This combination of text and attachments can't be sent in one message."),
    "40305": ErrorInfo(
        "Our sending number isn't on our Telnyx messaging profile; ask support to check the number.",
        sender_level=True,
    ),
    "40308": ErrorInfo(
        "Our sending number can't send picture messages (MMS); remove the attachments.", sender_level=True
    ),
    "40309": ErrorInfo(Reason.REGION_NOT_ENABLED),
    "40310": ErrorInfo(Reason.INVALID_NUMBER),
    "40312": ErrorInfo("Our Telnyx messaging profile is disabled; contact support.", sender_level=True),
    "40316": ErrorInfo(Reason.NO_CONTENT),
    "40317": ErrorInfo("The attachments are invalid: at most 10, and under 1 MB in total."),
    "40318": ErrorInfo("Telnyx's sending queue for our account is full.", retryable=True),
    "40321": ErrorInfo("Our Telnyx number pool has no number that can send this message.", sender_level=True),
    "40328": ErrorInfo("The message is longer than carriers accept as one SMS; shorten it."),
    "40329": ErrorInfo(Reason.TOLL_FREE_NOT_VERIFIED, sender_level=True),
    "40333": ErrorInfo("Our Telnyx spend limit was reached; raise it or wait for it to reset.", sender_level=True),
    "40001": ErrorInfo(Reason.NOT_SMS_CAPABLE),
    "40002": ErrorInfo(Reason.SPAM_BLOCKED),
    "40003": ErrorInfo(Reason.SPAM_BLOCKED),
    "40008": ErrorInfo(Reason.UNDELIVERABLE),
    "40010": ErrorInfo(Reason.NOT_10DLC_REGISTERED, sender_level=True),
    "40011": ErrorInfo("The carrier throttled our texts because they were sent too fast.", retryable=True),
    "40014": ErrorInfo("The text waited too long in Telnyx's queue and expired unsent.", retryable=True),
    "40016": ErrorInfo("T-Mobile's daily limit for our 10DLC brand was reached.", sender_level=True),
    "40018": ErrorInfo("AT&T's per-minute limit for our 10DLC campaign was exceeded.", retryable=True),
}


# Number-order refusals (HTTP 422) that mean "someone else has it now": the church should pick another.
NUMBER_TAKEN_CODES = {"10015", "85001", "85006"}
