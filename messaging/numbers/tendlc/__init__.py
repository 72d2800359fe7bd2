"""10DLC registration (docs/providers.md §1.9): a church registers itself (the brand), then how
it texts its members (the campaign); carriers review both; once the campaign is ``MNO_PROVISIONED``
the church's numbers are linked to it.

- ``state``: the provider's statuses grouped, and :func:`plain_state` (what staff read).
- ``submission``: save drafts, submit, resubmit (staff writes; the provider is called outside
  transactions).
- ``status``: apply webhooks and polls, link numbers once live.

Until a number carries its live campaign's ``campaign_id`` the send pipeline holds it to
``SMS_RATE_UNREGISTERED_SENDER`` (``messaging.broadcasts.ratelimit``). The registrar itself (Telnyx, or the
console stand-in) is ``messaging.providers.tendlc``.
"""

from messaging.numbers.tendlc.state import (
    CAMPAIGN_FAILED,
    CAMPAIGN_INACTIVE,
    CAMPAIGN_PENDING,
    PlainState,
    brand_ready,
    current_campaign,
    plain_state,
)
from messaging.numbers.tendlc.status import (
    campaign_assign_numbers,
    church_poll,
    handle_brand_update,
    handle_campaign_update,
    handle_number_update,
    pending_church_ids,
)
from messaging.numbers.tendlc.submission import (
    BRAND_FIELDS,
    CAMPAIGN_FIELDS,
    TenDlcSubmitError,
    brand_save,
    brand_submit,
    campaign_request_submission,
    campaign_save,
    campaign_submit,
    campaign_submit_when_ready,
)

__all__ = [
    "BRAND_FIELDS",
    "CAMPAIGN_FAILED",
    "CAMPAIGN_FIELDS",
    "CAMPAIGN_INACTIVE",
    "CAMPAIGN_PENDING",
    "PlainState",
    "TenDlcSubmitError",
    "brand_ready",
    "brand_save",
    "brand_submit",
    "campaign_assign_numbers",
    "campaign_request_submission",
    "campaign_save",
    "campaign_submit",
    "campaign_submit_when_ready",
    "church_poll",
    "current_campaign",
    "handle_brand_update",
    "handle_campaign_update",
    "handle_number_update",
    "pending_church_ids",
    "plain_state",
]
