"""The CSV import pages: upload → preview with column mapping → start; progress, report, retry."""

import csv

from django import forms
from django.contrib import messages
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views import View

from churches import imports, listing, selectors
from churches.forms import (
    ImportStartForm,
    ImportUploadForm,
)
from churches.models import ImportJob, Role
from churches.views.members import Echo
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


class MemberImportView(ChurchPageMixin, View):
    roles = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}

    def get(self, request):
        return self._render(ImportUploadForm())

    def post(self, request):
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                imports.check_upload_size(upload.size)  # before reading a byte of it
                job = imports.member_import_upload(
                    church=request.church, acting_user=request.user, file_name=upload.name, data=upload.read()
                )
            except BusinessRuleError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("member_import_job", pk=job.pk)
        return self._render(form, status=400)

    def _render(self, form, status=200):
        context = {
            "form": form,
            "jobs": listing.import_job_recent(church=self.request.church),
            "limit_mb": imports.max_upload_bytes() // (1024 * 1024),
            "fields": imports.FIELDS,
        }
        return render(self.request, "churches/members/import.html", context, status=status)


class _ImportJobMixin(ChurchPageMixin):
    model = ImportJob
    roles = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}


class MemberImportJobView(_ImportJobMixin, View):
    """Pending: preview with column mapping → start. Queued/running: progress. Done/failed: result."""

    def _start_form(self, job, header, data=None, mapping=None):
        church = self.request.church
        return ImportStartForm(
            data,
            header=header,
            mapping=job.mapping if mapping is None else mapping,
            branches=listing.branch_choices(church=church),
            groups=listing.group_choices(church=church),
            field_choices=list(imports.FIELDS.items()),
        )

    def get(self, request, pk):
        job = self.get_object()
        if job.status != ImportJob.Status.PENDING:
            return self._render_progress(job)
        preview = imports.member_import_preview(job=job)
        return self._render_preview(job, preview, self._start_form(job, preview.header))

    def post(self, request, pk):
        job = self.get_object()
        if job.status != ImportJob.Status.PENDING:
            return redirect("member_import_job", pk=job.pk)
        preview = imports.member_import_preview(job=job)
        form = self._start_form(job, preview.header, data=request.POST)
        if form.is_valid():
            try:
                mapping = form.mapping()
                church = request.church
                group = branch = None
                if form.cleaned_data["group"]:
                    group = selectors.group_get(church=church, id=form.cleaned_data["group"])
                if form.cleaned_data["branch"]:
                    branch = selectors.branch_get(church=church, id=form.cleaned_data["branch"])
                if request.POST.get("preview"):  # "Check again" with the new mapping, without starting
                    preview = imports.member_import_preview(job=job, mapping=mapping)
                    return self._render_preview(job, preview, form)
                imports.member_import_start(
                    church=church,
                    job=job,
                    acting_user=request.user,
                    mapping=mapping,
                    consent_text=form.cleaned_data["consent_text"],
                    group=group,
                    branch=branch,
                )
            except (BusinessRuleError, forms.ValidationError) as exc:
                form.add_error(None, getattr(exc, "message", None) or exc.messages[0])
            else:
                return redirect("member_import_job", pk=job.pk)
        return self._render_preview(job, preview, form, status=400)

    def _render_preview(self, job, preview, form, status=200):
        context = {"job": job, "preview": preview, "form": form, "has_phone": "phone" in preview.mapping}
        return render(self.request, "churches/members/import_preview.html", context, status=status)

    def _render_progress(self, job):
        context = {"job": job, "has_report": job.rejected_count > 0}
        return render(self.request, "churches/members/import_job.html", context)


def _job_status(job: ImportJob) -> dict:
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "total": job.total_rows,
        "processed": job.processed_rows,
        "percent": job.percent,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "rejected": job.rejected_count,
        "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
        "error": job.error_message,
    }


class MemberImportStatusView(_ImportJobMixin, View):
    """Polled by the progress bar (static/js/import_progress.js); skips loading the file's text."""

    def church_queryset(self):
        return ImportJob.objects.defer("content")

    def get(self, request, pk):
        return JsonResponse(_job_status(self.get_object()))


class MemberImportReportView(_ImportJobMixin, View):
    def get(self, request, pk):
        job = self.get_object()

        def lines():
            writer = csv.writer(Echo())
            for row in imports.member_import_report_rows(job=job):
                yield writer.writerow(row)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected-rows.csv"'
        return response


class MemberImportRetryView(_ImportJobMixin, View):
    def post(self, request, pk):
        job = self.get_object()
        try:
            imports.member_import_retry(church=request.church, job=job, acting_user=request.user)
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        return redirect("member_import_job", pk=job.pk)
