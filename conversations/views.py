"""Inbox pages: the list (filters, search, unread badges, live updates by polling), a thread (reply with
text or a picture, notes, assignment, status, restricted flag), pictures, the consent review queue,
canned replies and inbox settings."""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views import View

from churches.models import Role
from conversations import selectors, services
from conversations.api import media_response
from conversations.badge import unread_badge_forget
from conversations.forms import (
    CannedReplyForm,
    ConversationUpdateForm,
    InboxFilterForm,
    InboxSettingsForm,
    NoteForm,
    NotificationForm,
    ReplyForm,
)
from conversations.models import CannedReply, ConsentReview, Conversation
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin, get_scoped_object_or_404

PAGE_SIZE = 50


class InboxMixin(ChurchPageMixin):
    model = Conversation

    def church_queryset(self):
        return selectors.visible_conversations(
            church=self.request.church, user=self.request.user, role=self.request.role
        ).select_related("member", "assignee")

    def conversation(self, pk) -> Conversation:
        return get_scoped_object_or_404(self.get_queryset(), self.request.church, pk=pk)

    def can_write(self) -> bool:
        return Role.at_least(self.request.role, Role.STAFF)


class InboxView(InboxMixin, View):
    def get(self, request):
        form = InboxFilterForm(request.GET)
        form.is_valid()
        filter_by = form.cleaned_data.get("filter") or "open"
        q = form.cleaned_data.get("q") or ""
        rows = list(
            selectors.conversation_list(
                church=request.church, user=request.user, role=request.role, filter_by=filter_by, q=q
            ).defer("member__phone")[: PAGE_SIZE + 1]  # no member phones shown (a visitor's number is their name)
        )
        unread = selectors.unread_total(church=request.church, user=request.user, role=request.role)
        context = {
            "conversations": rows[:PAGE_SIZE],
            "has_more": len(rows) > PAGE_SIZE,
            "filter_by": filter_by,
            "filters": [
                ("open", "Open"),
                ("mine", "Mine"),
                ("unassigned", "Unassigned"),
                ("restricted", "Restricted"),
                ("closed", "Closed"),
                ("archived", "Archived"),
            ],
            "q": q,
            "form": form,
            "version": selectors.inbox_version(
                church=request.church, user=request.user, role=request.role, unread=unread
            ),
            "unread_total": unread,
            "review_count": selectors.pending_reviews(
                church=request.church, user=request.user, role=request.role
            ).count(),
        }
        if request.GET.get("fragment") == "list":
            return render(request, "conversations/_list.html", context)
        return render(request, "conversations/inbox.html", context)


class InboxPollView(InboxMixin, View):
    """Polled every few seconds by static/js/inbox.js: small and cheap."""

    def get(self, request):
        unread = selectors.unread_total(church=request.church, user=request.user, role=request.role)
        version = selectors.inbox_version(church=request.church, user=request.user, role=request.role, unread=unread)
        threads = selectors.unread_conversation_count(church=request.church, user=request.user, role=request.role)
        return JsonResponse({"version": version, "unread_total": unread, "unread_conversations": threads})


class ConversationView(InboxMixin, View):
    def get(self, request, pk):
        conversation = self.conversation(pk)
        services.conversation_mark_read(church=request.church, conversation=conversation)
        unread_badge_forget(church=request.church, user=request.user)
        return self._render(conversation, ReplyForm(), NoteForm())

    def _render(self, conversation, reply_form, note_form, status=200):
        settings_row = services.inbox_settings_get(church=self.request.church)
        items = selectors.thread_items(conversation=conversation, settings_row=settings_row)
        staff = selectors.assignable_staff(church=self.request.church)
        context = {
            "conversation": conversation,
            "who": conversation.display_name,
            "items": items,
            "last_id": max((i.pk for i in items if hasattr(i, "pk")), default=0),
            "reply_form": reply_form,
            "note_form": note_form,
            "update_form": ConversationUpdateForm(
                staff=staff,
                initial={
                    "status": conversation.status,
                    "assignee_id": conversation.assignee_id,
                    "restricted": conversation.restricted,
                },
            ),
            "canned": selectors.canned_replies(church=self.request.church),
            "can_write": self.can_write(),
            "can_restrict": services.can_manage_restricted(
                role=self.request.role, user=self.request.user, conversation=conversation
            ),
            "opted_out": services.recipient_opted_out(conversation),
        }
        return render(self.request, "conversations/thread.html", context, status=status)


