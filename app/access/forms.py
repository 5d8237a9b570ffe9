"""Forms of the API-token and webhook settings screens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, StringField, URLField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.access.events import EVENT_TYPES


class ApiTokenForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[DataRequired(message="Give the token a name, e.g. the script that will use it."), Length(max=120)],
        render_kw={"placeholder": "e.g. signup script", "autocomplete": "off"},
    )


class WebhookEndpointForm(FlaskForm):
    url = URLField(
        "Endpoint URL",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[DataRequired(message="Enter the URL your product listens on."), Length(max=500)],
        render_kw={"placeholder": "https://app.example.com/hooks/advancia"},
    )
    events = SelectMultipleField(
        "Events (none ticked = all, including ones added later)",
        choices=[SelectChoice(e) for e in EVENT_TYPES],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=True,
    )
