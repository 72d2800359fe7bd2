"""Console: the offline client (logs sends, offline numbers), its simulated delivery reports in its own
wire shape (``callbacks``, scheduled by ``tasks.report_statuses``) and its one simulated error (``errors``)."""

from messaging.providers.console.client import ConsoleProvider, console_release_number, mask_phone
from messaging.providers.console.errors import SIMULATED_FAILURE_CODE
from messaging.providers.console.tasks import report_statuses, set_status_receiver

__all__ = [
    "SIMULATED_FAILURE_CODE",
    "ConsoleProvider",
    "console_release_number",
    "mask_phone",
    "report_statuses",
    "set_status_receiver",
]
