"""Emails to staff about new inbound texts, by each person's preference (default: on for staff and up).

One email per burst: only the text that makes a thread unread notifies. Restricted threads notify only
owners, admins and the assignee, and never carry the text itself."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from churches.models import Role, StaffMembership
from conversations.models import ConversationMessage, StaffNotificationPreference


def inbound_notify(*, message_id: int) -> int:
    """Returns how many people were emailed."""
    message = (
        ConversationMessage.objects.select_related("conversation", "conversation__member", "church")
        .filter(pk=message_id, direction=ConversationMessage.Direction.INBOUND)
        .first()
    )
    if message is None:
        return 0
    conversation = message.conversation
    if conversation.unread_count != 1:
        return 0
    roles = [Role.OWNER, Role.ADMIN] if conversation.restricted else [Role.OWNER, Role.ADMIN, Role.STAFF]
    memberships = StaffMembership.objects.select_related("user").filter(church=message.church, user__is_active=True)
    if conversation.assignee_id:
        memberships = memberships.filter(user_id=conversation.assignee_id)
    else:
        memberships = memberships.filter(role__in=roles)
    opted_out = set(
        StaffNotificationPreference.objects.for_church(message.church)
        .filter(email_on_inbound=False)
        .values_list("user_id", flat=True)
    )
    recipients = [m.user.email for m in memberships if m.user_id not in opted_out]
    if not recipients:
        return 0
    name = (conversation.member.full_name if conversation.member_id else "") or "A visitor"
    context = {
        "church": message.church,
        "name": name,
        "body": "" if conversation.restricted else message.body,
        "restricted": conversation.restricted,
        "url": settings.PUBLIC_BASE_URL + reverse("conversation_detail", args=[conversation.pk]),
    }
    subject = f"New text from {context['name']} · {message.church.name}"
    body = render_to_string("conversations/email/inbound.txt", context)
    for address in recipients:
        send_mail(subject, body, None, [address])
    return len(recipients)
