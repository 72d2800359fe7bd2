"""/analytics/: a church's figures over 7, 30 or 90 days, for the whole church or one branch (any role
may read). Reads the daily rollup only (selectors.analytics_report)."""

from django.shortcuts import render
from django.views import View

from analytics import charts, selectors
from analytics.forms import RangeForm
from analytics.models import DailyStat
from churches.models import Role
from churches.selectors import branch_get
from koinonia.tenancy import ChurchPageMixin


class AnalyticsView(ChurchPageMixin, View):
    model = DailyStat
    roles = {"SAFE": Role.VIEWER}

    def get(self, request):
        church = request.church
        form = RangeForm(request.GET or None)
        status = 200
        days, branch = selectors.DEFAULT_RANGE, None
        if form.is_bound:
            if form.is_valid():
                days = form.cleaned_data["days"]
                if form.cleaned_data.get("branch"):
                    branch = branch_get(church=church, id=form.cleaned_data["branch"])  # another church's: 404
            else:
                status = 400
        report = selectors.analytics_report(church=church, days=days, branch=branch)
        context = {
            "form": form,
            "report": report,
            "ranges": selectors.RANGES,
            "branches": selectors.branch_choices(church=church),
            "charts": _charts(report),
            "table_rows": charts.table_rows(report["series"]),
            "cost_dollars": f"{report['totals']['cost_cents'] / 100:,.2f}",
        }
        return render(request, "analytics/analytics.html", context, status=status)


def _charts(report: dict) -> list:
    days = [point["day"] for point in report["series"]]
    values = {field: [point[field] for point in report["series"]] for field in report["series"][0] if field != "day"}
    span = f"{report['first_day']:%b %-d} to {report['last_day']:%b %-d, %Y}"
    totals = report["totals"]
    awaiting = [sent - delivered for sent, delivered in zip(values["sent"], values["delivered"], strict=True)]
    return [
        charts.bar_chart(
            chart_id="chart-delivery",
            title="Texts per day",
            desc=f"Delivered, awaiting a report and failed texts per day, {span}: {totals['delivered']:,} delivered, "
            f"{totals['failed']:,} failed in all.",
            days=days,
            series=[
                ("delivered", "#2e7d32", values["delivered"]),
                ("sent, no report yet", "#90caf9", awaiting),
                ("failed", "#c62828", values["failed"]),
            ],
        ),
        charts.bar_chart(
            chart_id="chart-replies",
            title="Replies per day",
            desc=f"Texts members sent the church per day, {span}: {totals['replies']:,} in all.",
            days=days,
            series=[("replies", "#5e35b1", values["replies"])],
        ),
        charts.bar_chart(
            chart_id="chart-audience",
            title="New members and opt-outs per day",
            desc=f"New members and opt-outs per day, {span}: {totals['new_members']:,} new members, "
            f"{totals['opt_outs']:,} opt-outs.",
            days=days,
            series=[("new members", "#00897b", values["new_members"]), ("opt-outs", "#ef6c00", values["opt_outs"])],
        ),
    ]
