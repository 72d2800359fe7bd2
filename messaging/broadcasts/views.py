"""Staff pages for messaging: the message list, compose (with live preview and a confirm step), message
detail with live progress and recipients, cancel and resend, and templates. Times are shown and typed in
the church's time zone."""

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin
from messaging.broadcasts import selectors, services
from messaging.broadcasts.approval import approval_rule_text
from messaging.broadcasts.forms import SERVICE_FIELD_TO_FORM, ComposeForm, IdListField, TemplateForm
from messaging.broadcasts.models import Message, MessageTemplate, Recipient
from messaging.segments import replace_smart_characters

PAGE_SIZE = 50
STAFF_ONLY = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}
VIEWERS_READ = {"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF}


class MessagingPage(ChurchPageMixin, View):
    """Renders in the church's time zone and tells templates whether the user may send."""

    roles = VIEWERS_READ

    def dispatch(self, request, *args, **kwargs):
        church = getattr(request, "church", None)
        if church is None:
            return super().dispatch(request, *args, **kwargs)
        with timezone.override(church.tzinfo):
            return super().dispatch(request, *args, **kwargs)

    @property
    def can_send(self) -> bool:
        return Role.at_least(self.request.role, Role.STAFF)

    def _int_param(self, name: str) -> int:
        try:
            return max(int(self.request.GET.get(name, 0)), 0)
        except ValueError:
            return 0


def audience_label(audience: dict) -> str:
    """Who a message went to, in a few words: "Everyone", or "2 groups · 1 branch · 3 members"."""
    if audience.get("all"):
        return "Everyone"
    parts = []
    for key, singular in (("branch_ids", "branch"), ("group_ids", "group"), ("member_ids", "member")):
        count = len(audience.get(key) or [])
        if count:
            parts.append(f"{count} {singular}{'' if count == 1 else 'es' if singular == 'branch' else 's'}")
    return " · ".join(parts) or "—"


def _keyset_page(rows) -> tuple[list, int | None]:
    size = PAGE_SIZE
    rows = list(rows[: size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].pk
    return rows, None


# --- Messages ------------------------------------------------------------------------------------


class MessageListView(MessagingPage):
    model = Message

    def church_queryset(self):
        return selectors.message_list(church=self.request.church, status=self.status)

    def get(self, request):
        self.status = request.GET.get("status") if request.GET.get("status") in Message.Status.values else None
        before = self._int_param("before")
        rows = self.get_queryset()
        if before:
            rows = rows.filter(id__lt=before)
        page, next_before = _keyset_page(rows)
        for message in page:
            message.audience_label = audience_label(message.audience)
        context = {
            "messages_page": page,
            "next_before": next_before,
            "is_first_page": not before,
            "status": self.status,
            "statuses": Message.Status.choices,
            "can_send": self.can_send,
        }
        return render(request, "messaging/message_list.html", context)


class ComposeView(MessagingPage):
    """GET shows the form (optionally started from a template); POST sends, schedules, or first asks
    for confirmation. Helper buttons work without JavaScript too: find members, replace smart quotes
    and dashes, and "back to edit" from the confirm step re-show the form as typed."""

    roles = STAFF_ONLY

    def get(self, request):
        initial = {"idempotency_key": uuid.uuid4().hex}
        template_id = request.GET.get("template")
        if template_id:
            initial["body"] = selectors.message_template_get(church=request.church, id=template_id).body
        return self._render(ComposeForm(initial=initial, church=request.church))

    def post(self, request):
        posted = request.POST.copy()
        if "fix_smart" in posted:
            posted["body"] = replace_smart_characters(posted.get("body", ""))
        if {"fix_smart", "find_members", "edit", "refresh_preview"} & set(posted):
            return self._render(ComposeForm(initial=_initial_from(posted), church=request.church), posted)
        form = ComposeForm(posted, church=request.church)
        if not form.is_valid():
            return self._render(form, posted, status=400)
        body, audience = form.cleaned_data["body"], form.audience
        preview = selectors.message_preview(
            church=request.church, body=body, audience=audience, acting_role=request.role
        )
        if preview.needs_confirmation and posted.get("confirmed") != "yes" and not preview.problems:
            return self._confirm(form, preview, posted)
        try:
            message = services.message_send(
                church=request.church,
                author=request.user,
                body=body,
                audience=audience,
                scheduled_at=form.cleaned_data["scheduled_for"],
                idempotency_key=form.cleaned_data["idempotency_key"],
                acting_role=request.role,
            )
        except BusinessRuleError as exc:
            form.add_error(SERVICE_FIELD_TO_FORM.get(exc.field), exc.message)
            return self._render(form, posted, status=409 if exc.status == 409 else 400)
        if message.status == Message.Status.HELD:
            messages.success(request, _("Saved. An admin has to approve this message before it is sent."))
        elif message.status == Message.Status.SCHEDULED:
            local = timezone.localtime(message.scheduled_at)
            messages.success(request, f"Scheduled for {local:%a %b %-d, %Y at %-I:%M %p} ({request.church.timezone}).")
        else:
            messages.success(request, f"Sending to {message.recipients_label}.")
        return redirect("message_detail", pk=message.pk)

    def _render(self, form: ComposeForm, posted=None, status: int = 200):
        church = self.request.church
        posted = posted if posted is not None else QueryDict()
        picked_ids = _ids(posted, "member_ids")
        query = posted.get("member_q", "").strip()
        searched = "find_members" in posted and bool(query)
        found = selectors.member_picker_search(church=church, q=query) if searched else []
        body = posted.get("body", form.initial.get("body", ""))
        audience = _posted_audience(posted) if posted else {"all": True}  # the form's default audience
        context = {
            "form": form,
            "picked_members": selectors.member_names(church=church, member_ids=picked_ids),
            "found_members": [m for m in found if m["id"] not in picked_ids],
            "searched": searched,
            "templates": selectors.template_list(church=church).select_related(None),
            "preview": selectors.message_preview(
                church=church,
                body=body,
                audience=audience,
                preview_member_id=_int_or_none(posted.get("preview_member")),
                acting_role=self.request.role,
            ),
            "approval_rule": approval_rule_text(church),
            "show_problems": bool(body) or form.is_bound,
            "confirm_threshold": selectors.confirm_threshold(church=church),
            "church": church,
            "has_sender": services.default_sender(church=church) is not None,  # else: "get a number" first
        }
        return render(self.request, "messaging/compose.html", context, status=status)

    def _confirm(self, form: ComposeForm, preview, posted):
        carried = [
            (name, value)
            for name in posted
            if name not in ("csrfmiddlewaretoken", "confirmed")
            for value in posted.getlist(name)
        ]
        context = {
            "preview": preview,
            "carried": carried,
            "audience": form.audience,
            "body": form.cleaned_data["body"],
            "scheduled_for": form.cleaned_data["scheduled_for"],
            "church": self.request.church,
        }
        return render(self.request, "messaging/confirm.html", context)


def _initial_from(posted: QueryDict) -> dict:
    """The compose form's fields as posted, to show them again unvalidated (after a helper button)."""
    initial = {}
    for name, field in ComposeForm.base_fields.items():
        if isinstance(field, forms.MultipleChoiceField | IdListField):
            initial[name] = posted.getlist(name)
        elif name in posted:
            initial[name] = posted.get(name)
    return initial


def _int_or_none(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _ids(posted: QueryDict, name: str) -> list[int]:
    return sorted({int(value) for value in posted.getlist(name) if value.isdigit()})


def _posted_audience(posted: QueryDict) -> dict | None:
    if posted.get("audience_kind", "all") == "all":
        return {"all": True}
    audience = {key: _ids(posted, key) for key in ("branch_ids", "group_ids", "member_ids")}
    return {key: ids for key, ids in audience.items() if ids} or None


class MemberSearchView(MessagingPage):
    """JSON for the compose page's live member search."""

    roles = STAFF_ONLY

    def get(self, request):
        q = request.GET.get("q", "")
        if "\x00" in q:  # a machine-ish endpoint: bad input is a 400 in the API's error shape
            message = "The request contains a NUL character, which is not allowed."
            return JsonResponse({"error": {"code": "malformed_request", "message": message, "details": {}}}, status=400)
        return JsonResponse({"results": selectors.member_picker_search(church=request.church, q=q)})


class MessageDetailView(MessagingPage):
    model = Message

    def church_queryset(self):
        return selectors.message_list(church=self.request.church)

    def get(self, request, pk):
        message = self.get_object()
        status = request.GET.get("status") if request.GET.get("status") in Recipient.Status.values else None
        after = self._int_param("after")
        recipients, next_after = selectors.recipient_page(
            church=request.church, message=message, status=status, after=after, size=PAGE_SIZE
        )
        message.audience_label = audience_label(message.audience)
        context = {
            "message": message,
            "progress": progress_data(message),
            "recipients": recipients,
            "next_after": next_after,
            "is_first_page": not after,
            "status": status,
            "status_filters": _status_filters(message),
            "can_send": self.can_send,
            "can_approve": message.status == Message.Status.HELD and Role.at_least(request.role, Role.ADMIN),
        }
        return render(request, "messaging/message_detail.html", context)


class MessageProgressView(MessagingPage):
    """Polled every two seconds by the detail page while a message is on its way."""

    model = Message

    def church_queryset(self):
        return selectors.message_list(church=self.request.church).select_related(None)

    def get(self, request, pk):
        return JsonResponse(progress_data(self.get_object()))


class MessageCancelView(MessagingPage):
    roles = STAFF_ONLY

    def post(self, request, pk):
        try:
            message = services.message_cancel(church=request.church, message_id=pk, acting_user=request.user)
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Canceled. {message.skipped_count} texts that were still waiting won't be sent.")
        return redirect("message_detail", pk=pk)


class MessageResendFailedView(MessagingPage):
    roles = STAFF_ONLY

    def post(self, request, pk):
        try:
            resent = services.message_resend_failed(church=request.church, message_id=pk, author=request.user)
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
            return redirect("message_detail", pk=pk)
        messages.success(request, f"Resending to {resent.recipients_label} whose texts failed.")
        return redirect("message_detail", pk=resent.pk)


class MessageApproveView(MessagingPage):
    """An admin releases a broadcast held by the church's send-safety rule."""

    roles = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        try:
            services.message_approve(church=request.church, message_id=pk, acting_user=request.user)
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Approved. The message is on its way."))
        return redirect("message_detail", pk=pk)


class MessageRejectView(MessagingPage):
    roles = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        try:
            services.message_reject(
                church=request.church,
                message_id=pk,
                acting_user=request.user,
                reason=request.POST.get("reason", "")[:500],
            )
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Rejected. Nothing was sent, and the author has been told."))
        return redirect("message_detail", pk=pk)


# The rest are on their way.
MESSAGE_BADGES = {"sent": "badge-ok", "failed": "badge-bad", "canceled": "", "rejected": "badge-bad"}


def progress_data(message: Message) -> dict:
    """Counts and bar widths (percent of recipients) for the progress bar and its JSON."""
    counts = message.counts
    total = max(counts["recipients"], 1)
    if not message.recipients_counted:
        counts = {**counts, "recipients": "counting…"}
    done = counts["delivered"] + counts["failed"] + counts["skipped"]
    widths = {key: round(100 * counts[key] / total, 2) for key in ("delivered", "sent", "failed", "skipped")}
    return {
        "id": message.pk,
        "status": message.status,
        "status_label": message.get_status_display(),
        "badge": MESSAGE_BADGES.get(message.status, "badge-warn"),
        "status_detail": message.status_detail,
        "is_finished": message.is_finished,
        "counts": counts,
        "widths": widths,
        "done": done,
        "percent_done": 100 if message.is_finished else min(round(100 * done / total), 100),
        "can_cancel": not message.is_finished,
        "can_resend": message.is_finished and counts["failed"] > 0,
    }


def _status_filters(message: Message) -> list[tuple[str | None, str, int]]:
    counts = message.counts
    return [
        (None, "All", counts["recipients"]),
        ("failed", "Failed", counts["failed"]),
        ("delivered", "Delivered", counts["delivered"]),
        ("sent", "Sent", counts["sent"]),
        ("queued", "Waiting", counts["queued"]),
        ("skipped", "Skipped", counts["skipped"]),
    ]


# --- Templates -----------------------------------------------------------------------------------


class TemplateListView(MessagingPage):
    model = MessageTemplate

    def church_queryset(self):
        return selectors.template_list(church=self.request.church)

    def get(self, request):
        context = {"templates": self.get_queryset(), "can_send": self.can_send}
        return render(request, "messaging/template_list.html", context)


class TemplateCreateView(MessagingPage):
    roles = STAFF_ONLY

    def get(self, request):
        return self._render(TemplateForm())

    def post(self, request):
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                template = services.template_create(
                    church=request.church, acting_user=request.user, **form.cleaned_data
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, f"Saved the template “{template.name}”.")
                return redirect("message_templates")
        return self._render(form, status=400)

    def _render(self, form, status=200):
        return render(self.request, "messaging/template_form.html", {"form": form, "template": None}, status=status)


class TemplateEditView(MessagingPage):
    roles = STAFF_ONLY
    model = MessageTemplate

    def church_queryset(self):
        return selectors.template_list(church=self.request.church)

    def get(self, request, pk):
        template = self.get_object()
        return self._render(TemplateForm(initial={"name": template.name, "body": template.body}), template)

    def post(self, request, pk):
        template = self.get_object()
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                services.template_update(
                    church=request.church, template=template, acting_user=request.user, **form.cleaned_data
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, f"Saved the template “{template.name}”.")
                return redirect("message_templates")
        return self._render(form, template, status=400)

    def _render(self, form, template, status=200):
        context = {"form": form, "template": template}
        return render(self.request, "messaging/template_form.html", context, status=status)


class TemplateDeleteView(MessagingPage):
    roles = STAFF_ONLY
    model = MessageTemplate

    def church_queryset(self):
        return selectors.template_list(church=self.request.church)

    def post(self, request, pk):
        template = self.get_object()
        services.template_delete(church=request.church, template=template, acting_user=request.user)
        messages.success(request, f"Deleted the template “{template.name}”.")
        return redirect(reverse("message_templates"))
