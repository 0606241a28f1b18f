"""How fast the console's pages load with a big database: 100,000 instances (1,000 studies of 100,
each delivered to two destinations) and 5,000 exception rows, on SQLite (``axiom up``'s default) or
PostgreSQL (``--database-url``).

For each page: the server's answer time over HTTP (``requests`` with a signed-in session cookie,
median and p95 of ``--repeat`` loads after one warm-up), and with ``--browser`` the page load in
headless Chromium (Navigation Timing ``loadEventEnd``, which includes the CSS, htmx, Chart.js and
for the dashboard the chart's data request). Run: ``python -m bench.console_pages`` (docs/performance.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import uvicorn
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from api.main import create_app
from axiom.admin.accounts import create_user
from axiom.admin.apply_config import apply_config, parse_config
from axiom.config import Settings
from axiom.db.models import (
    AuditLog,
    Delivery,
    DeliveryStatus,
    DicomInstance,
    DicomSeries,
    DicomStudy,
    ExceptionLog,
    ExceptionStatus,
)
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.auth import Role, UserCreate
from axiom.domain.instances import InstanceStatus

PASSWORD = "bench-password-1"
ROOT = "1.2.826.0.1.3680043.10.1234"
PAGES = (
    "/",
    "/studies",
    "/studies?status=partial",
    "/studies?destination=pacs&calling_ae=MOD7",
    "/studies/{study}",
    "/exceptions",
    "/exceptions?destination=pacs&status=open",
    "/exceptions?page=60",
    "/admin/destinations",
    "/admin/rulesets/main",
    "/admin/audit",
)


def _config() -> dict[str, Any]:
    return {
        "destinations": [
            {"name": "archive", "type": "filesystem"},
            {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": 1, "ae_title": "PACS"},
        ],
        "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive", "pacs"]}]}],
    }


def populate(session: Session, studies: int, per_study: int, exceptions: int) -> str:
    """Rows as the pipeline writes them, inserted in bulk; returns one study's UID."""
    now = datetime.now(UTC)
    apply_config(session, parse_config(_config()), actor="bench")
    session.execute(
        insert(DicomStudy),
        [
            {
                "study_instance_uid": f"{ROOT}.1.{s}",
                "study_date": f"2026{1 + s % 12:02d}{1 + s % 28:02d}",
                "instance_count": per_study,
                "patient_id_hash": hashlib.sha256(str(s % 300).encode()).hexdigest(),
            }
            for s in range(studies)
        ],
    )
    study_ids = {uid: pk for uid, pk in session.execute(select(DicomStudy.study_instance_uid, DicomStudy.id))}
    session.execute(
        insert(DicomSeries),
        [
            {
                "series_instance_uid": f"{ROOT}.2.{s}",
                "study_id": study_ids[f"{ROOT}.1.{s}"],
                "modality": "CT",
                "instance_count": per_study,
            }
            for s in range(studies)
        ],
    )
    series_ids = {
        uid: pk for uid, pk in session.execute(select(DicomSeries.series_instance_uid, DicomSeries.id))
    }
    failed = set(range(0, studies * per_study, max(1, studies * per_study // exceptions)))
    batch: list[dict[str, Any]] = []
    for s in range(studies):
        for i in range(per_study):
            n = s * per_study + i
            at = now - timedelta(seconds=(studies * per_study - n) * 0.8)
            batch.append(
                {
                    "sop_instance_uid": f"{ROOT}.3.{n}",
                    "series_id": series_ids[f"{ROOT}.2.{s}"],
                    "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
                    "calling_ae": f"MOD{s % 10}",
                    "source": "dimse",
                    "status": InstanceStatus.PARTIAL if n in failed else InstanceStatus.DELIVERED,
                    "matched_rules": ["main/all"],
                    "destinations": ["archive", "pacs"],
                    "received_at": at,
                    "processed_at": at + timedelta(milliseconds=200),
                    "size_bytes": 9000,
                }
            )
            if len(batch) == 10_000:
                session.execute(insert(DicomInstance), batch)
                batch = []
    if batch:
        session.execute(insert(DicomInstance), batch)
    ids = [(uid, pk) for uid, pk in session.execute(select(DicomInstance.sop_instance_uid, DicomInstance.id))]
    deliveries = []
    for uid, iid in ids:
        n = int(uid.rsplit(".", 1)[1])
        for dest in ("archive", "pacs"):
            ok = dest == "archive" or n not in failed
            deliveries.append(
                {
                    "sop_instance_uid": uid,
                    "destination": dest,
                    "content_hash": f"{n:064d}",
                    "instance_id": iid,
                    "status": DeliveryStatus.DELIVERED if ok else DeliveryStatus.FAILED,
                }
            )
        if len(deliveries) >= 20_000:
            session.execute(insert(Delivery), deliveries)
            deliveries = []
    if deliveries:
        session.execute(insert(Delivery), deliveries)
    by_uid = dict(ids)
    session.execute(
        insert(ExceptionLog),
        [
            {
                "stage": "deliver",
                "destination": "pacs",
                "error_class": "AssociationRejected" if k % 3 else "Timeout",
                "message": "the PACS did not answer",
                "sop_instance_uid": f"{ROOT}.3.{n}",
                "study_instance_uid": f"{ROOT}.1.{n // per_study}",
                "instance_id": by_uid[f"{ROOT}.3.{n}"],
                "attempts": 1 + k % 12,
                "status": ExceptionStatus.OPEN if k % 4 else ExceptionStatus.DEAD,
                "next_retry_at": now + timedelta(minutes=5),
            }
            for k, n in enumerate(sorted(failed)[:exceptions])
        ],
    )
    session.execute(
        insert(AuditLog),
        [
            {"actor": "bench", "action": "exception.retried", "target": f"exception:{k}", "at": now}
            for k in range(5000)
        ],
    )
    create_user(session, UserCreate(username="bench", password=PASSWORD, role=Role.SUPERUSER), actor="bench")
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load; without statistics the planner guesses.
        session.execute(text("ANALYZE"))
        session.commit()
    return f"{ROOT}.1.{studies // 2}"


def _serve(settings: Settings, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server


def _signed_in(base: str) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=30).text
    token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = http.post(
        f"{base}/login", data={"username": "bench", "password": PASSWORD, "csrf": token}, timeout=30
    )
    answer.raise_for_status()
    return http


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


def measure_http(base: str, paths: list[str], repeat: int) -> dict[str, dict[str, float]]:
    http = _signed_in(base)
    out = {}
    for path in paths:
        http.get(base + path, timeout=60).raise_for_status()  # warm-up
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            http.get(base + path, timeout=60).raise_for_status()
            samples.append(time.perf_counter() - started)
        out[path] = _stats(samples)
    return out


def measure_browser(base: str, paths: list[str], repeat: int) -> dict[str, dict[str, float]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options
    )
    try:
        driver.get(base + "/login")
        driver.find_element("id", "username").send_keys("bench")
        driver.find_element("id", "password").send_keys(PASSWORD)
        driver.find_element("css selector", "form[action='/login'] button[type=submit]").click()
        out = {}
        for path in paths:
            samples = []
            for k in range(repeat + 1):
                driver.get(base + path)
                timing = driver.execute_script(
                    "const t = performance.getEntriesByType('navigation')[0];"
                    "return new Promise(done => { const check = () => t.loadEventEnd > 0 ? done(t.loadEventEnd) :"
                    " setTimeout(check, 10); check(); });"
                )
                if k:  # the first load warms the cache
                    samples.append(float(timing) / 1000)
            out[path] = _stats(samples)
        return out
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--per-study", type=int, default=100)
    parser.add_argument("--exceptions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database; default: SQLite")
    parser.add_argument("--browser", action="store_true", help="also time page loads in headless Chromium")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="axiom-console-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url)
        settings.ensure_dirs()
        upgrade_database(settings.effective_database_url)
        engine = create_db_engine(settings.effective_database_url)
        started = time.perf_counter()
        with make_session_factory(engine)() as session:
            study = populate(session, args.studies, args.per_study, args.exceptions)
        print(
            f"populated {args.studies * args.per_study} instances, {args.exceptions} exception rows "
            f"in {time.perf_counter() - started:.1f} s ({engine.dialect.name})"
        )
        engine.dispose()
        port = 18_000 + int(time.time()) % 1000
        server = _serve(settings, port)
        base = f"http://127.0.0.1:{port}"
        paths = [p.format(study=study) for p in PAGES]
        results: dict[str, Any] = {
            "database": engine.dialect.name,
            "http": measure_http(base, paths, args.repeat),
        }
        if args.browser:
            results["browser"] = measure_browser(base, paths, max(3, args.repeat // 4))
        server.should_exit = True
    print(
        f"{'page':52} {'HTTP median':>12} {'HTTP p95':>9}"
        + ("  browser median   p95" if args.browser else "")
    )
    for path in paths:
        h = results["http"][path]
        line = f"{path[:52]:52} {h['median_ms']:>10} ms {h['p95_ms']:>6} ms"
        if args.browser:
            b = results["browser"][path]
            line += f"  {b['median_ms']:>9} ms {b['p95_ms']:>6} ms"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
