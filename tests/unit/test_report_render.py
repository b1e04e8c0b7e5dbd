"""The report outputs: JSON-safe values, one-line JSON, the sectioned CSV and the HTML page."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from climatrak.reports.render import bar_chart, json_safe, to_csv, to_html, to_json

HOSTILE = '<script>alert("x")</script>'


def daily_report() -> dict[str, Any]:
    """A daily report shaped as reports.daily builds it (operations from reports.operations)."""
    return {
        "type": "daily",
        "tenant": "acme",
        "tenant_name": "Acme & Filhos",
        "period": "2026-03-10",
        "timezone": "America/Sao_Paulo",
        "generated_at": "2026-03-11T06:00:00.000Z",
        "headline": {
            "readings": 35000,
            "sensors": 3,
            "avg_coverage": 0.9734,
            "kwh": Decimal("1234.567"),
            "energy_cost": Decimal("1234.56"),
            "work_orders_opened": 2,
            "alerts_raised": 4,
        },
        "telemetry": {
            "raw_objects": 288,
            "rows": 35000,
            "sensors": [
                {
                    "device_id": "ctl-ch",
                    "asset_tag": "CH-001",
                    "sensor_id": "power",
                    "metric_type": "power_kw",
                    "unit": "kilowatt",
                    "count": 1440,
                    "min": 10.5,
                    "max": 52.25,
                    "avg": 31.0,
                    "p95": 50.0,
                    "first_ts": datetime(2026, 3, 10, 3, 0, tzinfo=UTC),
                    "last_ts": datetime(2026, 3, 11, 2, 59, tzinfo=UTC),
                    "coverage": 1.0,
                    "longest_gap_s": 60.0,
                },
                {
                    "device_id": "ctl-ahu",
                    "asset_tag": HOSTILE,
                    "sensor_id": "temp_supply",
                    "metric_type": "temp_supply",
                    "unit": "celsius",
                    "count": 1000,
                    "min": 6.0,
                    "max": 9.0,
                    "avg": 7.5,
                    "p95": 8.8,
                    "first_ts": datetime(2026, 3, 10, 3, 0, tzinfo=UTC),
                    "last_ts": datetime(2026, 3, 11, 1, 0, tzinfo=UTC),
                    "coverage": 0.6944,
                    "longest_gap_s": 7260.0,
                },
            ],
        },
        "energy": [
            {
                "asset_tag": "CH-001",
                "kwh_total": "1000.000",
                "kwh_peak": "250.000",
                "kwh_off_peak": "750.000",
                "cost": "1000.00",
                "posted": True,
            },
            {
                "asset_tag": HOSTILE,
                "kwh_total": "234.567",
                "kwh_peak": "0.000",
                "kwh_off_peak": "234.567",
                "cost": "234.56",
                "posted": True,
            },
        ],
        "operations": {
            "tenant": "acme",
            "kind": "daily",
            "period": "2026-03-10",
            "timezone": "America/Sao_Paulo",
            "start": "2026-03-10T03:00:00.000Z",
            "end": "2026-03-11T03:00:00.000Z",
            "work_orders": {
                "opened": 2,
                "opened_by_type": {"CORRECTIVE": 2},
                "completed": 2,
                "completed_by_type": {"CORRECTIVE": 1, "PREVENTIVE": 1},
                "cancelled": 1,
                "open_at_end": 3,
                "overdue": 2,
                "mttr_hours": Decimal("38.00"),
                "preventive_scheduled": 3,
                "preventive_completed": 1,
                "preventive_compliance_percent": Decimal("33.3"),
            },
            "alerts": {
                "raised": 4,
                "raised_by_severity": {"Critical": 1, "High": 2, "Medium": 0, "Low": 1},
                "resolved": 3,
                "resolved_by_severity": {"Critical": 1, "High": 1, "Medium": 1, "Low": 0},
                "open_at_end": 3,
                "hours_in_alert": [
                    {
                        "asset_id": 2,
                        "asset_tag": "AHU-002",
                        "asset_name": "Air handler",
                        "hours": Decimal("24.00"),
                        "alerts": 2,
                    },
                    {
                        "asset_id": 1,
                        "asset_tag": "CH-001",
                        "asset_name": "Chiller 1",
                        "hours": Decimal("5.00"),
                        "alerts": 4,
                    },
                ],
                "hours_in_alert_total": Decimal("29.00"),
            },
            "ledger": {
                "count": 3,
                "amount": Decimal("130.75"),
                "by_category": [
                    {
                        "category": "energy",
                        "label": "Energia",
                        "currency": "BRL",
                        "count": 2,
                        "amount": Decimal("120.75"),
                    },
                    {
                        "category": "parts",
                        "label": "Peças e Materiais",
                        "currency": "BRL",
                        "count": 1,
                        "amount": Decimal("10.00"),
                    },
                ],
            },
        },
    }


def monthly_report() -> dict[str, Any]:
    return {
        "type": "monthly",
        "tenant": "acme",
        "period": "2026-03",
        "timezone": "America/Sao_Paulo",
        "headline": {"planned": "5000.00", "actual": "4200.50", "percent_used": "84.01", "envelopes_at_risk": 1},
        "budget": {
            "planned": "5000.00",
            "actual": "4200.50",
            "by_category": [
                {"category": "energy", "category_display": "Energia", "planned": 3000, "actual": 3500.5},
                {"category": "parts", "category_display": "Peças e Materiais", "planned": 2000, "actual": 700},
            ],
        },
        "energy": {"kwh": "30000.000", "previous_kwh": "25000.000", "cost": "3500.50", "kwh_change_percent": "20.00"},
        "savings": [
            {
                "id": "5b0c",
                "event_type": "energy_saving",
                "event_type_display": "Economia de energia",
                "savings_amount": "150.00",
                "evidence_links": {"Medição": "https://example.com/evidence?a=1&b=2", "Bad": "javascript:alert(1)"},
            }
        ],
    }


# ---- JSON ---------------------------------------------------------------------------------------


@dataclass
class Point:
    when: date
    amount: Decimal


def test_json_safe_turns_money_into_strings_times_into_utc_iso_and_drops_nan() -> None:
    value = {
        "amount": Decimal("10.50"),
        "naive": datetime(2026, 3, 10, 12, 0, 0, 123000),
        "aware": datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
        "day": date(2026, 3, 10),
        "nan": float("nan"),
        "point": Point(date(2026, 1, 2), Decimal("1.00")),
        "tags": {"b", "a"},
        "pair": (1, 2),
    }
    assert json_safe(value) == {
        "amount": "10.50",
        "naive": "2026-03-10T12:00:00.123Z",
        "aware": "2026-03-10T09:00:00.000Z",
        "day": "2026-03-10",
        "nan": None,
        "point": {"when": "2026-01-02", "amount": "1.00"},
        "tags": ["a", "b"],
        "pair": [1, 2],
    }


def test_json_is_one_line_and_reads_back_as_the_json_safe_report() -> None:
    report = daily_report()
    text = to_json(report)
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == json_safe(report)
    assert json.loads(text)["operations"]["ledger"]["amount"] == "130.75"


# ---- CSV ----------------------------------------------------------------------------------------


def _sections(text: str) -> dict[str, list[list[str]]]:
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in csv.reader(io.StringIO(text)):
        if row and row[0].startswith("# "):
            current = sections.setdefault(row[0][2:], [])
        elif row and current is not None:
            current.append(row)
    return sections


def test_csv_has_one_section_per_table_with_the_field_names_as_headers() -> None:
    sections = _sections(to_csv(daily_report()))
    assert list(sections)[:3] == ["report", "headline", "telemetry"]
    assert ["period", "2026-03-10"] in sections["report"]
    assert sections["headline"][0] == ["key", "value"]
    assert ["kwh", "1234.567"] in sections["headline"]
    sensors = sections["telemetry.sensors"]
    assert sensors[0][:3] == ["device_id", "asset_tag", "sensor_id"]
    assert len(sensors) == 3  # header and two sensors
    assert sensors[1][sensors[0].index("first_ts")] == "2026-03-10T03:00:00.000Z"
    energy = sections["energy"]
    assert energy[0] == ["asset_tag", "kwh_total", "kwh_peak", "kwh_off_peak", "cost", "posted"]
    assert energy[2][0] == HOSTILE  # CSV keeps the text as it is
    hours = sections["operations.alerts.hours_in_alert"]
    assert [row[1] for row in hours[1:]] == ["AHU-002", "CH-001"]
    assert ["mttr_hours", "38.00"] in sections["operations.work_orders"]
    assert sections["operations.work_orders.opened_by_type"] == [["key", "value"], ["CORRECTIVE", "2"]]
    assert sections["operations.ledger.by_category"][1] == ["energy", "Energia", "BRL", "2", "120.75"]


def test_csv_and_json_are_deterministic() -> None:
    assert to_csv(daily_report()) == to_csv(copy.deepcopy(daily_report()))
    assert to_json(daily_report()) == to_json(copy.deepcopy(daily_report()))


# ---- HTML ---------------------------------------------------------------------------------------


def test_html_escapes_every_text_and_loads_nothing_from_elsewhere() -> None:
    page = to_html(daily_report())
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Acme &amp; Filhos" in page
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://""", page)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_html_is_in_portuguese_with_brazilian_number_formats() -> None:
    page = to_html(daily_report())
    assert "Relatório diário — 10/03/2026 (terça-feira)" in page
    assert "R$ 1.234,56" in page  # energy cost card
    assert "1.234,57" in page  # kWh card (two places on screen)
    assert "97,3 %" in page  # average coverage
    assert "33,3 %" in page  # preventive compliance
    assert "2 h 01 min" in page  # the longest gap of the second sensor
    assert "Crítico" in page and "Médio" in page
    assert "Corretiva: 2" in page  # work orders opened by type


