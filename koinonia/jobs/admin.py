"""Support's view of background work: one page with queue depths, celery-beat's last tick, the last
run and outcome of each periodic job and the recent task failures; and the failures themselves."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from koinonia.jobs import monitor as jobs
from koinonia.jobs.models import BackgroundJobs, BeatHeartbeat, TaskFailure

RECENT_FAILURES = 25


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BackgroundJobs)
class BackgroundJobsAdmin(ReadOnlyAdmin):
    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        beats = list(BeatHeartbeat.objects.order_by("-last_tick_at")[:5])
        context = {
            **self.admin_site.each_context(request),
            "title": "Background jobs",
            "opts": self.model._meta,
            "now": timezone.now(),
            "queues": jobs.queue_depths(),
            "last_beat": beats[0] if beats else None,
            "beats": beats,
            "periodic_jobs": jobs.periodic_job_status(),
            "failures": TaskFailure.objects.order_by("-occurred_at")[:RECENT_FAILURES],
        }
        return TemplateResponse(request, "admin/koinonia/background_jobs.html", context)


@admin.register(TaskFailure)
class TaskFailureAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "task_name", "exception_type", "short_message"]
    list_filter = ["task_name"]
    search_fields = ["task_name", "task_id", "exception_type"]
    date_hierarchy = "occurred_at"
    readonly_fields = [
        "occurred_at",
        "task_name",
        "task_id",
        "args_summary",
        "exception_type",
        "exception_message",
        "traceback",
    ]

    @admin.display(description="Message")
    def short_message(self, obj: TaskFailure) -> str:
        return obj.exception_message[:120]
