"""Settings → 10DLC: a two-step wizard (the church, then its texting campaign), the registration's
status in plain words with rejection reasons and a resubmit path, and the notice that sending is
throttled until carriers approve. Everyone on the team can read it; owners and admins submit."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from churches.models import Role
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import ChurchPageMixin, get_scoped_object_or_404
from messaging.numbers import tendlc
from messaging.numbers.models import TenDlcBrand, TenDlcCampaign
from messaging.numbers.tendlc.forms import (
    TenDlcBrandForm,
    TenDlcCampaignForm,
    brand_initial,
    campaign_form_initial,
    campaign_initial,
)
from messaging.numbers.tendlc.selectors import tendlc_campaign_events, tendlc_campaign_list, tendlc_registration

ROLES = {"SAFE": Role.VIEWER, "UNSAFE": Role.ADMIN}


class TenDlcPage(ChurchPageMixin, View):
    roles = ROLES

    def render_page(self, *, brand_form=None, campaign_form=None, step=None, status=200):
        church = self.request.church
        registration = tendlc_registration(church=church)
        brand, campaign, state = registration.brand, registration.campaign, registration.state
        brand_editable = brand is None or not brand.status or (state.key == "rejected" and state.step == "brand")
        # Step 2 opens as soon as the church's details are saved; it can be submitted once they are approved.
        campaign_editable = brand is not None and (
            campaign is None or not campaign.campaign_status or state.key in ("rejected", "suspended")
        )
        if brand_form is None and brand_editable:
            brand_form = TenDlcBrandForm(instance=brand, initial=None if brand else brand_initial(church))
        if campaign_form is None and campaign_editable:
            if campaign is not None and not campaign.campaign_status:
                campaign_form = TenDlcCampaignForm(instance=campaign)
            else:  # a first draft, or a resubmission starting from the rejected campaign
                campaign_form = TenDlcCampaignForm(
                    initial=campaign_form_initial(campaign) if campaign else campaign_initial(church)
                )
        if step not in ("brand", "campaign"):
            step = self.request.GET.get("step")
        if step not in ("brand", "campaign") or (step == "campaign" and campaign_form is None):
            step = "brand" if brand_form is not None else "campaign"
        context = {
            "registration": registration,
            "state": state,
            "can_submit": Role.at_least(self.request.role, Role.ADMIN) and registration.self_service,
            "brand_form": brand_form,
            "campaign_form": campaign_form,
            "step": step,
            "campaign_submittable": brand is not None and brand.status == TenDlcBrand.Status.OK,
        }
        return render(self.request, "messaging/tendlc.html", context, status=status)


class TenDlcView(TenDlcPage):
    def get(self, request):
        return self.render_page()


class TenDlcBrandView(TenDlcPage):
    def get(self, request):
        return redirect("tendlc")

    def post(self, request):
        church = request.church
        registration = tendlc_registration(church=church)
        form = TenDlcBrandForm(request.POST, instance=registration.brand)
        if not form.is_valid():
            return self.render_page(brand_form=form, step="brand", status=400)
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            tendlc.brand_save(church=church, acting_user=request.user, **fields)
            if request.POST.get("action") == "submit":
                tendlc.brand_submit(church=church, acting_user=request.user)
                messages.success(request, "Submitted. The Campaign Registry usually answers within a few days.")
            else:
                messages.success(request, "Saved. Submit when the details match the church's IRS letter.")
            return redirect(reverse("tendlc") + "?step=campaign")
        except tendlc.TenDlcSubmitError as exc:
            _show_refusal(form, exc)
            return self.render_page(brand_form=form, step="brand", status=400)
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        return redirect("tendlc")


def _show_refusal(form, exc, *, aliases: dict[str, str] | None = None) -> None:
    """Put the registrar's refusal on the form: each field problem next to its field (``aliases`` map
    service names to form fields), the summary at the top."""
    for name, reason in exc.field_errors.items():
        name = (aliases or {}).get(name, name)
        form.add_error(name if name in form.fields else None, reason)
    form.add_error(None, exc.message)


class TenDlcCampaignView(TenDlcPage):
    def get(self, request):
        return redirect("tendlc")

    def post(self, request):
        church = request.church
        form = TenDlcCampaignForm(request.POST)
        if not form.is_valid():
            return self.render_page(campaign_form=form, step="campaign", status=400)
        try:
            tendlc.campaign_save(church=church, acting_user=request.user, **form.service_fields())
            if request.POST.get("action") == "submit":
                campaign = tendlc.campaign_request_submission(church=church, acting_user=request.user)
                if campaign.campaign_status:
                    messages.success(request, "Campaign submitted. Carriers usually review it within a week.")
                else:
                    messages.success(
                        request, "Saved. We'll submit the campaign as soon as the church's registration is approved."
                    )
            else:
                messages.success(request, "Campaign saved.")
        except tendlc.TenDlcSubmitError as exc:
            _show_refusal(form, exc, aliases={"sample_messages": "sample_1"})
            return self.render_page(campaign_form=form, step="campaign", status=400)
        except BusinessRuleError as exc:
            messages.error(request, exc.message)
        return redirect("tendlc")


class TenDlcCampaignDetailView(TenDlcPage):
    """One submitted campaign: what was sent, what the registry said, its history."""

    model = TenDlcCampaign

    def church_queryset(self):
        return tendlc_campaign_list(church=self.request.church)

    def get(self, request, pk):
        campaign = get_scoped_object_or_404(self.get_queryset(), request.church, pk=pk)
        context = {"campaign": campaign, "events": tendlc_campaign_events(church=request.church, campaign=campaign)}
        return render(request, "messaging/tendlc_campaign.html", context)


class TenDlcRefreshView(TenDlcPage):
    """Ask the registrar now instead of waiting for the next webhook or poll."""

    def post(self, request):
        changed = tendlc.church_poll(church_id=request.church.pk)
        messages.info(request, "Status updated." if changed else "No news from the registry yet.")
        return redirect("tendlc")
