"""The dashboard: one page that composes every app's read-side (so it lives in the project package,
which may depend on all apps; the apps themselves keep their one-way dependencies)."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone
from django.views import View

from churches.selectors import member_status_counts
from conversations.selectors import conversation_list, unread_total
from koinonia import policy
from koinonia.tenancy import ChurchPageMixin
from messaging.broadcasts.selectors import broadcast_stats, message_list
from messaging.numbers.services import default_sender


class DashboardView(ChurchPageMixin, View):
    def get(self, request):
        church, user, role = request.church, request.user, request.role
        since = timezone.now() - timedelta(days=30)
        members = member_status_counts(church=church)
        stats = broadcast_stats(church=church, since=since)
        finished = stats["delivered"] + stats["failed"]
        context = {
            "church": church,
            "members": members,
            "stats": stats,
            "delivery_rate": round(100 * stats["delivered"] / finished) if finished else None,
            "recent_messages": list(message_list(church=church).select_related("author")[:5]),
            "unread": unread_total(church=church, user=user, role=role),
            "waiting": list(
                conversation_list(church=church, user=user, role=role, filter_by="open").filter(unread_count__gt=0)[:5]
            ),
            "usage": policy.current().usage_summary(church=church),
            "has_number": default_sender(church=church) is not None,
        }
        return render(request, "dashboard.html", context)
