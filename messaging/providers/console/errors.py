"""The console provider's one error: the failure it simulates at ``CONSOLE_SMS_FAILURE_RATE``."""

from messaging.providers.base import ErrorInfo, Reason

SIMULATED_FAILURE_CODE = "console_undeliverable"

CONSOLE_ERRORS = {SIMULATED_FAILURE_CODE: ErrorInfo(f"{Reason.UNDELIVERABLE} (Simulated by the console provider.)")}