def _is_id(text: str) -> bool:
    """A row id as typed in a query string: ASCII digits that fit a bigint (else it is ignored)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


class ConversationUpdatesView(InboxMixin, View):
    """New thread items after ``after`` (an id), as HTML to append, and the current status badge of the
    replies named in ``pending`` (ids the page still shows as on their way); polled by inbox.js."""

    def get(self, request, pk):
        conversation = self.conversation(pk)
        try:
            after = int(request.GET.get("after", "0"))
        except ValueError:
            after = 0
        pending = [int(p) for p in request.GET.get("pending", "").split(",")[:50] if _is_id(p)]
        items = selectors.thread_messages(conversation=conversation, after_id=after)
        if items:
            services.conversation_mark_read(church=request.church, conversation=conversation)
        context = {"items": items, "who": conversation.display_name}
        html = render_to_string("conversations/_items.html", context, request=request)
        statuses = {
            str(item.pk): render_to_string("conversations/_reply_status.html", {"item": item})
            for item in (selectors.reply_statuses(conversation=conversation, ids=pending) if pending else ())
        }
        return JsonResponse({"html": html, "last_id": max([after, *(i.pk for i in items)]), "statuses": statuses})


class ReplyView(ConversationView):
    def post(self, request, pk):
        conversation = self.conversation(pk)
        form = ReplyForm(request.POST, request.FILES)
        if form.is_valid():
            f = form.cleaned_data.get("media")
            upload = services.Upload(name=f.name, content_type=f.content_type or "", size=f.size, file=f) if f else None
            try:
                services.reply_send(
                    church=request.church,
                    conversation=conversation,
                    acting_user=request.user,
                    body=form.cleaned_data["body"],
                    upload=upload,
                )
            except BusinessRuleError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Reply sent.")
                return redirect("conversation_detail", pk=conversation.pk)
        return self._render(conversation, form, NoteForm(), status=400)


class NoteView(ConversationView):
    def post(self, request, pk):
        conversation = self.conversation(pk)
        form = NoteForm(request.POST)
        if form.is_valid():
            services.note_add(
                church=request.church,
                conversation=conversation,
                acting_user=request.user,
                body=form.cleaned_data["body"],
            )
            return redirect("conversation_detail", pk=conversation.pk)
        return self._render(conversation, ReplyForm(), form, status=400)


class ConversationUpdateView(InboxMixin, View):
    def post(self, request, pk):
        conversation = self.conversation(pk)
        form = ConversationUpdateForm(request.POST, staff=selectors.assignable_staff(church=request.church))
        if not form.is_valid():
            messages.error(request, "That change could not be made.")
            return redirect("conversation_detail", pk=conversation.pk)
        data = form.cleaned_data
        changes = {"assignee_id": data["assignee_id"]}
        if data["status"]:
            changes["status"] = data["status"]
        if "restricted" in request.POST or "restricted_present" in request.POST:
            changes["restricted"] = data["restricted"]
        try:
            services.conversation_update(
                church=request.church,
                conversation=conversation,
                acting_user=request.user,
                acting_role=request.role,
                **changes,
            )
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Conversation updated.")
        # A thread the person can no longer read (restricted, assigned away) sends them back to the list.
        if not self.get_queryset().filter(pk=conversation.pk).exists():
            return redirect("conversations_home")
        return redirect("conversation_detail", pk=conversation.pk)


class MediaView(InboxMixin, View):
    def get(self, request, pk, message_id, index):
        return media_response(conversation=self.conversation(pk), message_id=message_id, index=index)


class ReviewQueueView(ChurchPageMixin, View):
    model = ConsentReview

    def church_queryset(self):
        return selectors.pending_reviews(church=self.request.church, user=self.request.user, role=self.request.role)

    def get(self, request):
        return render(
            request,
            "conversations/reviews.html",
            {"reviews": self.get_queryset(), "can_write": Role.at_least(request.role, Role.STAFF)},
        )

    def post(self, request, pk, decision):
        if decision not in ("confirm", "dismiss"):
            raise Http404("Not found.")
        review = get_scoped_object_or_404(self.get_queryset(), request.church, pk=pk)
        try:
            if decision == "confirm":
                services.review_confirm(church=request.church, review=review, acting_user=request.user)
                messages.success(request, "Recorded as an opt-out; they were sent one confirmation.")
            else:
                services.review_dismiss(church=request.church, review=review, acting_user=request.user)
                messages.success(request, "Dismissed: not an opt-out.")
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        return redirect("conversation_reviews")


class CannedRepliesView(ChurchPageMixin, View):
    model = CannedReply

    def church_queryset(self):
        return selectors.canned_replies(church=self.request.church)

    def get(self, request):
        return self._render(CannedReplyForm())

    def post(self, request):
        form = CannedReplyForm(request.POST)
        if form.is_valid():
            try:
                services.canned_reply_create(church=request.church, acting_user=request.user, **form.cleaned_data)
            except BusinessRuleError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, "Canned reply saved.")
                return redirect("conversation_canned")
        return self._render(form, status=400)

    def _render(self, form, status=200):
        return render(
            self.request,
            "conversations/canned.html",
            {"form": form, "canned": self.get_queryset(), "can_write": Role.at_least(self.request.role, Role.STAFF)},
            status=status,
        )


class CannedReplyDeleteView(ChurchPageMixin, View):
    model = CannedReply

    def post(self, request, pk):
        canned = self.get_object()
        services.canned_reply_delete(church=request.church, canned=canned, acting_user=request.user)
        messages.success(request, "Canned reply deleted.")
        return redirect("conversation_canned")


class InboxSettingsView(ChurchPageMixin, View):
    roles = {"SAFE": Role.VIEWER, "UNSAFE": Role.ADMIN}

    def get(self, request):
        return self._render(InboxSettingsForm(instance=services.inbox_settings_get(church=request.church)))

    def post(self, request):
        row = services.inbox_settings_get(church=request.church)
        form = InboxSettingsForm(request.POST, instance=row)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in InboxSettingsForm.Meta.fields}
            row.refresh_from_db()
            services.inbox_settings_update(church=request.church, acting_user=request.user, **data)
            messages.success(request, "Inbox settings saved.")
            return redirect("conversation_settings")
        return self._render(form, status=400)

    def _render(self, form, status=200):
        church = self.request.church
        return render(
            self.request,
            "conversations/settings.html",
            {
                "form": form,
                "church": church,
                "can_edit": Role.at_least(self.request.role, Role.ADMIN),
                "notify_form": NotificationForm(
                    initial={
                        "email_on_inbound": selectors.notification_preference(church=church, user=self.request.user)
                    }
                ),
            },
            status=status,
        )


class NotificationPreferenceView(ChurchPageMixin, View):
    roles = {"UNSAFE": Role.VIEWER}

    def post(self, request):
        form = NotificationForm(request.POST)
        form.is_valid()
        services.notification_preference_set(
            church=request.church, user=request.user, email_on_inbound=form.cleaned_data.get("email_on_inbound", False)
        )
        messages.success(request, "Notification preference saved.")
        return redirect(reverse("conversation_settings"))
