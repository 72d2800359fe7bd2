"""Support staff's view of churches, their teams, API keys and the audit log."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from churches import selectors, services
from churches.crypto import phone_hash
from churches.models import (
    ApiKey,
    AuditLog,
    Branch,
    Church,
    ConsentEvent,
    Group,
    Invitation,
    Member,
    PlatformAuditLog,
    StaffMembership,
    User,
)
from churches.phones import InvalidPhone, parse_phone


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
    list_display = ["name", "church", "prefix", "role", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["name", "prefix", "church__name"]
    list_select_related = ["church"]
    exclude = ["key_hash"]
    readonly_fields = ["church", "prefix", "created_by", "created_at", "last_used_at", "rotated_from"]

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


@admin.register(PlatformAuditLog)
class PlatformAuditLogAdmin(admin.ModelAdmin):
    """Events outside any church (failed sign-ins): read-only, like the church audit log."""

    list_display = ["created_at", "actor", "action", "ip_address"]
    list_filter = ["action"]
    search_fields = ["action", "actor__email"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Directory ------------------------------------------------------------------------------------
# Support looks members up (by phone too) and reads their consent history. Changes that matter go through
# the directory services: phones (with their blind index), consent (ledger only) and church are read-only.


def _phone_hash_of(search_term: str) -> str | None:
    """The blind index of ``search_term`` when it reads as a phone number (US unless it has a +country)."""
    if sum(ch.isdigit() for ch in search_term) < 7:
        return None
    try:
        return phone_hash(parse_phone(search_term).e164)
    except InvalidPhone:
        return None


class ConsentEventInline(admin.TabularInline):
    """The consent ledger is append-only: shown, never added to, edited or deleted here."""

    model = ConsentEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "source", "raw_text", "actor", "api_key"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "api_key")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "display_phone", "email", "church", "branch", "sms_status", "created_at"]
    list_filter = ["sms_status", ("church", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["church", "branch"]
    # Emails are encrypted: searched through their blind index in get_search_results.
    search_fields = ["first_name", "last_name"]
    fields = [
        "church",
        "first_name",
        "last_name",
        "display_phone",
        "email",
        "branch",
        "sms_status",
        "timezone",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "church",
        "display_phone",
        "branch",
        "sms_status",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [ConsentEventInline]

    @admin.display(description="phone")
    def display_phone(self, member):
        return member.phone

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        hashed = _phone_hash_of(search_term.strip())
        if hashed:
            results = results | queryset.filter(phone_hash=hashed)
        if "@" in search_term:
            results = results | queryset.filter(selectors.member_email_prefix_filter(queryset, search_term))
        return results, may_have_duplicates

    def has_add_permission(self, request):
        return False  # members are added by their church (pages, import, API), with phones normalized

    def has_delete_permission(self, request, obj=None):
        return False  # deletion is the church's decision, audited by services.member_delete_many

    def save_model(self, request, obj, form, change):
        fresh = Member.objects.get(pk=obj.pk)
        services.member_update(
            church=fresh.church,
            member=fresh,
            acting_user=request.user,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )


class DirectoryReadOnlyAdmin(admin.ModelAdmin):
    """Branches and groups are the church's to change, in its own pages; support searches and reads."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Branch)
class BranchAdmin(DirectoryReadOnlyAdmin):
    list_display = ["name", "church", "timezone", "created_at"]
    search_fields = ["name", "address", "church__name", "church__slug"]
    list_select_related = ["church"]


@admin.register(Group)
class GroupAdmin(DirectoryReadOnlyAdmin):
    list_display = ["name", "church", "branch", "keyword", "created_at"]
    search_fields = ["name", "keyword", "church__name", "church__slug"]
    list_select_related = ["church", "branch"]
