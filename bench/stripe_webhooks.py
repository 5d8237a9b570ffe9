"""Stripe webhook ingestion through gunicorn (2 workers) against a bare Flask endpoint in the same run, then the
rate at which one rq worker processes the stored events.

    .venv/bin/python bench/stripe_webhooks.py [--database postgres|sqlite] [--seconds 10] [--connections 8]
                                              [--rounds 3] [--payments 500] [--postgres-server URL]
                                              [--synchronous-commit]

Figures and method: bench/README.md (stripe_webhooks.py).
Results also go to bench/results/stripe_webhooks-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def database(kind: str, workdir: Path, server: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    name = f"advancia_bench_stripe_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, int | None]]:
    from app.embedded_redis import EmbeddedRedis

    redis = EmbeddedRedis(workdir / "redis")
    try:
        url = redis.start()
        yield url, redis.process.pid if redis.process else None
    finally:
        redis.stop()


@contextmanager
def gunicorn(env: dict, app_spec: str, extra: list[str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", *extra, app_spec],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(env["BENCH_WORKDIR"] + f"/gunicorn-{port}.log", "w"),  # noqa: SIM115
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn {app_spec} exited with {process.returncode}")
            try:  # an answer, not just a connection: the master listens before its workers are up
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/ready-probe")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def realistic_event(n: int, created: int) -> dict:
    """A payment_intent.succeeded as Stripe sends it (about 1.5 kB), with a unique event id."""
    pi = f"pi_bench{n:010d}"
    return {
        "id": f"evt_bench{secrets.token_hex(6)}{n:010d}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": {
            "object": {
                "id": pi,
                "object": "payment_intent",
                "amount": 4900,
                "amount_capturable": 0,
                "amount_received": 4900,
                "capture_method": "automatic",
                "client_secret": f"{pi}_secret_{secrets.token_hex(12)}",
                "confirmation_method": "automatic",
                "created": created,
                "currency": "usd",
                "customer": f"cus_bench{n % 997:06d}",
                "description": f"Invoice {n}",
                "last_payment_error": None,
                "latest_charge": f"ch_bench{n:010d}",
                "livemode": False,
                "metadata": {"advancia_invoice": f"ADV{n % 10**8:08d}"},
                "payment_method": f"pm_bench{n:010d}",
                "payment_method_options": {
                    "card": {
                        "installments": None,
                        "mandate_options": None,
                        "network": None,
                        "request_three_d_secure": "automatic",
                    }
                },
                "payment_method_types": ["card"],
                "setup_future_usage": None,
                "shipping": None,
                "statement_descriptor": None,
                "status": "succeeded",
                "transfer_data": None,
            },
            "previous_attributes": None,
        },
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{secrets.token_hex(7)}", "idempotency_key": secrets.token_hex(16)},
        "type": "payment_intent.succeeded",
    }


def write_signed_events(path: Path, count: int, start: int) -> None:
    """One "<Stripe-Signature>\\t<body>" line per event, signed now (valid for the next five minutes)."""
    now = int(time.time())
    with path.open("w") as out:
        for n in range(start, start + count):
            body = json.dumps(realistic_event(n, now), separators=(",", ":"))
            digest = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
            out.write(f"t={now},v1={digest}\t{body}\n")


def cpu_seconds(processes: list) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_wrk(url: str, events: Path, seconds: int, connections: int, watch: dict | None = None) -> dict:
    """`watch`: name -> processes whose CPU time is counted during the run (per request in the result)."""
    watch = watch or {}
    before = {name: cpu_seconds(procs) for name, procs in watch.items()}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(BENCH / "_stripe_wrk.lua"),
            url,
            "--",
            str(events),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(re.search(r"RESULT (\{.*\})", done.stdout).group(1))
    if not result["requests"]:
        raise RuntimeError(f"wrk made no request against {url}:\n{done.stdout}\n{done.stderr}")
    result["per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    cpu = {name: cpu_seconds(procs) - before[name] for name, procs in watch.items()}
    cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    result["cpu_ms_per_request"] = {name: 1000 * value / result["requests"] for name, value in cpu.items()}
    result["cpu_ms_per_request"]["total"] = sum(result["cpu_ms_per_request"].values())
    return result


def measure_ingestion(env: dict, args, workdir: Path, redis_pid: int | None) -> list[dict]:
    rounds = []
    next_event = 0
    for number in range(1, args.rounds + 1):
        warm = workdir / "warm.txt"
        write_signed_events(warm, 2000, 10**9 + next_event)
        next_event += 2000
        with gunicorn(env, "_stripe_bare_flask:app", ["--pythonpath", str(BENCH)]) as (bare_url, master):
            run_wrk(f"{bare_url}/webhooks/stripe", warm, 2, args.connections)
            watch = {"web": psutil.Process(master.pid).children()}
            bare = run_wrk(f"{bare_url}/webhooks/stripe", warm, args.seconds, args.connections, watch)
        events = workdir / "events.txt"
        # Enough unique events for the run: the app can only be slower than the bare endpoint.
        count = int(bare["per_second"] * args.seconds * 1.2) + 1000
        with gunicorn(env, "wsgi:app", []) as (app_url, master):
            run_wrk(f"{app_url}/webhooks/stripe", warm, 2, args.connections)
            write_signed_events(events, count, next_event)
            next_event += count
            watch = {"web": psutil.Process(master.pid).children(), "database": database_backends(env)}
            if redis_pid:
                watch["redis"] = [psutil.Process(redis_pid)]
            ours = run_wrk(f"{app_url}/webhooks/stripe", events, args.seconds, args.connections, watch)
        ours["unique_events_available"] = count
        rounds.append(
            {
                "round": number,
                "bare_flask": bare,
                "stripe_webhook": ours,
                "ratio": ours["per_second"] / bare["per_second"],
                "cpu_ratio": bare["cpu_ms_per_request"]["total"] / ours["cpu_ms_per_request"]["total"],
            }
        )
        print(
            f"round {number}: bare {bare['per_second']:.0f}/s p95 {bare['p95_us'] / 1000:.1f} ms "
            f"cpu {bare['cpu_ms_per_request']['total']:.2f} ms/req; "
            f"webhook {ours['per_second']:.0f}/s p95 {ours['p95_us'] / 1000:.1f} ms "
            f"cpu {ours['cpu_ms_per_request']['total']:.2f} ms/req "
            f"({', '.join(f'{k} {v:.2f}' for k, v in ours['cpu_ms_per_request'].items() if k != 'total')}); "
            f"ratio {rounds[-1]['ratio']:.0%}, by CPU {rounds[-1]['cpu_ratio']:.0%}",
            flush=True,
        )
    return rounds


def database_backends(env: dict) -> list:
    """The PostgreSQL server processes serving the app's connections (none for SQLite)."""
    url = env["DATABASE_URL"]
    if not url.startswith("postgres"):
        return []
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
            )
        ]
    return [psutil.Process(pid) for pid in pids]


