"""Support's read-only view of conversations: who, status, the last message and the thread itself, for
answering "did my reply go out?" tickets. Restricted threads (pastoral care: owners, admins and the
assignee only) are hidden from support entirely: not listed, not openable by id. Phones are masked."""

from django.contrib import admin

from conversations.models import Conversation, ConversationMessage


class ConversationMessageInline(admin.TabularInline):
    model = ConversationMessage
    fields = ["created_at", "direction", "kind", "status", "body", "error_reason", "segments", "author"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "church", "who", "status", "unread_count", "last_message_direction", "last_message_at"]
    list_filter = ["status"]
    search_fields = ["=id", "church__name", "church__slug"]
    search_help_text = "A conversation id, or a church's name or slug."
    list_select_related = ["church", "member"]
    show_full_result_count = False
    fields = [
        "church",
        "who",
        "masked_visitor_phone",
        "status",
        "assignee",
        "unread_count",
        "last_message_at",
        "last_message_preview",
        "last_inbound_at",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [ConversationMessageInline]

    def get_queryset(self, request):
        # Restricted threads never reach support, whatever the URL says.
        return super().get_queryset(request).filter(restricted=False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Who")
    def who(self, obj):
        if obj.member_id:
            return obj.member.full_name or f"Member {obj.member_id}"
        return "Visitor"

    @admin.display(description="Visitor phone")
    def masked_visitor_phone(self, obj):
        phone = obj.visitor_phone or ""
        return f"•••{phone[-4:]}" if len(phone) > 4 else "—"
