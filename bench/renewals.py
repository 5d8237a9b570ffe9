"""Renewal run benchmark: invoices created per second and memory, bulk path against the per-row baseline.

    .venv/bin/python bench/renewals.py [--subscriptions 50000] [--baseline 2000] [--database-url URL]

Creates its own PostgreSQL database on the server of DATABASE_URL (default: the local one), migrates it, seeds
subscriptions whose period has ended with bulk inserts, then, at one fixed `now`:
  1. the per-row path (every renewal through the ORM services) on `--baseline` subscriptions;
  2. the bulk path on the same number of fresh subscriptions (same-size comparison);
  3. the bulk path on `--subscriptions` fresh subscriptions, RSS sampled during the run and after each batch;
  4. the same run again, which must create nothing;
then proves the books (app.ledger.service.check_books) and drops the database. Prints a report and writes it as
JSON to bench/results/renewals-<time>.json. bench/README.md (Renewal benchmark) holds the last figures.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUN_AT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
ANCHOR = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)


class PeakRss:
    """Samples this process's resident memory every 10 ms while the block runs."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRss:
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def mib(n: int) -> float:
    return round(n / 2**20, 1)


def create_database(server_url: str) -> tuple[str, sa.Engine, str]:
    from app.config import normalise_database_url

    admin_url = normalise_database_url(server_url)
    name = f"advancia_bench_renewals_{os.getpid()}_{secrets.token_hex(2)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")), admin, name