def measure_processing(env: dict, payments: int, fake) -> dict:
    """`payments` invoices paid through Checkout in the stand-in; their events (4 per payment) delivered to the
    app through gunicorn, then drained by one `rq worker --burst`."""
    import requests
    from rq import Queue
    from sqlalchemy import func, select, update

    from app import create_app
    from app.automation.models import JobRun
    from app.billing.invoices import LineInput, create_invoice
    from app.billing.models import Invoice, InvoiceStatus
    from app.customers.service import create_customer
    from app.extensions import db
    from app.ledger.service import check_books
    from app.payments.stripe.events import DRAIN_FLAG
    from app.payments.stripe.models import StripeEvent, StripeEventStatus
    from app.queues import get_redis

    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k.startswith(("DATABASE_URL", "REDIS_URL", "STRIPE_", "ADVANCIA_", "SECRET_KEY"))
        }
    )
    app = create_app()
    with app.app_context():
        # The ingestion load is not what we measure here.
        db.session.execute(
            update(StripeEvent)
            .where(StripeEvent.status == StripeEventStatus.RECEIVED)
            .values(status=StripeEventStatus.IGNORED, result="bench: ingestion load")
        )
        db.session.commit()
        Queue("default", connection=get_redis()).empty()
        get_redis().delete(DRAIN_FLAG)
        invoices = []
        for n in range(payments):
            customer = create_customer(f"bench-{n}", f"bench{n}@example.com", f"Bench {n}", actor="bench")
            invoices.append(create_invoice(customer, "USD", [LineInput("Pro plan", 4900)], actor="bench"))
        db.session.commit()
        events = []
        with fake.state.lock:
            for invoice in invoices:
                customer = fake.state.create_customer({"email": invoice.customer.email})
                session = fake.state.create_checkout_session(
                    {
                        "mode": "payment",
                        "customer": customer["id"],
                        "success_url": "http://x/s",
                        "cancel_url": "http://x/c",
                        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 4900}}],
                        "metadata": {"advancia_invoice": invoice.reference_code},
                        "payment_intent_data": {"metadata": {"advancia_invoice": invoice.reference_code}},
                    }
                )
                fake.state.pay_checkout_session(session["id"], "4242424242424242")
            events = [e for e in fake.new_events() if e["type"] != "customer.created"]
        with gunicorn(env, "wsgi:app", []) as (app_url, _):
            http = requests.Session()
            for event in events:
                body, header = fake.signed(event)
                answer = http.post(f"{app_url}/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
                assert answer.status_code == 200, answer.text
        started = time.perf_counter()
        worker = subprocess.run(
            [str(BIN / "rq"), "worker", "--burst", "--url", env["REDIS_URL"], "default"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        assert worker.returncode == 0, worker.stderr[-3000:]
        db.session.rollback()
        runs = db.session.scalars(select(JobRun).where(JobRun.job_name == "stripe_events")).all()
        busy_ms = sum(run.duration_ms for run in runs)
        paid = db.session.scalar(select(func.count()).select_from(Invoice).where(Invoice.status == InvoiceStatus.PAID))
        left = db.session.scalar(
            select(func.count()).select_from(StripeEvent).where(StripeEvent.status == StripeEventStatus.RECEIVED)
        )
        problems = check_books()
    assert paid == payments and left == 0 and not problems, (paid, left, problems[:3])
    return {
        "payments": payments,
        "events": len(events),
        "drain_jobs": len(runs),
        "drain_seconds": busy_ms / 1000,
        "events_per_second": len(events) / (busy_ms / 1000),
        "payments_per_second": payments / (busy_ms / 1000),
        "worker_wall_seconds_with_startup": wall,
        "summaries": [run.summary for run in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--postgres-server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument(
        "--synchronous-commit",
        action="store_true",
        help="store each event waiting for the disk (STRIPE_WEBHOOK_SYNCHRONOUS_COMMIT=1), to measure that choice",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) / 2:
        print(f"note: the machine is busy (1-minute load {load:.1f}); figures will be noisy", flush=True)
    from tests.fakes.stripe_server import FakeStripe

    workdir = Path(tempfile.mkdtemp(prefix="advbench-stripe-", dir="/tmp"))
    fake = FakeStripe(webhook_secret=WEBHOOK_SECRET)
    try:
        with (
            database(args.database, workdir, args.postgres_server) as db_url,
            redis_server(workdir) as (redis_url, redis_pid),
        ):
            env = {
                **os.environ,
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "ADVANCIA_INSTANCE_DIR": str(workdir / "instance"),
                "ADVANCIA_ENV": "development",
                "SECRET_KEY": secrets.token_hex(32),
                "STRIPE_SECRET_KEY": fake.api_key,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "STRIPE_API_BASE": fake.start(),
                "FLASK_APP": "wsgi:app",
                "BENCH_WORKDIR": str(workdir),
                "STRIPE_WEBHOOK_SYNCHRONOUS_COMMIT": "1" if args.synchronous_commit else "",
            }
            subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
            rounds = measure_ingestion(env, args, workdir, redis_pid)
            processing = measure_processing(env, args.payments, fake)
    finally:
        fake.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = statistics.median(r["ratio"] for r in rounds)
    cpu_ratio = statistics.median(r["cpu_ratio"] for r in rounds)
    print(
        f"\ningestion ({args.database}, gunicorn 2 workers, wrk -t1 -c{args.connections} -d{args.seconds}s): "
        f"median ratio webhook/bare = {ratio:.0%} (by CPU per request: {cpu_ratio:.0%})\n"
        f"processing: {processing['events']} events ({processing['payments']} payments) in "
        f"{processing['drain_seconds']:.1f} s of drain = {processing['events_per_second']:.0f} events/s, "
        f"{processing['payments_per_second']:.0f} payments/s (worker wall time with startup "
        f"{processing['worker_wall_seconds_with_startup']:.1f} s)"
    )
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    out = results / f"stripe_webhooks-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {
                "commit": commit.strip(),
                "cpus": os.cpu_count(),
                "load_at_start": load,
                "args": vars(args),
                "ingestion_rounds": rounds,
                "median_ratio": ratio,
                "median_cpu_ratio": cpu_ratio,
                "processing": processing,
            },
            indent=2,
        )
    )
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
