"""/api/v1/webhook-endpoints: the church's outgoing webhook endpoints, their delivery log,
redelivery, test events and secret rotation. Admins and owners only (the log shows what integrators'
servers answered). Writes go through ``integrations.services``."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from churches.models import Role
from integrations import selectors, services
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia import events
from koinonia.api.base import ChurchViewSet
from koinonia.api.helpers import acting_user, error_responses, validated_input
from koinonia.api.idempotency import idempotent


class WebhookEndpointOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "enabled",
            "disabled_reason",
            "consecutive_failures",
            "failing_since",
            "last_success_at",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]


class WebhookEndpointWithSecretOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="The signing secret (whsec_…). Shown only in this answer.")

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]


EVENTS_HELP = 'Event types to receive (see docs/webhooks.md), or ["*"] for all: ' + ", ".join(events.EVENT_TYPES)


class WebhookEndpointInput(serializers.Serializer):
    url = serializers.CharField(max_length=services.URL_MAX_LENGTH, help_text="https URL that receives the POSTs.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    events = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, help_text=EVENTS_HELP)
    enabled = serializers.BooleanField(required=False, default=True)


class RotatedSecretOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret. Shown only in this answer.")
    previous_secret_expires_at = serializers.DateTimeField(
        help_text="Until then deliveries carry a second signature made with the old secret."
    )


class WebhookDeliveryOutput(serializers.ModelSerializer):
    event_id = serializers.CharField()
    event_type = serializers.CharField(source="event.type")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "attempt",
            "manual",
            "status",
            "status_code",
            "duration_ms",
            "response_excerpt",
            "error",
            "next_attempt_at",
            "attempted_at",
            "created_at",
        ]


ADMIN_ONLY = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}


@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints", responses=WebhookEndpointOutput),
    retrieve=extend_schema(
        summary="One webhook endpoint", responses={200: WebhookEndpointOutput, **error_responses(404)}
    ),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """Outgoing webhooks (Standard Webhooks signatures): admins and owners manage them."""

    model = WebhookEndpoint
    serializer_class = WebhookEndpointOutput
    roles = ADMIN_ONLY
    # Managing webhooks is its own scope, for reading as for writing (koinonia/api/scopes.py).
    required_scopes = {"SAFE": "webhooks:manage", "UNSAFE": "webhooks:manage"}
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"

    def church_queryset(self):
        return WebhookEndpoint.objects.order_by("created_at", "pk")

    @extend_schema(
        summary="Add an endpoint; the answer carries its signing secret, this once",
        request=WebhookEndpointInput,
        responses={201: WebhookEndpointWithSecretOutput, **error_responses(400, 403, 409)},
    )
    @idempotent  # the replayed answer carries the secret: it is kept encrypted, as the endpoint's own copy is
    def create(self, request):
        data = validated_input(WebhookEndpointInput, request.data)
        endpoint, secret = services.webhook_endpoint_create(
            church=self.church,
            acting_user=acting_user(request),
            api_key=request.api_key,
            url=data["url"],
            description=data.get("description", ""),
            events=data["events"],
            enabled=data.get("enabled", True),
        )
        endpoint.secret = secret
        return Response(WebhookEndpointWithSecretOutput(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit an endpoint (only the fields sent change)",
        request=WebhookEndpointInput(partial=True),
        responses={200: WebhookEndpointOutput, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = validated_input(WebhookEndpointInput, request.data, partial=True)
        endpoint = services.webhook_endpoint_update(
            church=self.church, endpoint=endpoint, acting_user=acting_user(request), api_key=request.api_key, **data
        )
        return Response(WebhookEndpointOutput(endpoint).data)

    @extend_schema(
        summary="Replace an endpoint's URL, description, events and enabled",
        request=WebhookEndpointInput,
        responses={200: WebhookEndpointOutput, **error_responses(400, 403, 404)},
    )
    def update(self, request, pk=None):
        endpoint = self.get_object()
        data = validated_input(WebhookEndpointInput, request.data)
        data.setdefault("description", "")
        endpoint = services.webhook_endpoint_update(
            church=self.church, endpoint=endpoint, acting_user=acting_user(request), api_key=request.api_key, **data
        )
        return Response(WebhookEndpointOutput(endpoint).data)

    @extend_schema(summary="Delete an endpoint and its delivery log", request=None, responses={204: None})
    def destroy(self, request, pk=None):
        endpoint = self.get_object()
        services.webhook_endpoint_delete(
            church=self.church, endpoint=endpoint, acting_user=acting_user(request), api_key=request.api_key
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate the signing secret; the old one keeps signing for the overlap",
        request=None,
        responses={200: RotatedSecretOutput, **error_responses(403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            church=self.church, endpoint=self.get_object(), acting_user=acting_user(request), api_key=request.api_key
        )
        return Response({"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at})

    @extend_schema(
        summary="The endpoint's delivery attempts, newest first (cursor-paginated)",
        request=None,
        responses={200: WebhookDeliveryOutput(many=True), **error_responses(403, 404)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        page = self.paginate_queryset(selectors.webhook_delivery_log(church=self.church, endpoint=endpoint))
        return self.get_paginated_response(WebhookDeliveryOutput(page, many=True).data)

    @extend_schema(
        summary="Post a delivery's event again (one attempt, same webhook-id)",
        request=None,
        responses={202: WebhookDeliveryOutput, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9]+)/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        endpoint = self.get_object()
        delivery = selectors.webhook_delivery_get(church=self.church, id=delivery_id)
        again = services.webhook_delivery_redeliver(
            church=self.church,
            endpoint=endpoint,
            delivery=delivery,
            acting_user=acting_user(request),
            api_key=request.api_key,
        )
        again = selectors.webhook_delivery_get(
            church=self.church, id=again.pk, queryset=WebhookDelivery.objects.select_related("event")
        )
        return Response(WebhookDeliveryOutput(again).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Send a webhook.test event to this endpoint (one attempt)",
        request=None,
        responses={202: WebhookDeliveryOutput, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.webhook_endpoint_send_test(
            church=self.church, endpoint=self.get_object(), acting_user=acting_user(request), api_key=request.api_key
        )
        delivery = selectors.webhook_delivery_get(
            church=self.church, id=delivery.pk, queryset=WebhookDelivery.objects.select_related("event")
        )
        return Response(WebhookDeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