def _bars(svg: str) -> list[tuple[str, float]]:
    """(tooltip, width) of each bar of an SVG chart."""
    return [
        (title, float(width))
        for width, title in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"[^>]*><title>([^<]*)</title>', svg)
    ]


def test_html_charts_kwh_per_asset_and_alerts_by_severity() -> None:
    page = to_html(daily_report())
    charts = re.findall(r"<h4>([^<]*)</h4><svg.*?</svg>", page, flags=re.S)
    assert charts == ["kWh por ativo", "Alertas por severidade", "Horas em alerta por ativo"]
    kwh_svg = re.search(r"<h4>kWh por ativo</h4>(<svg.*?</svg>)", page, flags=re.S)
    assert kwh_svg is not None
    bars = dict(_bars(kwh_svg.group(1)))
    # the largest value spans the full 420 px; the others are proportional to it
    assert bars["CH-001 · Fora de ponta: 750,00"] == 420.0
    assert bars["CH-001 · Ponta: 250,00"] == 140.0
    assert bars["&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; · Fora de ponta: 234,57"] == round(
        234.567 / 750 * 420, 1
    )
    severity_svg = re.search(r"<h4>Alertas por severidade</h4>(<svg.*?</svg>)", page, flags=re.S)
    assert severity_svg is not None
    assert dict(_bars(severity_svg.group(1)))["Alto · Disparados: 2"] == 420.0


