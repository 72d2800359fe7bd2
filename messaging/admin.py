"""Support's view of messaging: sender numbers (assigned to churches here), broadcasts (read-only, with
cancel and resend-to-failed actions that go through the services and are audited), recipients and
provider events (read-only; phones are never listed)."""

import json
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from churches.models import Church
from churches.phones import InvalidPhone, parse_phone
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError
from messaging import webhooks
from messaging.broadcasts import services
from messaging.broadcasts.models import Message, ProviderEvent, Recipient
from messaging.numbers import linking
from messaging.numbers import ordering as numbers
from messaging.numbers import services as number_services
from messaging.numbers.models import (
    NumberCheck,
    SenderNumber,
    TenDlcBrand,
    TenDlcCampaign,
    TenDlcEvent,
    TenDlcNumberAssignment,
)

PROVIDER_TEST_PREFIX = "+1555"  # provider test numbers aren't valid for libphonenumber (as in sender_number_add)


class SenderNumberForm(forms.ModelForm):
    class Meta:
        model = SenderNumber
        fields = [
            "church",
            "phone_number",
            "provider",
            "status",
            "status_detail",
            "is_default",
            "provider_number_id",
            "messaging_profile_id",
            "campaign_id",
        ]

    def clean(self):
        data = super().clean()
        church, raw = data.get("church"), (data.get("phone_number") or "").strip()
        if church is not None and raw:
            try:
                data["phone_number"] = parse_phone(raw, default_region=church.default_region).e164
            except InvalidPhone as exc:
                if not raw.startswith(PROVIDER_TEST_PREFIX):
                    self.add_error("phone_number", str(exc))
        return data  # the model's uniqueness check then runs on the normalized number


