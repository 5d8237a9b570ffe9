"""Run by test_settlement_race in two separate processes: settle one payment on one invoice at a signal."""

import json
import sys
import time
from decimal import Decimal

from redis import Redis

from app import create_app
from app.extensions import db
from app.payments.models import Rail
from app.payments.settlement import IncomingPayment, settle_payment


def main() -> None:
    invoice_id, rail_id, amount, hold, redis_url, start_key = sys.argv[1:7]
    app = create_app()
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))  # connect before the start signal
        db.session.rollback()
        redis = Redis.from_url(redis_url, socket_timeout=None)  # blpop waits longer than the default
        redis.rpush(f"{start_key}:ready", "1")
        redis.blpop([start_key], timeout=30)
        result = settle_payment(
            int(invoice_id),
            IncomingPayment(
                rail=Rail.WIRE,
                rail_payment_id=rail_id,
                amount_received_minor=int(amount),
                currency_received="USD",
                amount_minor=int(amount),
                exchange_rate=Decimal(1),
            ),
            actor="test:race",
        )
        time.sleep(float(hold))  # keep the transaction open so the other process runs into it
        db.session.commit()
        print(json.dumps({"outcome": result.outcome.value, "payment": result.payment.id}))


if __name__ == "__main__":
    main()
