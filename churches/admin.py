"""Support staff's view of churches, their teams, API keys and the audit log."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from churches.models import ApiKey, AuditLog, Church, Invitation, StaffMembership, User


class StaffMembershipInline(admin.TabularInline):
    model = StaffMembership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Church)
class ChurchAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "timezone", "trial_ends_at", "created_at"]
    list_filter = ["status", "timezone"]
    search_fields = ["name", "slug", "contact_email", "staff_memberships__user__email"]
    readonly_fields = ["created_at"]
    inlines = [StaffMembershipInline]

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_active", "is_superuser"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "password1", "password2")}),)


@admin.register(StaffMembership)
class StaffMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "church", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "user__name", "church__name", "church__slug"]
    list_select_related = ["user", "church"]
    autocomplete_fields = ["user", "church"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "church", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "church__name"]
    list_select_related = ["church"]
    exclude = ["token_hash"]
    readonly_fields = ["church", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "church", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["name", "prefix", "church__name"]
    list_select_related = ["church"]
    exclude = ["key_hash"]
    readonly_fields = ["church", "prefix", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # keys are shown once at creation: use the settings page or create_api_key


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "church", "actor", "api_key", "action", "target_type", "target_id"]
    list_filter = ["action"]
    search_fields = ["action", "church__name", "actor__email", "target_id"]
    list_select_related = ["church", "actor", "api_key"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
