"""Staff pages for recurring messages: the list, one schedule with its next five send times and the
messages it sent, the create / edit form (with a "preview send times" step), pause, resume, delete.
Viewers read; staff change."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin
from messaging.recurring import recurrence
from messaging.recurring import selectors as recurring_selectors
from messaging.recurring import services as recurring_services
from messaging.recurring.forms import SERVICE_FIELD_TO_FORM, RecurringForm, initial_from
from messaging.recurring.models import RecurringMessage

VIEWERS_READ = {"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF}
STAFF_ONLY = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}


def _local_times(times, schedule) -> list[str]:
    return [f"{at.astimezone(schedule.tz):%a %b %-d, %Y · %-I:%M %p %Z}" for at in times]


def _audience_words(audience: dict) -> str:
    if audience.get("all"):
        return "Everyone"
    parts = []
    for key, singular, plural in (
        ("branch_ids", "branch", "branches"),
        ("group_ids", "group", "groups"),
        ("member_ids", "member", "members"),
    ):
        count = len(audience.get(key) or [])
        if count:
            parts.append(f"{count} {singular if count == 1 else plural}")
    return " · ".join(parts) or "—"


class RecurringPage(ChurchPageMixin, View):
    model = RecurringMessage
    roles = VIEWERS_READ

    def church_queryset(self):
        return recurring_selectors.recurring_list(church=self.request.church)

    def dispatch(self, request, *args, **kwargs):
        church = getattr(request, "church", None)
        if church is None:
            return super().dispatch(request, *args, **kwargs)
        with timezone.override(church.tzinfo):
            return super().dispatch(request, *args, **kwargs)

    @property
    def can_change(self) -> bool:
        return Role.at_least(self.request.role, Role.STAFF)


class RecurringListView(RecurringPage):
    def get(self, request):
        rows = list(self.get_queryset()[:200])
        for row in rows:
            row.description = recurrence.describe(row.schedule)
            row.audience_words = _audience_words(row.audience)
            row.next_local = _local_times([row.next_run_at], row.schedule)[0] if row.state == "active" else ""
        context = {"rows": rows, "can_change": self.can_change}
        return render(request, "messaging/recurring/list.html", context)


class RecurringDetailView(RecurringPage):
    def get(self, request, pk):
        recurring = self.get_object()
        context = {
            "recurring": recurring,
            "description": recurrence.describe(recurring.schedule),
            "audience_words": _audience_words(recurring.audience),
            "next_runs": _local_times(recurring_selectors.recurring_next_runs(recurring=recurring), recurring.schedule),
            "firings": recurring_selectors.recurring_firings(church=request.church, recurring=recurring),
            "can_change": self.can_change,
        }
        return render(request, "messaging/recurring/detail.html", context)


class RecurringFormView(RecurringPage):
    """New (no pk) and edit. "Preview send times" shows the next five without saving."""

    roles = STAFF_ONLY

    def get(self, request, pk=None):
        recurring = self.get_object() if pk else None
        if recurring is not None:
            form = RecurringForm(initial=initial_from(recurring), church=request.church)
        else:
            form = RecurringForm(initial={"start_date": timezone.localdate()}, church=request.church)
        return self._render(form, recurring)

    def post(self, request, pk=None):
        recurring = self.get_object() if pk else None
        form = RecurringForm(request.POST, church=request.church)
        if not form.is_valid():
            return self._render(form, recurring, status=400)
        try:
            if "preview" in request.POST:
                schedule, times = recurring_selectors.schedule_preview(church=request.church, **form.schedule_fields())
                preview = {"description": recurrence.describe(schedule), "times": _local_times(times, schedule)}
                return self._render(form, recurring, preview=preview)
            if recurring is None:
                recurring = recurring_services.recurring_create(
                    church=request.church, acting_user=request.user, **form.service_fields()
                )
                messages.success(request, "Recurring message saved.")
            else:
                recurring = recurring_services.recurring_update(
                    church=request.church, recurring=recurring, acting_user=request.user, **form.service_fields()
                )
                messages.success(request, "Changes saved.")
        except BusinessRuleError as exc:
            form.add_error(SERVICE_FIELD_TO_FORM.get(exc.field), exc.message)
            return self._render(form, recurring, status=400)
        return redirect("recurring_detail", pk=recurring.pk)

    def _render(self, form, recurring, *, preview=None, status: int = 200):
        context = {
            "form": form,
            "recurring": recurring,
            "preview": preview,
            "church": self.request.church,
            "current_description": recurrence.describe(recurring.schedule) if recurring else "",
        }
        return render(self.request, "messaging/recurring/form.html", context, status=status)


class RecurringActionView(RecurringPage):
    """POST-only pause / resume / delete."""

    roles = STAFF_ONLY
    action = ""

    def post(self, request, pk):
        recurring = self.get_object()
        try:
            if self.action == "pause":
                recurring_services.recurring_pause(church=request.church, recurring=recurring, acting_user=request.user)
                messages.success(request, "Paused. Nothing is sent until you resume it.")
            elif self.action == "resume":
                recurring = recurring_services.recurring_resume(
                    church=request.church, recurring=recurring, acting_user=request.user
                )
                when = _local_times([recurring.next_run_at], recurring.schedule)[0]
                messages.success(request, f"Resumed. Next send: {when}.")
            else:
                recurring_services.recurring_delete(
                    church=request.church, recurring=recurring, acting_user=request.user
                )
                messages.success(request, "Deleted. Messages it already sent stay in your message list.")
                return redirect("recurring_list")
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        return redirect("recurring_detail", pk=recurring.pk)
