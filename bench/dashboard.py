"""Dashboard page: server time of `GET /` (p50/p95/p99) against `GET /login`, and a web worker's peak RSS.

    .venv/bin/python bench/dashboard.py [--customers 2000] [--database sqlite|postgres] [--requests 300]

Builds a throwaway database seeded with `flask seed-demo`, serves it with one gunicorn sync worker, signs in
as an operator of its own and requests both pages alternately. `/login` (a small template, no queries) is the
same-run baseline: the ratios compare against it, since absolute figures move with the machine.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests
from _harness import (
    DEFAULT_POSTGRES_SERVER,
    BenchError,
    GunicornServer,
    PeakRss,
    Stack,
    busy_machine_warning,
    rss_mib,
    run_flask,
    run_metadata,
    running_gunicorn,
    stop_cleanly_on_sigterm,
    throwaway_stack,
    write_results,
)

# The README's demo business: only the customer count is a knob.
DEMO_MONTHS = 36
DEMO_SEED = 1
# Flask-Login's "strong" session protection signs the User-Agent into the session: every client
# (requests and wrk) must send the same one or the operator is signed out on the next request.
USER_AGENT = "advancia-bench/1"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PAGES = {"dashboard": "/", "login": "/login"}


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str


@dataclass(frozen=True)
class Latency:
    """Milliseconds over a series of requests."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Latency:
        cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
        figures = (cuts[49], cuts[94], cuts[98], statistics.fmean(samples_ms), max(samples_ms))
        return cls(len(samples_ms), *(round(value, 3) for value in figures))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000, help="demo customers to seed (default 2000)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-server", default=DEFAULT_POSTGRES_SERVER, help="where --database postgres goes")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per page (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per page first (default 20)")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="wrk run per page; 0 skips wrk (default 10)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.requests < 2:
        raise SystemExit("--requests must be at least 2 to give percentiles")
    stop_cleanly_on_sigterm()
    results: dict[str, Any] = {"benchmark": "dashboard", "run": run_metadata()}
    with throwaway_stack(args.database, args.postgres_server) as stack:
        results["dataset"] = build_dataset(stack, args)
        operator = create_operator(stack)
        with running_gunicorn(stack, workers=1) as server:
            results.update(measure(server, operator, args))
    print_report(results)
    if warning := busy_machine_warning(results["run"]):
        print(f"\n{warning}", file=sys.stderr)
    print(f"\nwritten to {write_results('dashboard', results)}")
    return 0


def build_dataset(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    migrate_s, _ = run_flask(stack, "db", "upgrade")
    seed_s, seed_output = run_flask(
        stack, "seed-demo", "--customers", str(args.customers), "--months", str(DEMO_MONTHS), "--seed", str(DEMO_SEED)
    )
    return {
        "database": args.database,
        "customers_requested": args.customers,
        "months": DEMO_MONTHS,
        "seed": DEMO_SEED,
        # What the seed says it made: today only the operator, later the billing history too.
        "seed_report": seed_output.strip().splitlines(),
        "migrate_seconds": round(migrate_s, 2),
        "seed_seconds": round(seed_s, 2),
    }


def measure(server: GunicornServer, credentials: Credentials, args: argparse.Namespace) -> dict[str, Any]:
    (worker,) = server.worker_pids()
    rss = {"after_startup": rss_mib(worker)}
    with PeakRss(worker) as sign_in_phase:
        operator = signed_in_session(server.base_url, credentials)
    anonymous = new_session()
    with PeakRss(worker) as sequential_phase:
        sequential = measure_sequential(server, {"dashboard": operator, "login": anonymous}, args)
    with PeakRss(worker) as wrk_phase:
        throughput = measure_wrk(server, {"dashboard": operator, "login": anonymous}, args.wrk_seconds)
    if server.worker_pids() != [worker]:
        raise BenchError("the gunicorn worker was replaced during the run; its RSS would be misleading")
    rss.update(
        peak_sign_in=sign_in_phase.peak_mib,
        peak_sequential=sequential_phase.peak_mib,
        peak_wrk=wrk_phase.peak_mib if throughput else None,
        peak=max(sign_in_phase.peak_mib, sequential_phase.peak_mib, wrk_phase.peak_mib),
        at_end=rss_mib(worker),
    )
    return {
        "sequential": sequential,
        "wrk": throughput,
        "worker_rss_mib": {key: round(value, 1) if value is not None else None for key, value in rss.items()},
    }


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def create_operator(stack: Stack) -> Credentials:
    """An operator account of the benchmark's own, made by the app's CLI.

    Not the demo operator: its address operator@advancia.test is refused by the login form's email
    validator (`.test` is a special-use domain for email_validator 2), so it cannot sign in over HTTP.
    """
    credentials = Credentials(email="bench-operator@example.com", password=secrets.token_urlsafe(16))
    run_flask(stack, "create-admin", credentials.email, "--password", credentials.password)
    return credentials


def signed_in_session(base_url: str, credentials: Credentials) -> requests.Session:
    """An operator's session, signed in through the real login form (CSRF token and all)."""
    session = new_session()
    token = CSRF_FIELD.search(session.get(f"{base_url}/login", timeout=10).text)
    if token is None:
        raise BenchError("no csrf_token field on /login")
    answer = session.post(
        f"{base_url}/login",
        data={"email": credentials.email, "password": credentials.password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        errors = re.findall(r'<small class="error">(.*?)</small>', answer.text)
        raise BenchError(f"sign-in as {credentials.email} answered {answer.status_code} {errors}, not a redirect")
    return session


def fetch_ms(session: requests.Session, url: str) -> float:
    """One request's round trip as the client sees it; anything but a 200 means we measured the wrong page."""
    started = time.perf_counter()
    answer = session.get(url, allow_redirects=False, timeout=30)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise BenchError(f"GET {url} answered {answer.status_code}; expected 200")
    return elapsed_ms


def measure_sequential(
    server: GunicornServer, sessions: dict[str, requests.Session], args: argparse.Namespace
) -> dict[str, Any]:
    """One request at a time, the pages alternating so that both see the same machine noise."""
    for _ in range(args.warmup):
        for name, path in PAGES.items():
            fetch_ms(sessions[name], server.base_url + path)
    mark = server.settled_access_log_position()
    client_ms: dict[str, list[float]] = {name: [] for name in PAGES}
    for _ in range(args.requests):
        for name, path in PAGES.items():
            client_ms[name].append(fetch_ms(sessions[name], server.base_url + path))
    entries = server.access_entries(mark, expected=args.requests * len(PAGES))
    server_ms = {name: [e.server_us / 1000 for e in entries if e.path == path] for name, path in PAGES.items()}
    for name, samples in server_ms.items():
        if len(samples) != args.requests:
            raise BenchError(f"access log has {len(samples)} entries for {name}, expected {args.requests}")
    server_latency = {name: Latency.of(samples) for name, samples in server_ms.items()}
    return {
        "requests_per_page": args.requests,
        "warmup_per_page": args.warmup,
        "server_ms": {name: asdict(latency) for name, latency in server_latency.items()},
        "client_ms": {name: asdict(Latency.of(samples)) for name, samples in client_ms.items()},
        "dashboard_to_login": {
            "p50": round(server_latency["dashboard"].p50 / server_latency["login"].p50, 2),
            "p95": round(server_latency["dashboard"].p95 / server_latency["login"].p95, 2),
        },
    }


def measure_wrk(server: GunicornServer, sessions: dict[str, requests.Session], seconds: int) -> dict[str, Any] | None:
    """Requests per second with 4 connections on the one worker; None when wrk is missing or switched off."""
    if seconds <= 0:
        return None
    if shutil.which("wrk") is None:
        print("wrk not found (apt-get install wrk): skipping the throughput part", file=sys.stderr)
        return None
    pages: dict[str, Any] = {}
    for name, path in PAGES.items():
        mark = server.settled_access_log_position()
        pages[name] = run_wrk(server.base_url + path, sessions[name], seconds)
        server.wait_until_idle()
        wrong = [e for e in server.access_entries(mark, expected=0) if e.path != path or e.status != 200]
        if wrong:
            # wrk counts a redirect to /login as a success; the access log does not.
            raise BenchError(f"wrk on {path}: {len(wrong)} answers were not a 200 of that page, e.g. {wrong[0]}")
    return {
        "command": f"wrk -t1 -c4 -d{seconds}s --latency",
        "pages": pages,
        "dashboard_to_login_requests_per_second": round(
            pages["dashboard"]["requests_per_second"] / pages["login"]["requests_per_second"], 2
        ),
    }


def run_wrk(url: str, session: requests.Session, seconds: int) -> dict[str, float]:
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    command = ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", "-H", f"User-Agent: {USER_AGENT}"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise BenchError(f"could not read wrk's output:\n{output}")
    return {
        "requests": int(total.group(1)),
        "requests_per_second": float(rate.group(1)),
        "latency_p50_ms": _wrk_percentile(output, "50%"),
        "latency_p99_ms": _wrk_percentile(output, "99%"),
    }


def _wrk_percentile(output: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        raise BenchError(f"no {label} latency in wrk's output:\n{output}")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def print_report(results: dict[str, Any]) -> None:
    dataset, sequential = results["dataset"], results["sequential"]
    print(
        f"\ndashboard benchmark · {dataset['database']} · seed-demo --customers {dataset['customers_requested']}"
        f" (seed {dataset['seed_seconds']} s, migrate {dataset['migrate_seconds']} s)"
    )
    print(f"seed made: {'; '.join(dataset['seed_report']) or 'nothing reported'}")
    print(f"\n{sequential['requests_per_page']} sequential requests per page, ms")
    print(f"{'':28}{'p50':>8}{'p95':>8}{'p99':>8}{'mean':>8}")
    for kind in ("server", "client"):
        for name, path in PAGES.items():
            row = sequential[f"{kind}_ms"][name]
            label = f"{kind} GET {path}"
            print(f"{label:28}{row['p50']:8.2f}{row['p95']:8.2f}{row['p99']:8.2f}{row['mean']:8.2f}")
    ratio = sequential["dashboard_to_login"]
    print(f"{'server dashboard ÷ login':28}{ratio['p50']:7.2f}×{ratio['p95']:7.2f}×")
    print_wrk(results["wrk"])
    rss = results["worker_rss_mib"]
    print(
        f"\nworker RSS, MiB: after startup {rss['after_startup']}, peak while signing in {rss['peak_sign_in']},"
        f" peak {rss['peak']} (sequential {rss['peak_sequential']}, wrk {rss['peak_wrk']}), at end {rss['at_end']}"
    )


def print_wrk(throughput: dict[str, Any] | None) -> None:
    if throughput is None:
        print("\nwrk: skipped")
        return
    print(f"\n{throughput['command']}")
    for name, path in PAGES.items():
        page = throughput["pages"][name]
        print(
            f"GET {path:8} {page['requests_per_second']:9.1f} req/s"
            f"  latency p50 {page['latency_p50_ms']:.2f} ms, p99 {page['latency_p99_ms']:.2f} ms"
        )
    print(f"dashboard ÷ login throughput: {throughput['dashboard_to_login_requests_per_second']:.2f}×")


if __name__ == "__main__":
    sys.exit(main())