def seed(count: int, tag: str, plan_id: int) -> None:
    """`count` customers with an active monthly subscription whose period ended before RUN_AT (bulk inserts)."""
    from sqlalchemy import insert, select, text

    from app.billing.models import Interval, Subscription, SubscriptionStatus
    from app.billing.periods import period_end
    from app.customers.models import Customer
    from app.extensions import db

    now = datetime.now(UTC)
    for start in range(0, count, 5000):
        size = min(5000, count - start)
        db.session.execute(
            insert(Customer.__table__),
            [
                {
                    "external_id": f"{tag}-{start + i}",
                    "email": f"{tag}-{start + i}@bench.test",
                    "name": f"Customer {tag}-{start + i}",
                    "preferred_currency": "USD",
                    "credit_balance_minor": 0,
                    "created_at": now,
                }
                for i in range(size)
            ],
        )
    ids = db.session.scalars(
        select(Customer.id).where(Customer.external_id.like(f"{tag}-%")).order_by(Customer.id)
    ).all()
    for start in range(0, count, 5000):
        rows = []
        for i, customer_id in enumerate(ids[start : start + 5000], start=start):
            anchor = ANCHOR - timedelta(minutes=i % 1440)  # spread over a day, all ended by RUN_AT
            rows.append(
                {
                    "customer_id": customer_id,
                    "plan_id": plan_id,
                    "status": SubscriptionStatus.ACTIVE,
                    "billing_anchor": anchor,
                    "current_period_start": anchor,
                    "current_period_end": period_end(anchor, Interval.MONTH, 1),
                    "cancel_at_period_end": False,
                    "dunning_step": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        db.session.execute(insert(Subscription.__table__), rows)
    db.session.commit()
    # A live database has planner statistics (autovacuum keeps them); a table filled a second ago does not, and
    # without them PostgreSQL sorts every due subscription for each batch instead of walking the primary key.
    db.session.execute(text("ANALYZE customers, subscriptions, invoices"))
    db.session.commit()


def timed_run(label: str, *, per_row: bool = False, batch_size: int = 1000) -> dict:
    from app.billing.renewals import run_renewals

    batches: list[dict] = []
    process = psutil.Process()

    def progress(summary: dict) -> None:
        batches.append(
            {
                "invoices": summary["invoices_created"],
                "rss_mib": mib(process.memory_info().rss),
                "at": time.perf_counter(),
            }
        )

    backend = psutil.Process(_backend_pid())
    cpu_before = _cpu_seconds(process), _cpu_seconds(backend)
    with PeakRss() as rss:
        started = time.perf_counter()
        summary = run_renewals(RUN_AT, per_row=per_row, batch_size=batch_size, progress=progress)
        seconds = time.perf_counter() - started
    cpu_python, cpu_postgres = _cpu_seconds(process) - cpu_before[0], _cpu_seconds(backend) - cpu_before[1]
    created = summary["invoices_created"]
    result = {
        "run": label,
        "invoices_created": created,
        "seconds": round(seconds, 2),
        "invoices_per_second": round(created / seconds) if created else 0,
        "rss_start_mib": mib(rss.start),
        "rss_peak_mib": mib(rss.peak),
        "rss_peak_growth_mib": mib(rss.peak - rss.start),
        "cpu_seconds_python": round(cpu_python, 2),
        "cpu_seconds_postgres_backend": round(cpu_postgres, 2),
        # what one core each would do with nobody else on the machine: the work itself, without the queueing
        "invoices_per_cpu_second": round(created / (cpu_python + cpu_postgres)) if created else 0,
        "summary": summary,
    }
    if len(batches) > 2:
        picks = sorted({0, 1, len(batches) // 2, len(batches) - 1})
        result["rss_mib_after_invoices"] = {batches[i]["invoices"]: batches[i]["rss_mib"] for i in picks}
        # throughput over the first and the last fifth of the batches: a run that slows as tables grow shows here
        fifth = max(1, len(batches) // 5)
        first = (batches[fifth]["invoices"] - batches[0]["invoices"]) / (batches[fifth]["at"] - batches[0]["at"])
        last = (batches[-1]["invoices"] - batches[-1 - fifth]["invoices"]) / (
            batches[-1]["at"] - batches[-1 - fifth]["at"]
        )
        result["invoices_per_second_first_fifth"] = round(first)
        result["invoices_per_second_last_fifth"] = round(last)
    print(
        f"{label:<30} {created:>6} invoices {seconds:>7.2f} s {result['invoices_per_second']:>6}/s "
        f"({result['invoices_per_cpu_second']}/CPU-s)  RSS {result['rss_start_mib']} -> peak "
        f"{result['rss_peak_mib']} MiB  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return result


def _backend_pid() -> int:
    """The PostgreSQL backend serving this session (same machine), to count its CPU time too."""
    from app.extensions import db

    pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
    db.session.commit()
    return pid


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=50_000)
    parser.add_argument("--baseline", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql")):
        parser.error("the benchmark runs on PostgreSQL: --database-url postgresql://...")

    url, admin, name = create_database(args.database_url)
    os.environ.update(
        DATABASE_URL=url,
        ADVANCIA_INSTANCE_DIR=tempfile.mkdtemp(prefix="advancia-bench-"),
        SECRET_KEY="bench",
        ADVANCIA_ENV="bench",
    )
    from flask_migrate import upgrade

    from app import create_app
    from app.access.models import WebhookEndpoint
    from app.billing.plans import create_plan, free_plan
    from app.extensions import db
    from app.ledger.service import check_books

    app = create_app()
    report: dict = {
        "database": "PostgreSQL " + _server_version(admin),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    try:
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            plan = create_plan("pro", "Pro", 4900, "USD", limits={"seats": 5}, actor="bench")
            free_plan()
            # The product listens for events, so every renewal also writes its past-due webhook delivery.
            db.session.add(WebhookEndpoint(url="https://product.example/hooks", secret="whsec_bench", events=[]))
            db.session.commit()

            runs = []
            seed(args.baseline, "base", plan.id)
            runs.append(timed_run(f"per-row ORM path, {args.baseline:,}", per_row=True))
            seed(args.baseline, "same", plan.id)
            runs.append(timed_run(f"bulk path, {args.baseline:,}", batch_size=args.batch_size))
            started = time.perf_counter()
            seed(args.subscriptions, "bulk", plan.id)
            report["seed_seconds"] = round(time.perf_counter() - started, 1)
            runs.append(timed_run(f"bulk path, {args.subscriptions:,}", batch_size=args.batch_size))
            runs.append(timed_run("bulk path, same day again", batch_size=args.batch_size))
            report["runs"] = runs

            started = time.perf_counter()
            problems = check_books()
            report["ledger_check"] = {"problems": problems[:10], "seconds": round(time.perf_counter() - started, 1)}
            print(f"ledger check: {len(problems)} problem(s) in {report['ledger_check']['seconds']} s")
            report["ratio_same_size"] = round(runs[1]["invoices_per_second"] / runs[0]["invoices_per_second"], 1)
            report["ratio_full_run"] = round(runs[2]["invoices_per_second"] / runs[0]["invoices_per_second"], 1)
            print(f"bulk / per-row: {report['ratio_same_size']}x at {args.baseline:,}, {report['ratio_full_run']}x "
                  f"at {args.subscriptions:,}; second run created {runs[3]['invoices_created']}")  # fmt: skip
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    report["load_average_at_end"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"renewals-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"report: {out.relative_to(ROOT)}")
    ok = not report["ledger_check"]["problems"] and report["runs"][3]["invoices_created"] == 0
    return 0 if ok else 1


def _server_version(admin: sa.Engine) -> str:
    with admin.connect() as conn:
        return conn.execute(sa.text("SHOW server_version")).scalar_one()


if __name__ == "__main__":
    sys.exit(main())
