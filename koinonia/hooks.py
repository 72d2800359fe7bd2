"""Cross-app events, so dependencies keep pointing one way.

What a plan allows is asked through the plan policy (``koinonia/policy.py``); what happened is announced
here, as signals. Messaging sends them; billing (registered in its ``AppConfig.ready()``) meters usage
from them. Both are sent after the sending transaction commits, so a receiver never counts work that was
rolled back.
"""

from django.dispatch import Signal

# Sent (after commit) when segments are handed to a provider — by messaging per written batch of a
# broadcast, and by conversations per reply or confirmation. Arguments:
#   church_id: int          the church that sent them
#   segments: int           how many (always > 0)
#   message_id: int | None  the broadcast (messaging.Message); None for a conversation reply
#   branch_id: int | None   the branch the broadcast is charged to (branch budgets); None for church-wide
#   occurred_at: datetime   when they were handed over (decides the usage period)
# Billing adds them to the church's usage period and, with a branch, to the branch's budget usage.
segments_sent = Signal()

# Sent (after commit) by messaging when segments already announced through ``segments_sent`` failed
# before reaching the carrier (Telnyx ``sending_failed``, Twilio ``failed``). Arguments:
#   church_id: int          the church that sent them
#   segments: int           how many to take back (always > 0)
#   message_id: int | None  the broadcast they belonged to
#   branch_id: int | None   the branch the broadcast was charged to — the same as in ``segments_sent``
#   occurred_at: datetime   when they were counted as sent, so they come off the period they went on
# Billing takes them back off the church's usage period and the branch's budget usage.
segments_failed = Signal()
