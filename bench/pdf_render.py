"""PDF render time: a 30-line invoice and its receipt, through the same code the routes and the outbox use.

    .venv/bin/python bench/pdf_render.py [--lines 30] [--runs 30] [--out DIR]

Builds a throwaway SQLite database (migrated like production), one customer, one invoice with --lines lines
and a settled payment, then renders each document once cold (first use: fonts, template compilation) and
--runs times warm. Prints the figures; --out also writes the PDFs and a 60 dpi PNG of each page (pdftoppm).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _app(workdir: Path):
    os.environ.update(
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        ADVANCIA_INSTANCE_DIR=str(workdir),
        SECRET_KEY="bench",
        ADVANCIA_ENV="bench",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    )
    from flask_migrate import upgrade

    from app import create_app

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def _documents(lines: int):
    from app.billing.invoices import LineInput, create_invoice
    from app.customers.service import create_customer
    from app.extensions import db
    from app.payments.models import Rail
    from app.payments.settlement import IncomingPayment, settle_payment

    customer = create_customer(
        "bench-1", "ada@example.com", "Ada Lovelace Analytical Engines Ltd", country="GB", actor="bench"
    )
    invoice = create_invoice(
        customer,
        "USD",
        [
            LineInput(f"Consulting, week {n}: analysis and review of engine designs", 12_500 + n * 10)
            for n in range(lines)
        ],
        actor="bench",
        memo="Purchase order PO-2026-118. Net 14.",
    )
    db.session.flush()
    paid = settle_payment(
        invoice.id,
        IncomingPayment(
            rail=Rail.WIRE,
            rail_payment_id="WIRE-2026-11-25-0001",
            amount_received_minor=100_000,
            currency_received="USD",
            amount_minor=100_000,
        ),
        actor="bench",
    )
    db.session.commit()
    return invoice, paid.payment


def _time(render, runs: int) -> tuple[float, list[float], list[float], bytes]:
    """Wall-clock of the cold render; wall-clock and CPU time of each warm one (CPU time is what a render costs
    whatever else the machine runs; wall-clock is what a customer waits)."""
    started = time.perf_counter()
    pdf = render()
    cold = time.perf_counter() - started
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        render()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return cold, wall, cpu, pdf


def _pages(pdf: bytes) -> int | str:
    """pdfinfo's page count (the page objects sit in compressed streams); '?' without poppler-utils."""
    try:
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="advancia-bench-pdf-") as tmp:
        app = _app(Path(tmp))
        with app.app_context():
            from app.billing.documents import invoice_pdf, receipt_pdf

            invoice, payment = _documents(args.lines)
            load = os.getloadavg()[0]
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load {load:.1f}; {args.runs} warm runs")
            print(
                f"{'document':<20}{'cold s':>8}{'median s':>10}{'p95 s':>8}{'min s':>8}{'cpu med s':>11}"
                f"{'pages':>7}{'KiB':>6}"
            )
            for name, render in (
                (f"invoice, {args.lines} lines", lambda: invoice_pdf(invoice)),
                ("receipt", lambda: receipt_pdf(payment)),
            ):
                cold, wall, cpu, pdf = _time(render, args.runs)
                p95 = statistics.quantiles(wall, n=20)[-1] if len(wall) >= 2 else wall[0]
                print(
                    f"{name:<20}{cold:>8.3f}{statistics.median(wall):>10.3f}{p95:>8.3f}{min(wall):>8.3f}"
                    f"{statistics.median(cpu):>11.3f}{_pages(pdf):>7}{len(pdf) / 1024:>6.0f}"
                )
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    stem = args.out / name.split(",")[0]
                    stem.with_suffix(".pdf").write_bytes(pdf)
                    subprocess.run(
                        ["pdftoppm", "-png", "-r", "60", str(stem.with_suffix(".pdf")), str(stem)], check=True
                    )


if __name__ == "__main__":
    main()
