"""Messaging's answers to other apps' announcements (connected in ``MessagingConfig.ready``)."""

from churches.models import Church


def welcome_subscribed_members(sender, *, church_id: int, member_ids: list[int], **kwargs) -> None:
    """``churches.signals.members_subscribed`` (after commit): queue the welcome text, if the church
    wrote one. ``messaging.broadcasts.welcome`` decides who gets it (new members, once)."""
    if not Church.objects.filter(pk=church_id).exclude(welcome_text="").exists():
        return
    from messaging.broadcasts.tasks import send_welcome

    send_welcome.delay(church_id, list(member_ids))
