"""Settings: the church's details, and API keys."""

from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from churches import selectors, services
from churches.forms import (
    ApiKeyForm,
    ApiKeyRotateForm,
    ChurchSettingsForm,
    SendSafetyForm,
)
from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin


class SettingsView(ChurchPageMixin, View):
    roles = {"SAFE": Role.VIEWER, "UNSAFE": Role.ADMIN}

    def get(self, request):
        return self._render(ChurchSettingsForm(instance=request.church))

    def post(self, request):
        form = ChurchSettingsForm(request.POST, instance=request.church)
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
            # The ModelForm already set attributes on the instance; compare against a fresh copy.
            request.church.refresh_from_db()
            services.church_update(church=request.church, acting_user=request.user, **fields)
            messages.success(request, "Settings saved.")
            return redirect("settings")
        return self._render(form, status=400)

    def _render(self, form, status=200, safety_form=None):
        return render_settings(self.request, form=form, safety_form=safety_form, status=status)


def render_settings(request, *, form=None, safety_form=None, status=200):
    church = request.church
    context = {
        "form": form or ChurchSettingsForm(instance=church),
        "can_edit": Role.at_least(request.role, Role.ADMIN),
        "safety_form": safety_form
        or SendSafetyForm(
            initial={"approval_for_everyone": church.approval_for_everyone, "approval_over": church.approval_over}
        ),
        "can_edit_safety": Role.at_least(request.role, Role.OWNER),
    }
    return render(request, "churches/settings.html", context, status=status)


class SendSafetyView(ChurchPageMixin, View):
    """Owners decide which sends by staff wait for an admin's approval (shown on the settings page)."""

    roles = {"SAFE": Role.VIEWER, "UNSAFE": Role.OWNER}

    def get(self, request):
        return redirect("settings")

    def post(self, request):
        form = SendSafetyForm(request.POST)
        if form.is_valid():
            try:
                services.church_send_safety_update(church=request.church, acting_user=request.user, **form.cleaned_data)
            except BusinessRuleError as exc:
                form.add_error(exc.field, exc.message)
            else:
                messages.success(request, _("Send safety saved."))
                return redirect("settings")
        return render_settings(request, safety_form=form, status=400)


class ApiKeysView(ChurchPageMixin, View):
    roles = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}

    def get(self, request):
        return self._render(ApiKeyForm())

    def post(self, request):
        form = ApiKeyForm(request.POST)
        new_key = None
        if form.is_valid():
            day = form.cleaned_data["expires_on"]
            try:
                _, new_key = services.api_key_create(
                    church=request.church,
                    acting_user=request.user,
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=services.api_key_expiry_from_date(church=request.church, day=day) if day else None,
                )
            except BusinessRuleError as exc:
                form.add_error(FORM_FIELDS.get(exc.field, exc.field), exc.message)
            else:
                form = ApiKeyForm()
        return self._render(form, new_key=new_key, status=200 if new_key else 400)

    def _render(self, form, new_key=None, status=200):
        return render_api_keys(self.request, form=form, new_key=new_key, status=status)


# Service fields named differently on the page.
FORM_FIELDS = {"expires_at": "expires_on"}


def render_api_keys(request, *, form=None, new_key=None, status=200):
    keys = list(selectors.api_key_list(church=request.church))
    tz = request.church.tzinfo
    successors = {key.rotated_from_id: key for key in keys if key.rotated_from_id}
    by_id = {key.pk: key for key in keys}
    for key in keys:
        # Times in the church's zone. A key set to expire "on" a day stops at the next midnight: say
        # "end of <day>", as it was chosen.
        key.last_used_local = timezone.localtime(key.last_used_at, tz) if key.last_used_at else None
        key.expires_label = ""
        if key.expires_at:
            local = timezone.localtime(key.expires_at, tz)
            if (local.hour, local.minute, local.second) == (0, 0, 0):
                key.expires_label = f"end of {local - timedelta(days=1):%b %-d, %Y}"
            else:
                key.expires_label = f"{local:%b %-d, %Y %H:%M}"
        key.successor = successors.get(key.pk)
        key.predecessor = by_id.get(key.rotated_from_id)
    context = {
        "keys": keys,
        "form": form or ApiKeyForm(),
        "rotate_form": ApiKeyRotateForm(),
        "new_key": new_key,
        "timezone": request.church.timezone,
    }
    return render(request, "churches/api_keys.html", context, status=status)


class ApiKeyRevokeView(ChurchPageMixin, View):
    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        try:
            api_key = services.api_key_revoke(church=request.church, acting_user=request.user, api_key_id=pk)
        except BusinessRuleError:
            raise Http404("Not found.") from None
        messages.success(request, f"Revoked “{api_key.name}”. Integrations using it will stop working.")
        return redirect("api_keys")


class ApiKeyRotateView(ChurchPageMixin, View):
    """A new key like the old one, shown once; the old key keeps working for the chosen overlap."""

    roles = {"UNSAFE": Role.ADMIN}

    def post(self, request, pk):
        form = ApiKeyRotateForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose how long the old key keeps working.")
            return redirect("api_keys")
        try:
            new, raw_key = services.api_key_rotate(
                church=request.church,
                acting_user=request.user,
                api_key_id=pk,
                overlap=timedelta(hours=form.cleaned_data["overlap_hours"]),
            )
        except BusinessRuleError as exc:
            if exc.status == 404:
                raise Http404("Not found.") from None
            messages.error(request, exc.message)
            return redirect("api_keys")
        old = new.rotated_from
        until = timezone.localtime(old.expires_at, request.church.tzinfo)
        messages.success(
            request,
            f"Rotated “{new.name}”. The old key (kn_{old.prefix}_…) works until {until:%b %-d, %Y %H:%M}; "
            "switch your integration to the new key before then.",
        )
        return render_api_keys(request, new_key=raw_key)
