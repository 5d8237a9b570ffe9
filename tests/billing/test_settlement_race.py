"""Two real processes race on one invoice against PostgreSQL: exactly one settles it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select

from app.billing.models import Invoice, InvoiceStatus
from app.ledger.service import check_books
from app.payments.models import Payment
from tests.factories import make_invoice

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def race(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers and is not the production database")

    # Racers can take several seconds to start on a busy machine: wait without redis-py's socket timeout.
    redis = Redis.from_url(app.config["REDIS_URL"], socket_timeout=None)

    def run(invoice_id: int, first: tuple[str, int], second: tuple[str, int]) -> list[dict]:
        procs, keys = [], []
        for n, ((rail_id, amount), hold) in enumerate(((first, 1.0), (second, 0.0))):
            keys.append(f"race-start-{invoice_id}-{n}")
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "tests/billing/race_settle.py"),
                        str(invoice_id),
                        rail_id,
                        str(amount),
                        str(hold),
                        app.config["REDIS_URL"],
                        keys[-1],
                    ],
                    cwd=ROOT,
                    env=dict(os.environ, PYTHONPATH=str(ROOT)),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for key in keys:  # both processes up and connected
            assert redis.blpop([f"{key}:ready"], timeout=60), "a racer did not start"
        redis.rpush(keys[0], "go")
        time.sleep(0.3)  # the first is inside its transaction, holding it open for a second
        redis.rpush(keys[1], "go")
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results

    return run


def test_two_processes_paying_one_invoice_in_full_settle_it_once(race, db):
    invoice = make_invoice(amount_minor=4900)
    results = race(invoice.id, ("WIRE-A", 4900), ("WIRE-B", 4900))
    assert sorted(r["outcome"] for r in results) == ["needs_review", "paid"]
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid_minor == 4900
    assert check_books() == []


def test_two_processes_delivering_the_same_payment_record_it_once(race, db):
    invoice = make_invoice(amount_minor=4900)
    results = race(invoice.id, ("WIRE-SAME", 4900), ("WIRE-SAME", 4900))
    assert sorted(r["outcome"] for r in results) == ["duplicate", "paid"]
    assert results[0]["payment"] == results[1]["payment"]
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    assert check_books() == []
