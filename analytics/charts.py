"""Daily charts drawn on the server as inline SVG: no JavaScript, a viewBox so the chart scales to its
container (width 100%, nothing overflows a 390 px phone), and a <title>/<desc> for screen readers (the
page also has the numbers as a table). Every piece of text goes through format_html (escaped)."""

from __future__ import annotations

import datetime as dt

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 320, 120, 8, 16, 28
AXIS = (
    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-width="0.5"/>'
    '<text x="{}" y="{}" font-size="8" text-anchor="end" fill="#555">{}</text>'
    '<text x="{}" y="{}" font-size="8" text-anchor="end" fill="#555">0</text>'
)
ENDS = (
    '<text x="{}" y="{}" font-size="8" fill="#555">{}</text>'
    '<text x="{}" y="{}" font-size="8" text-anchor="end" fill="#555">{}</text>'
)
FIGURE = (
    '<figure class="chart" style="margin:0 0 1rem">'
    '<svg viewBox="0 0 {} {}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
    'aria-labelledby="{}-title {}-desc"><title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}{}{}</svg>'
    '<figcaption class="muted">{}</figcaption></figure>'
)
LEGEND = '<span class="legend-item"><span aria-hidden="true" style="color:{}">&#9632;</span> {}</span> '


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    step = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * step:
            return int(factor * step)
    return value


def _label(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def bar_chart(
    *, chart_id: str, title: str, desc: str, days: list[dt.date], series: list[tuple[str, str, list[int]]]
) -> SafeString:
    """Stacked bars, one per day. ``series``: (label, colour, values), bottom first. The bars are built
    with plain string formatting (a 90-day page has hundreds): every piece is a number, a date label or a
    label/colour escaped once per series."""
    count = max(len(days), 1)
    totals = [sum(values[i] for _, _, values in series) for i in range(len(days))] or [0]
    top = _nice_max(max(totals))
    plot_w, plot_h = WIDTH - LEFT - 2, HEIGHT - TOP - BOTTOM
    slot = plot_w / count
    bar_w = max(slot * 0.75, 0.8)
    labels = [_label(day) for day in days]
    safe_series = [(escape(label), escape(colour), values) for label, colour, values in series]
    bars = []
    for i in range(len(days)):
        y = TOP + plot_h
        x = LEFT + i * slot + (slot - bar_w) / 2
        for label, colour, values in safe_series:
            value = values[i]
            if value <= 0:
                continue
            height = value / top * plot_h
            y -= height
            bars.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{labels[i]}: {value:,} {label}</title></rect>"
            )
    base = TOP + plot_h
    axis = format_html(AXIS, LEFT, base, WIDTH - 2, base, LEFT - 3, TOP + 6, f"{top:,}", LEFT - 3, base)
    ends = format_html(ENDS, LEFT, HEIGHT - 3, labels[0], WIDTH - 2, HEIGHT - 3, labels[-1]) if days else ""
    legend = format_html_join("", LEGEND, ((colour, label) for label, colour, _ in series))
    body = mark_safe("".join(bars))  # noqa: S308 - numbers, date labels and the escaped labels above
    return format_html(FIGURE, WIDTH, HEIGHT, *[chart_id] * 3, title, chart_id, desc, axis, body, ends, legend)


TABLE_FIELDS = ("sent", "delivered", "failed", "replies", "opt_outs", "opt_ins", "new_members", "segments")


def table_rows(series: list[dict]) -> SafeString:
    """The charts' numbers as table rows, newest first (built in Python: 90 rows x 9 cells through the
    template engine cost more than the rest of the page; every cell is a number or a date label)."""
    rows = []
    for point in reversed(series):
        cells = "".join(f"<td>{point[field]:,}</td>" for field in TABLE_FIELDS)
        rows.append(f'<tr><th scope="row">{_label(point["day"])}</th>{cells}</tr>')
    return mark_safe("".join(rows))  # noqa: S308 - numbers and date labels only
