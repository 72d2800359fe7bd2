"""Support's view of billing: plans (editable), subscriptions with this period's usage, Stripe events and
meter reports (read-only); granting credits and extending trials go through audited services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from billing import services, webhooks
from billing.models import BranchBudget, MeterReport, Plan, StripeEvent, Subscription, UsagePeriod
from koinonia.exceptions import BusinessRuleError


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "price_cents",
        "included_segments",
        "overage_cents_per_1000",
        "max_members",
        "max_branches",
        "max_staff_seats",
        "grace_period_days",
        "is_public",
        "is_trial",
    ]
    list_editable = ["is_public"]


class CreditForm(forms.Form):
    segments = forms.IntegerField(min_value=1, max_value=services.MAX_CREDIT_SEGMENTS)
    reason = forms.CharField(max_length=200)


class TrialExtensionForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=services.MAX_TRIAL_EXTENSION_DAYS)
    reason = forms.CharField(max_length=200)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "church",
        "plan",
        "status",
        "current_period_end",
        "used_this_period",
        "trial_ends_at",
        "past_due_since",
        "support_actions",
    ]
    list_filter = ["status", "plan"]
    search_fields = ["church__name", "church__slug", "stripe_customer_id", "stripe_subscription_id"]
    list_select_related = ["church", "plan"]
    readonly_fields = [
        "church",
        "status",
        "trial_ends_at",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "past_due_since",
        "stripe_customer_id",
        "stripe_subscription_id",
        "stripe_synced_at",
        "created_at",
        "updated_at",
    ]
    fields = ["church", "plan", "spend_cap_cents", *readonly_fields[1:]]

    def has_add_permission(self, request):
        return False  # the trial starts at sign-up; Stripe creates the rest

    def get_queryset(self, request):
        usage = UsagePeriod.objects.filter(church=OuterRef("church"), period_start=OuterRef("current_period_start"))
        return super().get_queryset(request).annotate(_used=Subquery(usage.values("segments_used")[:1]))

    @admin.display(description="Used this period", ordering="_used")
    def used_this_period(self, obj):
        return obj._used or 0

    @admin.display(description="Support")
    def support_actions(self, obj):
        return format_html(
            '<a href="{}">Grant credit</a> · <a href="{}">Extend trial</a>',
            reverse("admin:billing_subscription_credit", args=[obj.pk]),
            reverse("admin:billing_subscription_extend_trial", args=[obj.pk]),
        )

    def get_urls(self):
        extra = [
            path("<int:pk>/credit/", self.admin_site.admin_view(self.credit_view), name="billing_subscription_credit"),
            path(
                "<int:pk>/extend-trial/",
                self.admin_site.admin_view(self.extend_trial_view),
                name="billing_subscription_extend_trial",
            ),
        ]
        return extra + super().get_urls()

    def _support_form(self, request, pk, form_class, title, apply):
        if not self.has_change_permission(request):
            raise PermissionDenied
        sub = get_object_or_404(Subscription.objects.select_related("church", "plan"), pk=pk)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                message = apply(sub, form.cleaned_data)
            except BusinessRuleError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, message, messages.SUCCESS)
                return redirect("admin:billing_subscription_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "sub": sub,
            "opts": self.model._meta,
        }
        return render(request, "billing/admin_support_form.html", context)

    def credit_view(self, request, pk):
        def apply(sub, data):
            services.credit_grant(
                church=sub.church, acting_user=request.user, segments=data["segments"], reason=data["reason"]
            )
            return f"Granted {data['segments']:,} segments to {sub.church}."

        return self._support_form(request, pk, CreditForm, "Grant segment credit", apply)

    def extend_trial_view(self, request, pk):
        def apply(sub, data):
            sub = services.trial_extend(
                church=sub.church, acting_user=request.user, days=data["days"], reason=data["reason"]
            )
            return f"Trial for {sub.church} now ends {sub.trial_ends_at:%Y-%m-%d}."

        return self._support_form(request, pk, TrialExtensionForm, "Extend trial", apply)


@admin.register(UsagePeriod)
class UsagePeriodAdmin(admin.ModelAdmin):
    list_display = ["church", "period_start", "period_end", "segments_used", "credit_segments", "overage_reported"]
    search_fields = ["church__name", "church__slug"]
    list_select_related = ["church"]
    readonly_fields = [f.name for f in UsagePeriod._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BranchBudget)
class BranchBudgetAdmin(admin.ModelAdmin):
    list_display = ["church", "branch_id", "monthly_segments", "created_by", "created_at"]
    search_fields = ["church__name"]
    list_select_related = ["church", "created_by"]


@admin.register(MeterReport)
class MeterReportAdmin(admin.ModelAdmin):
    list_display = ["identifier", "church", "segments", "created_at", "sent_at", "last_error"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["identifier", "church__name", "stripe_customer_id"]
    list_select_related = ["church"]
    readonly_fields = [f.name for f in MeterReport._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "type", "church", "received_at", "processed_at", "attempts", "outcome"]
    list_filter = ["type", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id", "type", "church__name", "outcome"]
    list_select_related = ["church"]
    readonly_fields = [f.name for f in StripeEvent._meta.fields]
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Apply again (events not yet applied)")
    def reprocess(self, request, queryset):
        applied = 0
        for event_pk in queryset.filter(processed_at=None).values_list("pk", flat=True):
            try:
                applied += webhooks.stripe_event_process(event_pk=event_pk) is not None
            except webhooks.TransientStripeError as exc:
                self.message_user(request, f"Stripe unreachable: {exc}", messages.ERROR)
                break
        self.message_user(request, f"Applied {applied} event(s).")
