"""The billing page (owners manage, admins read), its owner-only actions, and the Stripe webhook."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import selectors, services, webhooks
from billing.forms import BranchBudgetForm, PlanChoiceForm, SpendCapForm
from billing.models import BranchBudget
from billing.rules import CHANGEABLE_STATUSES, current_period
from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin

BILLING_ROLES = {"SAFE": Role.ADMIN, "UNSAFE": Role.OWNER}


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path)


class BillingPage(ChurchPageMixin, View):
    roles = BILLING_ROLES

    def render_page(self, *, status: int = 200, error: str = "", spend_cap_form=None, budget_form=None):
        request, church = self.request, self.request.church
        sub = selectors.subscription_get(church=church)
        summary = selectors.usage_summary(church=church, sub=sub)
        branches = selectors.branch_choices(church=church)
        cap = sub.spend_cap_cents
        context = {
            "sub": sub,
            "summary": summary,
            "plans": list(selectors.plan_list_public()),
            "invoices": selectors.invoice_list(sub=sub),
            "budgets": selectors.branch_budget_list(church=church, period=current_period(sub)),
            "spend_cap_form": spend_cap_form
            or SpendCapForm(initial={"spend_cap": None if cap is None else f"{cap / 100:.2f}"}),
            "budget_form": budget_form or BranchBudgetForm(branches=branches),
            "has_branches": bool(branches),
            "can_manage": Role.at_least(request.role, Role.OWNER),
            "error": error,
        }
        return render(request, "billing/billing.html", context, status=status)

    def refuse(self, exc: BusinessRuleError):
        status = exc.status if 400 <= exc.status < 600 else 400
        return self.render_page(status=status, error=exc.message)


class BillingView(BillingPage):
    def get(self, request):
        if request.GET.get("checkout") == "done":
            messages.success(request, "Thank you! Your plan starts as soon as Stripe confirms the payment.")
        return self.render_page()


class PlanChooseView(BillingPage):
    def post(self, request):
        form = PlanChoiceForm(request.POST)
        if not form.is_valid():
            return self.render_page(status=400, error="Choose a plan.")
        church, plan_code = request.church, form.cleaned_data["plan"]
        sub = selectors.subscription_get(church=church)
        try:
            if sub.has_stripe_subscription and sub.status in CHANGEABLE_STATUSES:
                sub = services.subscription_change_plan(church=church, acting_user=request.user, plan_code=plan_code)
                messages.success(request, f"You're now on the {sub.plan.name} plan.")
                return redirect("billing_home")
            url = services.checkout_start(
                church=church,
                acting_user=request.user,
                plan_code=plan_code,
                success_url=_absolute(request, reverse("billing_home")) + "?checkout=done",
                cancel_url=_absolute(request, reverse("billing_home")),
            )
        except BusinessRuleError as exc:
            return self.refuse(exc)
        return redirect(url)


class PortalView(BillingPage):
    def post(self, request):
        try:
            url = services.portal_session_create(
                church=request.church, acting_user=request.user, return_url=_absolute(request, reverse("billing_home"))
            )
        except BusinessRuleError as exc:
            return self.refuse(exc)
        return redirect(url)


class SpendCapView(BillingPage):
    def post(self, request):
        form = SpendCapForm(request.POST)
        if not form.is_valid():
            return self.render_page(status=400, spend_cap_form=form)
        try:
            services.spend_cap_set(church=request.church, acting_user=request.user, cap_cents=form.cap_cents())
        except BusinessRuleError as exc:
            return self.refuse(exc)
        messages.success(request, "Spend cap saved.")
        return redirect("billing_home")


class BranchBudgetView(BillingPage):
    def post(self, request):
        form = BranchBudgetForm(request.POST, branches=selectors.branch_choices(church=request.church))
        if not form.is_valid():
            return self.render_page(status=400, budget_form=form)
        try:
            services.branch_budget_set(
                church=request.church,
                acting_user=request.user,
                branch_id=form.cleaned_data["branch_id"],
                monthly_segments=form.cleaned_data["monthly_segments"],
            )
        except BusinessRuleError as exc:
            return self.refuse(exc)
        messages.success(request, "Branch budget saved.")
        return redirect("billing_home")


class BranchBudgetDeleteView(BillingPage):
    model = BranchBudget

    def post(self, request, pk):
        budget = self.get_object()  # another church's budget is a 404
        services.branch_budget_delete(church=request.church, acting_user=request.user, budget_id=budget.pk)
        messages.success(request, "Branch budget removed.")
        return redirect("billing_home")


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's callbacks: verified, stored once per event id, applied by a task after commit."""
    try:
        event, pending = webhooks.stripe_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except BusinessRuleError as exc:
        body = {"error": {"code": exc.code, "message": exc.message, "details": {}}}
        return JsonResponse(body, status=exc.status)
    return JsonResponse({"received": True, "id": event.event_id, "duplicate": not pending})
