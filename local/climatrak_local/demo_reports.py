"""The demo's last chapter: the daily (D-1) report of the simulated day, run by the real daily
state machine (its tasks dispatched to the in-process report function), with an energy tariff
whose peak window prices the chillers' kWh by the time they were used."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from climatrak_local.api_client import ApiClient, DemoError
from climatrak_local.runtime import LocalRuntime

REPORTS_DIR = Path("build/reports")
TARIFF = {
    "name": "CEMIG B3 Comercial (horossazonal)",
    "distributor": "CEMIG",
    "tariff_class": "B3",
    "rate_off_peak": "0.62",
    "rate_peak": "1.48",
    "peak_start": "18:00",
    "peak_end": "21:00",
    "flag_amarela": "0.01885",
    "flag_vermelha_1": "0.04463",
    "flag_vermelha_2": "0.07877",
    "effective_from": "2026-01-01",
}


def run_reports(runtime: LocalRuntime, api: ApiClient, tenant: str, day: str, console: Console) -> None:
    api.expect(201, "POST", "/api/trakledger/energy-tariffs/", TARIFF)
    api.expect(200, "PUT", "/api/trakledger/energy-settings/", {"tariff_flags": {day[:7]: "amarela"}})
    with console.status(f"running the daily report state machine for {day}..."):
        output = runtime.run_state_machine("daily", {"tenant": tenant, "date": day})
    page = api.expect(200, "GET", f"/api/reports/?type=daily&date={day}")
    if not page["results"]:
        raise DemoError(f"no daily report for {day}: {orjson.dumps(output).decode()}")
    report = api.expect(200, "GET", f"/api/reports/{page['results'][0]['id']}/")
    links = report["downloads"]
    html_path = _download(links.get("html"), REPORTS_DIR / f"{tenant}-daily-{day}.html")
    body = orjson.loads(_fetch(links["json"])) if links.get("json") else {}

    headline = report["headline"]
    table = Table(title=f"Daily report {day} (Step Functions: ListTenants -> Map(DailyReport) -> Summarize)")
    table.add_column("figure", style="bold")
    table.add_column("value")
    for name, value in headline.items():
        table.add_row(name.replace("_", " "), "-" if value is None else str(value))
    console.print(table)
    energy = Table(title="Energy by asset (kWh split by the tariff's 18:00-21:00 weekday peak; posted to the ledger)")
    for column in ("asset", "kWh", "peak", "off-peak", "cost (R$)", "posted"):
        energy.add_column(column, justify="left" if column == "asset" else "right")
    for row in body.get("energy", []):
        energy.add_row(
            row["asset_tag"],
            row["kwh_total"],
            row["kwh_peak"],
            row["kwh_off_peak"],
            row["cost"] or "-",
            "yes" if row["posted"] else "no",
        )
    console.print(energy)
    console.print(f"HTML report: [bold]{html_path.resolve()}[/] (s3://{report.get('bucket', 'climatrak-reports')}/...)")


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the local moto endpoint
        body: bytes = response.read()
    return body


def _download(url: str | None, path: Path) -> Path:
    if not url:
        raise DemoError("the report has no HTML download link")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_fetch(url))
    return path
