"""Writes for conversations, split by flow: inbound (webhook → consent → thread), outbound (replies and
automatic texts), handoff (to the provider, delivery status) and threads (staff actions, review queue,
settings). Import from here: ``from conversations import services``."""

from conversations.services.handoff import message_deliver, on_delivery_status, public_media_url, recipient_opted_out
from conversations.services.inbound import (
    help_text,
    inbound_receive,
    inbox_settings_get,
    opt_out_confirmation,
    within_office_hours,
)
from conversations.services.outbound import Upload, reply_send
from conversations.services.threads import (
    can_manage_restricted,
    canned_reply_create,
    canned_reply_delete,
    canned_reply_update,
    conversation_mark_read,
    conversation_update,
    inbox_settings_update,
    note_add,
    notification_preference_set,
    review_confirm,
    review_dismiss,
)

__all__ = [
    "Upload",
    "can_manage_restricted",
    "canned_reply_create",
    "canned_reply_delete",
    "canned_reply_update",
    "conversation_mark_read",
    "conversation_update",
    "help_text",
    "inbound_receive",
    "inbox_settings_get",
    "inbox_settings_update",
    "message_deliver",
    "note_add",
    "notification_preference_set",
    "on_delivery_status",
    "opt_out_confirmation",
    "public_media_url",
    "recipient_opted_out",
    "reply_send",
    "review_confirm",
    "review_dismiss",
    "within_office_hours",
]
