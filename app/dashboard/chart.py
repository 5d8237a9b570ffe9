"""The collected-revenue chart: a Plotly figure as JSON, drawn by static/js/dashboard.js (no inline script)."""

from __future__ import annotations

from decimal import Decimal

import plotly.io as pio

from app.dashboard.revenue import Revenue
from app.money import exponent

#: one colour per currency, in the app's palette (brand indigo first)
COLOURS = ("#4f46e5", "#0d9488", "#d97706", "#db2777", "#6b7280")


def revenue_figure_json(revenue: Revenue) -> str:
    """Bars per month, one series per currency (amounts in different currencies are never added).

    A plain figure dict rather than graph_objects: building and validating those cost more than the page's
    queries, for a figure whose shape is fixed here."""
    labels = [month.strftime("%b %Y") for month in revenue.months]
    traces = []
    for i, (currency, values) in enumerate(revenue.collected.items()):
        traces.append(
            {
                "type": "bar",
                "name": currency,
                "x": labels,
                # Major units for drawing only; every figure on the page itself is formatted from integer minor units.
                "y": [Decimal(value).scaleb(-exponent(currency)) for value in values],
                # The current month is still filling up: drawn lighter.
                "marker": {"color": COLOURS[i % len(COLOURS)], "opacity": [1.0] * (len(labels) - 1) + [0.5]},
                "hovertemplate": f"%{{x}}: %{{y:,.2f}} {currency}<extra></extra>",
            }
        )
    layout = {
        "barmode": "group",
        "margin": {"l": 48, "r": 8, "t": 8, "b": 32},
        "height": 280,
        "legend": {"orientation": "h", "y": 1.12, "x": 0},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "-apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif", "size": 12},
        "yaxis": {"gridcolor": "#e5e7eb", "tickformat": ",.0f", "rangemode": "tozero"},
        "xaxis": {"fixedrange": True},
    }
    # Inside a <script type="application/json"> block: no "<" may close it early.
    return pio.to_json({"data": traces, "layout": layout}, validate=False).replace("<", "\\u003c")
