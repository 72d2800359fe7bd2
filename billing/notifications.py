"""Billing emails to a church's owners: 80% / 100% of the allowance, and a failed payment."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from billing import rules, selectors
from churches.models import Church
from churches.selectors import owner_emails

SUBJECTS = {
    "usage_80": "{church}: 80% of this month's texts used",
    "usage_100": "{church}: this month's included texts are used up",
    "payment_failed": "{church}: we couldn't take your payment",
}


def billing_email_send(*, church_id: int, kind: str, used: int | None = None) -> int:
    """``used``: the segments counted when the threshold was crossed (the email may go out a bit later)."""
    church = Church.objects.filter(pk=church_id).first()
    if church is None or kind not in SUBJECTS:
        return 0
    sub = selectors.subscription_find(church=church)
    if sub is None:
        return 0
    recipients = owner_emails(church=church)
    if not recipients:
        return 0
    summary = selectors.usage_summary(church=church, sub=sub)
    context = {
        "church": church,
        "summary": summary,
        "used": summary["used"] if used is None else used,
        "period_end": rules.day(rules.current_period(sub).end, church),
        "billing_url": f"{settings.PUBLIC_BASE_URL}{reverse('billing_home')}",
        "overage_price": rules.money(sub.plan.overage_cents_per_1000 or 0),
    }
    body = render_to_string(f"billing/email/{kind}.txt", context)
    return send_mail(
        SUBJECTS[kind].format(church=church.name), body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False
    )