def test_html_coverage_table_flags_sensors_below_ninety_percent() -> None:
    page = to_html(daily_report())
    assert "2 sensores; 1 com cobertura abaixo de 90 %." in page
    assert '<span class="bad">69,4 %</span>' in page
    assert '<span class="ok">100,0 %</span>' in page


def test_html_is_deterministic() -> None:
    assert to_html(daily_report()) == to_html(copy.deepcopy(daily_report()))


def test_monthly_html_compares_planned_and_actual_and_links_only_web_evidence() -> None:
    page = to_html(monthly_report())
    assert "Relatório mensal — março de 2026" in page
    assert "<h4>Planejado \u00d7 realizado</h4><svg" in page
    assert "<h4>kWh: período anterior e este período</h4><svg" in page
    assert '<a href="https://example.com/evidence?a=1&amp;b=2" rel="noopener noreferrer">Medição</a>' in page
    assert "javascript:alert(1)" in page and 'href="javascript' not in page
    # the code column gives way to its display form; ids are not shown
    assert "Economia de energia" in page and ">energy_saving<" not in page and "5b0c" not in page


def test_bar_chart_of_zeros_draws_empty_bars() -> None:
    svg = bar_chart(["a", "b"], [("n", "#000", [0.0, 0.0])], str)
    assert [width for _, width in _bars(svg)] == [0.0, 0.0]
