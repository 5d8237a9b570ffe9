"""The same-run baseline of bench/stripe_webhooks.py: a bare Flask endpoint that reads the body and answers JSON."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/webhooks/stripe")
def receive():
    request.get_data()
    return {"received": True}
