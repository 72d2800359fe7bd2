"""Settings → Integrations: the church's webhook endpoints, each with its delivery log. Admins and
owners only (the log shows what the integrator's server answered)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views import View

from churches.models import Role
from integrations import selectors, services
from integrations.forms import WebhookEndpointForm
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia import events
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin

LOG_PAGE = 50
ADMIN_ONLY = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}


def _apply_refusal(form, exc: BusinessRuleError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class WebhookEndpointListView(ChurchPageMixin, View):
    roles = ADMIN_ONLY
    model = WebhookEndpoint

    def get(self, request):
        return self._render(WebhookEndpointForm(initial={"enabled": True}))

    def post(self, request):
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint, secret = services.webhook_endpoint_create(
                    church=request.church, acting_user=request.user, **form.cleaned_data
                )
            except BusinessRuleError as exc:
                _apply_refusal(form, exc)
            else:
                return _render_endpoint(request, endpoint, new_secret=secret)
        return self._render(form, status=400)

    def _render(self, form, status=200):
        context = {"endpoints": selectors.webhook_endpoint_list(church=self.request.church), "form": form}
        return render(self.request, "integrations/endpoints.html", context, status=status)


def _render_endpoint(request, endpoint, *, form=None, new_secret=None, status=200):
    if form is None:
        form = WebhookEndpointForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "events": endpoint.events,
                "enabled": endpoint.enabled,
            }
        )
    log = selectors.webhook_delivery_log(church=request.church, endpoint=endpoint)
    before = request.GET.get("before", "")
    if before.isdigit():
        log = log.filter(pk__lt=int(before))
    deliveries = list(log[: LOG_PAGE + 1])
    context = {
        "endpoint": endpoint,
        "form": form,
        "new_secret": new_secret,
        "deliveries": deliveries[:LOG_PAGE],
        "older": deliveries[LOG_PAGE - 1].pk if len(deliveries) > LOG_PAGE else None,
        "event_types": events.EVENT_TYPES,
    }
    return render(request, "integrations/endpoint.html", context, status=status)


class WebhookEndpointView(ChurchPageMixin, View):
    roles = ADMIN_ONLY
    model = WebhookEndpoint

    def get(self, request, pk):
        return _render_endpoint(request, self.get_object())

    def post(self, request, pk):
        endpoint = self.get_object()
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                services.webhook_endpoint_update(
                    church=request.church, endpoint=endpoint, acting_user=request.user, **form.cleaned_data
                )
            except BusinessRuleError as exc:
                _apply_refusal(form, exc)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("webhook_endpoint", pk=endpoint.pk)
        return _render_endpoint(request, endpoint, form=form, status=400)


class WebhookEndpointRotateView(ChurchPageMixin, View):
    roles = ADMIN_ONLY
    model = WebhookEndpoint

    def post(self, request, pk):
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            church=request.church, endpoint=self.get_object(), acting_user=request.user
        )
        return _render_endpoint(request, endpoint, new_secret=secret)


class WebhookEndpointDeleteView(ChurchPageMixin, View):
    roles = ADMIN_ONLY
    model = WebhookEndpoint

    def post(self, request, pk):
        endpoint = self.get_object()
        services.webhook_endpoint_delete(church=request.church, endpoint=endpoint, acting_user=request.user)
        messages.success(request, f"Deleted the endpoint {endpoint.url}.")
        return redirect("webhooks")


class WebhookEndpointTestView(ChurchPageMixin, View):
    roles = ADMIN_ONLY
    model = WebhookEndpoint

    def post(self, request, pk):
        endpoint = self.get_object()
        try:
            services.webhook_endpoint_send_test(church=request.church, endpoint=endpoint, acting_user=request.user)
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Test event sent. Its attempt appears in the log below.")
        return redirect("webhook_endpoint", pk=endpoint.pk)


class WebhookDeliveryRedeliverView(ChurchPageMixin, View):
    roles = ADMIN_ONLY
    model = WebhookEndpoint

    def post(self, request, pk, delivery_pk):
        endpoint = self.get_object()
        delivery = selectors.webhook_delivery_get(
            church=request.church, id=delivery_pk, queryset=WebhookDelivery.objects.filter(endpoint=endpoint)
        )
        try:
            services.webhook_delivery_redeliver(
                church=request.church, endpoint=endpoint, delivery=delivery, acting_user=request.user
            )
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Sent again. The new attempt appears in the log below.")
        return redirect("webhook_endpoint", pk=endpoint.pk)