class SimulateInboundForm(forms.Form):
    from_number = forms.CharField(label="From", max_length=32, help_text="The member's or visitor's phone (E.164).")
    text = forms.CharField(label="Text", max_length=1600, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_from_number(self):
        raw = self.cleaned_data["from_number"].strip()
        try:
            return parse_phone(raw, default_region="US").e164
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from None


class NumberProvisionForm(forms.Form):
    church = forms.ModelChoiceField(queryset=Church.objects.order_by("name"))
    area_code = forms.CharField(max_length=8, help_text="Three digits, e.g. 312.")
    phone_number = forms.CharField(
        max_length=20, required=False, help_text="Leave empty to search; fill in (from the results) to order."
    )


@admin.register(SenderNumber)
class SenderNumberAdmin(admin.ModelAdmin):
    form = SenderNumberForm
    list_display = [
        "phone_number",
        "church",
        "provider",
        "status",
        "short_status_detail",
        "is_default",
        "campaign_id",
        "last_verified_at",
    ]
    list_filter = ["status", "provider", "is_default"]
    search_fields = ["phone_number", "church__name", "church__slug"]
    list_select_related = ["church"]
    autocomplete_fields = ["church"]
    readonly_fields = ["last_verified_at", "provider_order_id", "alerted_problems", "created_at", "recent_checks"]
    actions = ["run_linking_recovery", "simulate_inbound_text"]
    change_list_template = "admin/messaging/sendernumber/change_list.html"

    @admin.display(description="Problem")
    def short_status_detail(self, obj):
        return (obj.status_detail[:80] + "…") if len(obj.status_detail) > 80 else obj.status_detail

    @admin.display(description="Recent checks")
    def recent_checks(self, obj):
        # Read-only history, not an inline: an inline formset would demand management data on every save.
        if obj.pk is None:
            return "—"
        checks = NumberCheck.objects.for_church(obj.church_id).filter(sender=obj)[:10]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{c.checked_at:%Y-%m-%d %H:%M}",
                    c.get_outcome_display(),
                    " ".join(c.problems),
                    " ".join(c.repairs),
                    c.error,
                )
                for c in checks
            ),
        )
        link = reverse("admin:messaging_numbercheck_changelist") + "?" + urlencode({"q": obj.phone_number})
        return format_html(
            "<table><tr><th>When</th><th>Outcome</th><th>Problems</th><th>Repairs</th><th>Error</th></tr>{}</table>"
            '<a href="{}">All checks</a>',
            rows or format_html('<tr><td colspan="5">Not checked yet.</td></tr>'),
            link,
        )

    @admin.action(description="Run phone-linking recovery now")
    def run_linking_recovery(self, request, queryset):
        # Synchronous on purpose: support wants the verdict on screen (a handful of provider calls each).
        counts = {"ok": 0, "repaired": 0, "failed": 0}
        for sender_id in queryset.values_list("pk", flat=True):
            check = linking.sender_number_check(sender_id=sender_id, acting_user=request.user)
            if check is not None:
                counts[check.outcome] += 1
        level = messages.WARNING if counts["failed"] else messages.SUCCESS
        self.message_user(
            request,
            f"Checked {sum(counts.values())}: {counts['ok']} fine, {counts['repaired']} repaired, "
            f"{counts['failed']} need attention (see each number's checks).",
            level,
        )

    def get_urls(self):
        extra = [
            path("provision/", self.admin_site.admin_view(self.provision_view), name="messaging_number_provision"),
            path(
                "<int:pk>/simulate-inbound/",
                self.admin_site.admin_view(self.simulate_inbound_view),
                name="messaging_number_simulate_inbound",
            ),
        ]
        return extra + super().get_urls()

    def get_actions(self, request):
        actions = super().get_actions(request)
        if settings.SMS_PROVIDER != "console":  # a real carrier: nothing may pretend to be one
            actions.pop("simulate_inbound_text", None)
        return actions

    @admin.action(description="Simulate an inbound text to this number (console provider)")
    def simulate_inbound_text(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Pick exactly one number.", messages.WARNING)
            return None
        return redirect("admin:messaging_number_simulate_inbound", queryset.get().pk)

    def simulate_inbound_view(self, request, pk):
        """Demos and development: a text "from" a phone to one of our numbers, through the same ingest
        path as a carrier's (``messaging.webhooks.simulate_inbound``)."""
        if settings.SMS_PROVIDER != "console" or not self.has_change_permission(request):
            raise PermissionDenied
        number = SenderNumber.objects.select_related("church").filter(pk=pk).first()
        if number is None:
            raise Http404("No such number.")
        form = SimulateInboundForm(request.POST or None, initial={"from_number": "+13125550123"})
        if request.method == "POST" and form.is_valid():
            webhooks.simulate_inbound(
                from_number=form.cleaned_data["from_number"],
                to_number=number.phone_number,
                text=form.cleaned_data["text"],
            )
            audit_record(
                church=number.church,
                actor=request.user,
                action="support.inbound_simulated",
                target=number,
                data={"from": form.cleaned_data["from_number"][-4:]},
            )
            self.message_user(request, f"Simulated a text to {number.phone_number} ({number.church}). Open the inbox.")
            return redirect("admin:messaging_sendernumber_change", number.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Simulate an inbound text to {number.phone_number}",
            "form": form,
            "number": number,
            "opts": self.model._meta,
        }
        return render(request, "admin/messaging/sendernumber/simulate_inbound.html", context)

    def provision_view(self, request):
        """Search a church's area code and order a number for it, as the church's admins can."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NumberProvisionForm(request.POST or None)
        results = None
        if request.method == "POST" and form.is_valid():
            church, data = form.cleaned_data["church"], form.cleaned_data
            try:
                if data["phone_number"]:
                    number = numbers.number_order(
                        church=church, phone_number=data["phone_number"], acting_user=request.user
                    )
                    self.message_user(
                        request, f"Ordered {number.phone_number} for {church} ({number.get_status_display()})."
                    )
                    return redirect("admin:messaging_sendernumber_change", number.pk)
                results = numbers.number_search(church=church, area_code=data["area_code"])
            except BusinessRuleError as exc:
                form.add_error("phone_number" if exc.field == "phone_number" else "area_code", exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "Order a number for a church",
            "form": form,
            "results": results,
            "opts": self.model._meta,
        }
        return render(request, "admin/messaging/sendernumber/provision.html", context)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            audit_record(
                church=obj.church,
                actor=request.user,
                action="support.sender_number.changed",
                target=obj,
                data={"fields": form.changed_data},
            )
            return
        # New numbers go through the service (normalization, ownership, audit).
        fields = {name: value for name, value in form.cleaned_data.items() if name not in ("church", "phone_number")}
        number = number_services.sender_number_add(
            church=form.cleaned_data["church"],
            phone_number=form.cleaned_data["phone_number"],
            acting_user=request.user,
            **fields,
        )
        obj.pk, obj.created_at = number.pk, number.created_at
        obj._state.adding = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "church",
        "status",
        "short_body",
        "recipient_count",
        "delivered_count",
        "failed_count",
        "skipped_count",
        "created_at",
    ]
    list_filter = ["status", "encoding"]
    search_fields = ["=id", "church__name", "church__slug"]
    list_select_related = ["church"]
    show_full_result_count = False
    actions = ["cancel_messages", "resend_to_failed"]
    fields = [
        "church",
        "status",
        "status_detail",
        "recipients_link",
        "body",
        "media_urls",
        "audience",
        "encoding",
        "segments",
        "author",
        "api_key",
        "sender",
        "resend_of",
        "idempotency_key",
        "scheduled_at",
        "expires_at",
        "recipient_count",
        "queued_count",
        "sent_count",
        "delivered_count",
        "failed_count",
        "skipped_count",
        "segments_sent",
        "created_at",
        "prepared_at",
        "last_dispatched_at",
        "completed_at",
        "canceled_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # broadcasts are sent by churches (pages or API), never typed in here

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Body")
    def short_body(self, obj):
        return obj.body[:60] + ("…" if len(obj.body) > 60 else "")

    @admin.display(description="Recipients")
    def recipients_link(self, obj):
        url = reverse("admin:messaging_recipient_changelist") + f"?message__id__exact={obj.pk}"
        return format_html('<a href="{}">{} recipients</a>', url, obj.recipient_count)

    @admin.action(description="Cancel the selected messages", permissions=["change"])
    def cancel_messages(self, request, queryset):
        self._each(request, queryset, self._cancel, done="Canceled")

    @admin.action(description="Resend the selected messages to their failed recipients", permissions=["change"])
    def resend_to_failed(self, request, queryset):
        self._each(request, queryset, self._resend, done="Resent")

    def _cancel(self, request, message):
        canceled = services.message_cancel(church=message.church, message_id=message.pk, acting_user=request.user)
        return {"skipped": canceled.skipped_count}

    def _resend(self, request, message):
        resent = services.message_resend_failed(church=message.church, message_id=message.pk, author=request.user)
        return {
            "resend_message_id": resent.pk,
            "recipients": resent.recipient_count if resent.recipients_counted else None,
        }

    def _each(self, request, queryset, operation, *, done: str):
        succeeded, refused = [], []
        for message in queryset.select_related("church"):
            try:
                result = operation(request, message)
            except BusinessRuleError as exc:
                refused.append(f"{message.pk}: {exc.message}")
                continue
            audit_record(
                church=message.church,
                actor=request.user,
                action=f"support.message.{operation.__name__.strip('_')}",
                target=message,
                data={"via": "admin", **result},
            )
            succeeded.append(str(message.pk))
        if succeeded:
            self.message_user(request, f"{done} message(s) {', '.join(succeeded)}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not changed — " + "; ".join(refused), messages.WARNING)


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False  # these tables are large: no second COUNT(*) per page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ["id", "message_link", "church", "status", "error_code", "attempts", "sent_at", "delivered_at"]
    list_filter = ["status"]
    # Exact matches only: each is served by an index (provider id) or the primary key.
    search_fields = ["=provider_message_id", "=message__id"]
    search_help_text = "Exact provider message id, or a message id."
    list_select_related = ["church"]
    raw_id_fields = ["message", "member"]
    fields = [
        "church",
        "message",
        "member",
        "masked_phone",
        "status",
        "provider_message_id",
        "segments",
        "error_code",
        "error_reason",
        "attempts",
        "send_after",
        "claimed_until",
        "queued_at",
        "sent_at",
        "delivered_at",
        "failed_at",
        "last_event_at",
    ]
    readonly_fields = ["masked_phone"]

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in ("message__id__exact", "message__id") or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Message", ordering="message_id")
    def message_link(self, obj):
        url = reverse("admin:messaging_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message_id)

    @admin.display(description="Phone")
    def masked_phone(self, obj):
        phone = obj.phone or ""
        return f"•••{phone[-4:]}" if len(phone) > 4 else "—"


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "event_type", "event_id", "outcome", "provider_message_id"]
    list_filter = ["outcome", "provider"]
    search_fields = ["=event_id", "=provider_message_id"]
    search_help_text = "Exact event id or provider message id."
    fields = [
        "provider",
        "event_id",
        "event_type",
        "provider_message_id",
        "occurred_at",
        "received_at",
        "processed_at",
        "outcome",
        "detail",
        "payload_pretty",
    ]
    readonly_fields = ["payload_pretty"]

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True, default=str))


@admin.register(NumberCheck)
class NumberCheckAdmin(admin.ModelAdmin):
    list_display = ["checked_at", "sender", "church", "outcome", "triggered_by"]
    list_filter = ["outcome"]
    search_fields = ["sender__phone_number", "church__name", "church__slug"]
    list_select_related = ["sender", "church", "triggered_by"]
    readonly_fields = ["church", "sender", "checked_at", "outcome", "problems", "repairs", "error", "triggered_by"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- 10DLC registration ---------------------------------------------------------------------------


class TenDlcPollAction:
    """ "Poll provider now": ask the registrar about the selected churches' registrations at once."""

    @admin.action(description="Poll provider now")
    def poll_provider_now(self, request, queryset):
        from messaging.numbers import tendlc

        church_ids = sorted(set(queryset.values_list("church_id", flat=True)))
        changed = sum(tendlc.church_poll(church_id=church_id) for church_id in church_ids)
        for church_id in church_ids:
            audit_record(church_id=church_id, actor=request.user, action="support.tendlc.polled")
        self.message_user(request, f"Polled {len(church_ids)} church(es); {changed} record(s) changed.", messages.INFO)


@admin.register(TenDlcBrand)
class TenDlcBrandAdmin(TenDlcPollAction, admin.ModelAdmin):
    list_display = ["church", "legal_name", "status", "identity_status", "provider", "submitted_at", "last_polled_at"]
    list_filter = ["status", "identity_status", "entity_type"]
    search_fields = ["church__name", "church__slug", "legal_name", "=provider_brand_id", "=tcr_brand_id"]
    list_select_related = ["church"]
    readonly_fields = [
        "church",
        "provider",
        "provider_brand_id",
        "tcr_brand_id",
        "status",
        "identity_status",
        "failure_reasons",
        "submitted_at",
        "status_at",
        "last_polled_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    actions = ["poll_provider_now"]

    def has_add_permission(self, request):
        return False  # churches register themselves (Settings → 10DLC)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            church=obj.church,
            actor=request.user,
            action="support.tendlc.brand_changed",
            target=obj,
            data={"fields": form.changed_data},
        )


@admin.register(TenDlcCampaign)
class TenDlcCampaignAdmin(TenDlcPollAction, ReadOnlyAdmin):
    list_display = ["id", "church", "usecase", "campaign_status", "submission_status", "submitted_at", "provisioned_at"]
    list_filter = ["campaign_status", "usecase"]
    search_fields = ["church__name", "church__slug", "=provider_campaign_id", "=tcr_campaign_id"]
    list_select_related = ["church"]
    actions = ["poll_provider_now"]


@admin.register(TenDlcNumberAssignment)
class TenDlcNumberAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["phone_number", "church", "campaign", "status", "failure_reasons", "updated_at"]
    list_filter = ["status"]
    search_fields = ["phone_number", "church__name", "church__slug"]
    list_select_related = ["church", "campaign"]
    actions = ["link_again"]

    @admin.action(description="Link the selected numbers to their campaign again")
    def link_again(self, request, queryset):
        """For a link the registry refused (FAILED_ASSIGNMENT) once the cause is fixed: ask again."""
        from messaging.numbers import tendlc

        failed = list(queryset.filter(status="FAILED_ASSIGNMENT"))
        TenDlcNumberAssignment.objects.filter(pk__in=[a.pk for a in failed]).update(status="", failure_reasons=[])
        asked = sum(tendlc.campaign_assign_numbers(campaign_id=pk) for pk in sorted({a.campaign_id for a in failed}))
        for assignment in failed:
            audit_record(
                church_id=assignment.church_id,
                actor=request.user,
                action="support.tendlc.number_relinked",
                target=assignment,
            )
        skipped = len(queryset) - len(failed)
        note = f" {skipped} not refused, left alone." if skipped else ""
        self.message_user(request, f"Asked the registry to link {asked} number(s) again.{note}", messages.INFO)


@admin.register(TenDlcEvent)
class TenDlcEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "church", "event_type", "summary", "source", "provider_event_id"]
    list_filter = ["source", "event_type"]
    search_fields = ["church__name", "church__slug", "=provider_event_id"]
    list_select_related = ["church"]
