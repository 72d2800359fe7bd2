"""Twilio error codes → what they mean for us (plain-English reason, retry or not, account-level or not)."""

from messaging.providers.base import ErrorInfo, Reason

_CREDENTIALS = ErrorInfo(Reason.CREDENTIALS_REJECTED.format(provider="Twilio"), sender_level=True)

# Twilio error codes are integers on the wire; kept as strings here so both providers share one shape.
# Codes 30xxx arrive as ErrorCode in status callbacks rather than in send responses.
TWILIO_ERRORS: dict[str, ErrorInfo] = {
    "20003": _CREDENTIALS,
    "20404": ErrorInfo("Twilio doesn't know our account; check TWILIO_ACCOUNT_SID.", sender_level=True),
    "20429": ErrorInfo(Reason.RATE_LIMITED.format(provider="Twilio"), retryable=True),
    "21211": ErrorInfo(Reason.INVALID_NUMBER),
    "21408": ErrorInfo(Reason.REGION_NOT_ENABLED),
    "21603": ErrorInfo("No sending number was given; choose a sending number for this church.", sender_level=True),
    "21606": ErrorInfo("Our sending number isn't an SMS-capable number on our Twilio account.", sender_level=True),
    "21610": ErrorInfo(Reason.OPTED_OUT),
    "21612": ErrorInfo("Texts can't be routed from our sending number to this number."),
    "21614": ErrorInfo(Reason.NOT_SMS_CAPABLE),
    "21617": ErrorInfo("The message is over Twilio's 1,600-character limit; shorten it."),
    "21619": ErrorInfo(Reason.NO_CONTENT),
    "21623": ErrorInfo(Reason.TOO_MANY_MEDIA),
    "30003": ErrorInfo(Reason.UNDELIVERABLE),
    "30005": ErrorInfo("The number doesn't exist or is no longer in service."),
    "30006": ErrorInfo(Reason.NOT_SMS_CAPABLE),
    "30007": ErrorInfo(Reason.SPAM_BLOCKED),
    "30032": ErrorInfo(Reason.TOLL_FREE_NOT_VERIFIED, sender_level=True),
    "30034": ErrorInfo(Reason.NOT_10DLC_REGISTERED, sender_level=True),
}


# IncomingPhoneNumbers refusals meaning the number can't be bought (taken, or no longer offered).
NUMBER_TAKEN_CODES = {"21422", "21452"}
