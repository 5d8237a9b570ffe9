"""The collected-revenue chart: a Plotly figure as JSON, drawn by static/js/dashboard.js (no inline script)."""

from __future__ import annotations

from decimal import Decimal

import plotly.graph_objects as go
import plotly.io as pio

from app.dashboard.revenue import Revenue
from app.money import exponent

#: one colour per currency, in the app's palette (brand indigo first)
COLOURS = ("#4f46e5", "#0d9488", "#d97706", "#db2777", "#6b7280")


def revenue_figure_json(revenue: Revenue) -> str:
    """Bars per month, one series per currency (amounts in different currencies are never added)."""
    labels = [month.strftime("%b %Y") for month in revenue.months]
    figure = go.Figure()
    for i, (currency, values) in enumerate(revenue.collected.items()):
        # Major units for drawing only; every figure on the page itself is formatted from integer minor units.
        amounts = [Decimal(value).scaleb(-exponent(currency)) for value in values]
        figure.add_bar(
            x=labels,
            y=amounts,
            name=currency,
            # The current month is still filling up: drawn lighter.
            marker={"color": COLOURS[i % len(COLOURS)], "opacity": [1.0] * (len(labels) - 1) + [0.5]},
            hovertemplate=f"%{{x}}: %{{y:,.2f}} {currency}<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        margin={"l": 48, "r": 8, "t": 8, "b": 32},
        height=280,
        legend={"orientation": "h", "y": 1.12, "x": 0},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "-apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif", "size": 12},
        yaxis={"gridcolor": "#e5e7eb", "tickformat": ",.0f", "rangemode": "tozero"},
        xaxis={"fixedrange": True},
    )
    # Inside a <script type="application/json"> block: no "<" may close it early.
    return pio.to_json(figure, validate=False).replace("<", "\\u003c")
