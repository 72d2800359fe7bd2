"""Support's view of outgoing webhooks: read-only, secrets never shown."""

from django.contrib import admin

from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "church", "enabled", "consecutive_failures", "last_success_at", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "church__name"]
    list_select_related = ["church"]
    # The signing secrets are the church's: support never sees them.
    exclude = ["secret", "previous_secret"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "church", "created_at"]
    list_filter = ["type"]
    search_fields = ["id"]
    list_select_related = ["church"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "endpoint", "attempt", "status", "status_code", "duration_ms", "created_at"]
    list_filter = ["status"]
    search_fields = ["event__id"]
    list_select_related = ["endpoint"]
    raw_id_fields = ["event", "endpoint"]
