"""A report's three outputs: JSON (what the API and analysts read), one CSV with sections, and a
self-contained HTML page for managers (inline CSS and SVG charts, no scripts, no external fonts).

The input is the report dict the daily and monthly jobs build. Known keys:

    type            "daily" | "monthly"
    tenant, tenant_name?, period ("YYYY-MM-DD" | "YYYY-MM"), timezone, generated_at?, title?
    headline        {name: value}                       → cards at the top
    energy          [{asset_tag, kwh_total, kwh_peak, kwh_off_peak, cost, ...}]   → kWh-per-asset bars
                    or {kwh, previous_kwh, cost, ...}   → this period against the previous one
    telemetry       {..., sensors: [{asset_tag, sensor_id, count, min, avg, max, p95,
                                     coverage (0..1), longest_gap_s, ...}]}   → coverage table
    operations      reports.operations.as_dict(...)     → work-order KPIs, alerts by severity,
                                                          hours in alert per asset, ledger by category
    anything else   rendered generically: a dict's scalars as a two-column table, a list of dicts
                    as a table (with planned/actual bars where rows carry both), nested values as
                    sub-sections, in the dict's order.

Outputs are deterministic: the same report dict gives the same bytes (nothing reads the clock).
Every text that reaches HTML goes through html.escape; links are made only of http(s) URLs.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any

from climatrak.core.config import DEFAULT_TIMEZONE
from climatrak.core.timeutil import parse_iso, zone

# ---- JSON ---------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """The report as JSON types: Decimal → string, datetimes → UTC ISO (ms, Z), dates → ISO,
    NaN/inf → null, dataclasses and pydantic models → dicts, sets → sorted lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date | clock_time):
        return value.isoformat()
    if isinstance(value, Enum):
        return json_safe(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):  # pydantic
        return json_safe(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((json_safe(item) for item in value), key=str)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return str(value)


def to_json(report: Mapping[str, Any]) -> str:
    """One line of JSON (Athena's JSON SerDe reads one object per line) and a newline."""
    return json.dumps(json_safe(report), ensure_ascii=False, separators=(",", ":")) + "\n"


# ---- CSV ----------------------------------------------------------------------------------------

META_KEYS = ("id", "type", "tenant", "tenant_name", "title", "period", "timezone", "generated_at")


def to_csv(report: Mapping[str, Any]) -> str:
    """One CSV with sections, in the report's order. A section starts with a row `# {path}`
    (`# headline`, `# operations.alerts.hours_in_alert`), then its header row, then its rows,
    then an empty row. A dict's scalars are a `key,value` section; a list of dicts is a table
    whose columns are the union of its rows' keys (nested values as compact JSON). Headers are
    the report's field names, so a program can find its columns."""
    safe = json_safe(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    meta = {key: safe[key] for key in META_KEYS if key in safe}
    _csv_section(writer, "report", meta)
    for key, value in safe.items():
        if key not in META_KEYS:
            _csv_section(writer, key, value)
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _csv_section(writer: Any, path: str, value: Any) -> None:
    if isinstance(value, dict):
        scalars = [(key, item) for key, item in value.items() if not _is_nested(item)]
        if scalars or not value:
            writer.writerow([f"# {path}"])
            writer.writerow(["key", "value"])
            writer.writerows([key, _csv_cell(item)] for key, item in scalars)
            writer.writerow([])
        for key, item in value.items():
            if _is_nested(item):
                _csv_section(writer, f"{path}.{key}", item)
        return
    writer.writerow([f"# {path}"])
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        columns = _columns(value)
        writer.writerow(columns)
        writer.writerows([_csv_cell(row.get(column)) for column in columns] for row in value)
    elif isinstance(value, list):
        writer.writerow(["value"])
        writer.writerows([_csv_cell(item)] for item in value)
    else:
        writer.writerow(["value"])
        writer.writerow([_csv_cell(value)])
    writer.writerow([])


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(row, dict) for row in value))


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The union of the rows' keys, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# ---- labels and formats (pt-BR: the product's users are Brazilian) ------------------------------

TYPE_TITLES = {"daily": "Relatório diário", "monthly": "Relatório mensal"}
MONTH_NAMES = (
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
)
WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")
SEVERITY_LABELS = {"Critical": "Crítico", "High": "Alto", "Medium": "Médio", "Low": "Baixo"}
SEVERITY_COLORS = {"Critical": "#b91c1c", "High": "#ea580c", "Medium": "#ca8a04", "Low": "#2563eb"}
WORK_ORDER_TYPES = {
    "PREVENTIVE": "Preventiva",
    "CORRECTIVE": "Corretiva",
    "PREDICTIVE": "Preditiva",
    "EMERGENCY": "Emergência",
    "REQUEST": "Solicitação",
}
LABELS = {
    # sections
    "headline": "Destaques",
    "energy": "Energia",
    "telemetry": "Telemetria",
    "sensors": "Cobertura dos sensores",
    "operations": "Operações",
    "work_orders": "Ordens de serviço",
    "alerts": "Alertas",
    "ledger": "Lançamentos do dia",
    "by_category": "Por categoria",
    "by_cost_center": "Por centro de custo",
    "budget": "Orçamento",
    "top_assets": "Ativos com maior custo",
    "forecast": "Projeção até o fim do ano",
    "at_risk": "Envelopes com risco de estouro",
    "savings": "Economias",
    "hours_in_alert": "Horas em alerta por ativo",
    # figures
    "readings": "Leituras",
    "rows": "Leituras",
    "raw_objects": "Arquivos brutos",
    "avg_coverage": "Cobertura média",
    "coverage": "Cobertura",
    "kwh": "Energia (kWh)",
    "kwh_total": "Energia (kWh)",
    "kwh_peak": "Ponta (kWh)",
    "kwh_off_peak": "Fora de ponta (kWh)",
    "kwh_intermediate": "Intermediário (kWh)",
    "previous_kwh": "Mês anterior (kWh)",
    "kwh_change_percent": "Variação de energia",
    "cost": "Custo",
    "previous_cost": "Custo no mês anterior",
    "energy_cost": "Custo de energia",
    "posted": "Lançado",
    "tariff": "Tarifa",
    "flag": "Bandeira",
    "work_orders_opened": "OS abertas",
    "work_orders_completed": "OS concluídas",
    "work_orders_overdue": "OS atrasadas",
    "opened": "Abertas",
    "opened_by_type": "Abertas por tipo",
    "completed": "Concluídas",
    "completed_by_type": "Concluídas por tipo",
    "cancelled": "Canceladas",
    "open_at_end": "Em aberto no fim do período",
    "overdue": "Atrasadas",
    "mttr_hours": "MTTR (h)",
    "preventive_scheduled": "Preventivas programadas",
    "preventive_completed": "Preventivas concluídas",
    "preventive_compliance_percent": "Conformidade preventiva",
    "alerts_raised": "Alertas disparados",
    "alerts_resolved": "Alertas resolvidos",
    "raised": "Disparados",
    "raised_by_severity": "Disparados por severidade",
    "resolved": "Resolvidos",
    "resolved_by_severity": "Resolvidos por severidade",
    "hours_in_alert_total": "Horas em alerta (soma dos ativos)",
    "hours": "Horas em alerta",
    "ledger_postings": "Lançamentos",
    "ledger_amount": "Valor lançado",
    "count": "Quantidade",
    "amount": "Valor",
    "category": "Categoria",
    "category_display": "Categoria",
    "label": "Categoria",
    "currency": "Moeda",
    "asset_tag": "Ativo",
    "asset_name": "Nome do ativo",
    "asset_id": "Id do ativo",
    "sensor_id": "Sensor",
    "device_id": "Dispositivo",
    "metric_type": "Grandeza",
    "unit": "Unidade",
    "min": "Mínimo",
    "max": "Máximo",
    "avg": "Média",
    "p95": "P95",
    "first_ts": "Primeira leitura",
    "last_ts": "Última leitura",
    "longest_gap_s": "Maior lacuna",
    "planned": "Planejado",
    "committed": "Comprometido",
    "committed_approved": "Comprometido (aprovado)",
    "committed_pending": "Comprometido (pendente)",
    "actual": "Realizado",
    "variance": "Variação",
    "variance_percent": "Variação (%)",
    "percent_used": "% utilizado",
    "name": "Nome",
    "code": "Código",
    "year_end_forecast": "Projeção anual",
    "year_end_actual": "Projeção anual",
    "actual_to_date": "Realizado no ano",
    "planned_year": "Planejado no ano",
    "projected_year": "Projetado no ano",
    "projected_overrun": "Estouro projetado",
    "envelopes_at_risk": "Envelopes em risco",
    "savings_amount": "Economia",
    "event_type_display": "Tipo",
    "confidence_display": "Confiança",
    "occurred_at": "Data",
    "description": "Descrição",
    "explanation": "Explicação",
    "evidence_links": "Evidências",
    "evidence": "Evidências",
    "cost_center_name": "Centro de custo",
    "work_order_number": "OS",
    "sensors_count": "Sensores",
    "start": "Início",
    "end": "Fim",
    "timezone": "Fuso horário",
    "period": "Período",
    "kind": "Tipo",
    "tenant": "Cliente",
}
# where a headline figure's name differs from the section of the same key
HEADLINE_LABELS = {"sensors": "Sensores", "energy": "Energia (kWh)", "kwh": "Energia (kWh)"}
_MONEY_WORDS = ("amount", "cost", "planned", "committed", "actual", "savings", "variance", "overrun", "forecast")
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _label(key: str) -> str:
    return LABELS.get(key) or (key.replace("_", " ").capitalize() if key else "")


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _br(number: Decimal, places: int) -> str:
    """1234.5 → '1.234,50' (pt-BR separators)."""
    quantized = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{quantized:,.{places}f}".replace(",", "\0").replace(".", ",").replace("\0", ".")


def _duration(seconds: Decimal) -> str:
    total = int(seconds.to_integral_value(rounding=ROUND_HALF_UP))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min" + (f" {secs:02d} s" if secs else "")
    return f"{secs} s"


def _is_money(key: str) -> bool:
    return "percent" not in key and "count" not in key and any(key.endswith(word) for word in _MONEY_WORDS)


def _is_fraction(key: str) -> bool:
    return key == "coverage" or key.endswith("_coverage")


class Formatter:
    """Display text of a value, chosen by its key (money, %, kWh, hours, gaps, instants)."""

    def __init__(self, timezone: str) -> None:
        self.tz = zone(timezone)

    def __call__(self, key: str, value: Any) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return "Sim" if value else "Não"
        number = _decimal(value)
        if number is not None:
            return self.number(key, number, value)
        if isinstance(value, str):
            return self.text(key, value)
        if isinstance(value, Mapping):
            return "; ".join(f"{self.name(key, str(k))}: {self(str(k), v)}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(self(key, item) for item in value)
        return str(value)

    def number(self, key: str, number: Decimal, raw: Any) -> str:
        if _is_fraction(key):
            return f"{_br(number * 100, 1)} %"
        if "percent" in key:
            return f"{_br(number, 1)} %"
        if _is_money(key):
            return f"R$ {_br(number, 2)}"
        if key.endswith("_s"):
            return _duration(number)
        if "kwh" in key or "hours" in key:
            return _br(number, 2)
        # measured values (floats) keep two places; counts and whole amounts none
        if isinstance(raw, float) or number != number.to_integral_value():
            return _br(number, 2)
        return _br(number, 0)

    def text(self, key: str, value: str) -> str:
        if _ISO_INSTANT.match(value):
            try:
                return parse_iso(value).astimezone(self.tz).strftime("%d/%m/%Y %H:%M")
            except ValueError:
                return value
        if _ISO_DATE.match(value):
            try:
                return date.fromisoformat(value).strftime("%d/%m/%Y")
            except ValueError:
                return value
        if key == "severity":
            return SEVERITY_LABELS.get(value, value)
        if key in ("type", "wo_type"):
            return WORK_ORDER_TYPES.get(value, value)
        return value

    @staticmethod
    def name(key: str, name: str) -> str:
        """A dict key shown as a name (severities and work-order types are translated)."""
        if key.endswith("by_severity"):
            return SEVERITY_LABELS.get(name, name)
        if key.endswith("by_type"):
            return WORK_ORDER_TYPES.get(name, name)
        return _label(name) if name in LABELS else name


def _period_text(report: Mapping[str, Any]) -> str:
    period = str(report.get("period") or "")
    try:
        if len(period) == 7:
            month = date.fromisoformat(f"{period}-01")
            return f"{MONTH_NAMES[month.month - 1]} de {month.year}"
        day = date.fromisoformat(period)
        return f"{day.strftime('%d/%m/%Y')} ({WEEKDAYS[day.weekday()]})"
    except ValueError:
        return period


# ---- HTML ---------------------------------------------------------------------------------------

_e = html.escape
_NUM = ' class="n"'
# a chart series: (name, color, one value per label)
Series = tuple[str, str, Sequence[float]]
_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111827;
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px}
header{background:#0f3d5e;color:#fff;padding:20px 24px;border-radius:10px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}
section{background:#fff;border-radius:10px;padding:16px 20px;margin-top:16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
h2{font-size:18px;margin:0 0 12px;color:#0f3d5e}
h3{font-size:15px;margin:18px 0 8px;color:#1f2937}
h4{font-size:14px;margin:14px 0 6px;color:#374151}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}
.card{flex:1 1 170px;background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card .k{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:22px;font-weight:600;margin-top:4px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{padding:6px 8px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f9fafb;color:#374151;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{width:45%;background:none;font-weight:normal;color:#4b5563}
.bar{display:inline-block;height:8px;border-radius:4px;background:#e5e7eb;width:70px;margin-right:6px;vertical-align:middle}
.bar i{display:block;height:8px;border-radius:4px}
.ok{color:#15803d}.warn{color:#b45309}.bad{color:#b91c1c}
.muted{color:#6b7280}
svg{display:block;max-width:100%;height:auto;margin:4px 0 8px}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#374151}
footer{color:#6b7280;font-size:12px;text-align:center;margin:20px 0 8px}
@media print{body{background:#fff}section,.card{box-shadow:none;border:1px solid #e5e7eb}
  header{background:#fff;color:#111827;border:1px solid #e5e7eb}}
"""


def to_html(report: Mapping[str, Any]) -> str:
    """The self-contained page: header, headline cards, then each section of the report."""
    safe = json_safe(report)
    page = _Page(safe)
    return page.render()


class _Page:
    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.fmt = Formatter(str(report.get("timezone") or DEFAULT_TIMEZONE))
        self.sections: dict[str, Callable[[str, Any], str]] = {
            "energy": self.energy,
            "telemetry": self.telemetry,
            "operations": self.operations,
        }

    def render(self) -> str:
        report = self.report
        kind = str(report.get("type") or "")
        title = str(report.get("title") or f"{TYPE_TITLES.get(kind, 'Relatório')} — {_period_text(report)}")
        client = str(report.get("tenant_name") or report.get("tenant") or "")
        parts = [
            "<!DOCTYPE html>",
            '<html lang="pt-BR"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # nothing outside this file may load: no scripts, fonts, images or styles from elsewhere
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            f"<title>{_e(title)} · {_e(client)}</title>",
            f"<style>{_CSS}</style></head><body><main>",
            f"<header><h1>{_e(title)}</h1><p>{_e(client)} · fuso horário {_e(self.fmt.tz.key)}</p></header>",
            self.headline(report.get("headline")),
        ]
        for key, value in report.items():
            if key in (*META_KEYS, "headline"):
                continue
            handler = self.sections.get(key, self.generic_section)
            parts.append(handler(key, value))
        generated = report.get("generated_at")
        footer = f"Gerado em {_e(self.fmt('generated_at', generated))} · " if generated else ""
        parts.append(f"<footer>{footer}ClimaTrak Cloud</footer></main></body></html>\n")
        return "\n".join(part for part in parts if part)

    # ---- building blocks --------------------------------------------------------------------------

    def headline(self, headline: Any) -> str:
        if not isinstance(headline, dict) or not headline:
            return ""
        cards = []
        for key, value in headline.items():
            if _is_nested(value):
                continue
            name = _e(HEADLINE_LABELS.get(key) or _label(key))
            cards.append(
                f'<div class="card"><div class="k">{name}</div><div class="v">{_e(self.fmt(key, value))}</div></div>'
            )
        return f'<div class="cards">{"".join(cards)}</div>'

    def kv_table(self, values: Mapping[str, Any]) -> str:
        rows = []
        for key, value in values.items():
            css = ' class="n"' if _decimal(value) is not None else ""
            rows.append(f"<tr><th>{_e(_label(key))}</th><td{css}>{self.cell(key, value)}</td></tr>")
        return f'<table class="kv">{"".join(rows)}</table>' if rows else ""

    def cell(self, key: str, value: Any) -> str:
        """A value's HTML: escaped text, nested dicts as `name: value; ...`, and http(s) URLs as
        links (an evidence link list stays clickable)."""
        if isinstance(value, str) and _is_url(value):
            return _link(value, value)
        if isinstance(value, Mapping) and value:
            parts = []
            for name, item in value.items():
                if isinstance(item, str) and _is_url(item):  # {label: url}: the label is the link
                    parts.append(_link(item, str(name)))
                else:
                    parts.append(f"{_e(self.fmt.name(key, str(name)))}: {self.cell(str(name), item)}")
            return "; ".join(parts)
        if isinstance(value, list | tuple) and value:
            return ", ".join(self.cell(key, item) for item in value)
        return _e(self.fmt(key, value))

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
        if not rows:
            return '<p class="muted">Sem registros no período.</p>'
        columns = list(columns or _display_columns(rows))
        numeric = {column for column in columns if _numeric_column(rows, column)}
        head = "".join(f"<th{_NUM if c in numeric else ''}>{_e(_label(c))}</th>" for c in columns)
        body = []
        for row in rows:
            cells = "".join(f"<td{_NUM if c in numeric else ''}>{self.cell(c, row.get(c))}</td>" for c in columns)
            body.append(f"<tr>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def chart(self, title: str, labels: Sequence[str], series: Sequence[Series], key: str) -> str:
        """Horizontal bars: one group per label, one bar per series (name, color, values)."""
        if not labels:
            return ""
        # chart values are floats: shown like the figures they come from (a count as a count)
        return f"<h4>{_e(title)}</h4>" + bar_chart(labels, series, lambda v: self.fmt(key, Decimal(repr(v))))

    # ---- sections -----------------------------------------------------------------------------------

    def generic_section(self, key: str, value: Any) -> str:
        return f"<section><h2>{_e(_label(key))}</h2>{self.block(key, value, 3)}</section>"

    def block(self, key: str, value: Any, level: int) -> str:
        """A value of any shape: scalars as a two-column table, lists of dicts as a table (with
        planned/actual bars when the rows have both), nested dicts as sub-headings."""
        if isinstance(value, dict):
            scalars = {k: v for k, v in value.items() if not _is_nested(v)}
            parts = [self.kv_table(scalars)]
            for name, item in value.items():
                if _is_nested(item):
                    heading = min(level, 4)
                    parts.append(f"<h{heading}>{_e(_label(name))}</h{heading}>{self.block(name, item, level + 1)}")
            return "".join(parts)
        if isinstance(value, list) and all(isinstance(row, dict) for row in value):
            return self.comparison_chart(value) + self.table(value)
        return f"<p>{self.cell(key, value)}</p>"

    def comparison_chart(self, rows: Sequence[Mapping[str, Any]]) -> str:
        """Planned against actual for rows that carry both (budget by category, by cost centre);
        actual alone for rows with only that (top assets by cost)."""
        if not rows or not all("actual" in row for row in rows):
            return ""
        labels = [_row_name(row) for row in rows]
        actual = [_float(row.get("actual")) for row in rows]
        if all("planned" in row for row in rows):
            planned = [_float(row.get("planned")) for row in rows]
            series = [("Planejado", "#93c5fd", planned), ("Realizado", "#1d4ed8", actual)]
            return self.chart("Planejado \u00d7 realizado", labels, series, "actual")
        return self.chart("Realizado", labels, [("Realizado", "#1d4ed8", actual)], "actual")

    def energy(self, key: str, value: Any) -> str:
        parts = [f"<section><h2>{_e(_label(key))}</h2>"]
        if isinstance(value, list) and all(isinstance(row, dict) for row in value):
            rows = [row for row in value if "kwh_total" in row]
            labels = [str(row.get("asset_tag") or row.get("asset_name") or "—") for row in rows]
            peak = [_float(row.get("kwh_peak")) for row in rows]
            if any(peak):
                off = [_float(row.get("kwh_off_peak")) + _float(row.get("kwh_intermediate")) for row in rows]
                series = [("Ponta", "#ea580c", peak), ("Fora de ponta", "#2563eb", off)]
            else:
                series = [("Total", "#2563eb", [_float(row.get("kwh_total")) for row in rows])]
            parts.append(self.chart("kWh por ativo", labels, series, "kwh"))
            parts.append(self.table(value))
        elif isinstance(value, dict):
            if "kwh" in value and "previous_kwh" in value:
                current, previous = _float(value.get("kwh")), _float(value.get("previous_kwh"))
                parts.append(
                    self.chart(
                        "kWh: período anterior e este período",
                        ["Período anterior", "Este período"],
                        [("kWh", "#2563eb", [previous, current])],
                        "kwh",
                    )
                )
            parts.append(self.block(key, value, 3))
        else:
            parts.append(self.block(key, value, 3))
        parts.append("</section>")
        return "".join(parts)

    def telemetry(self, key: str, value: Any) -> str:
        if not isinstance(value, dict):
            return self.generic_section(key, value)
        sensors = value.get("sensors")
        rest = {k: v for k, v in value.items() if k != "sensors"}
        parts = [f"<section><h2>{_e(_label(key))}</h2>", self.block(key, rest, 3)]
        if isinstance(sensors, list):
            parts.append(f"<h3>{_e(_label('sensors'))}</h3>{self.coverage_table(sensors)}")
        parts.append("</section>")
        return "".join(parts)

    def coverage_table(self, sensors: Sequence[Any]) -> str:
        rows = [row for row in sensors if isinstance(row, dict)]
        if not rows:
            return '<p class="muted">Nenhum sensor reportou no período.</p>'
        wanted = ("asset_tag", "sensor_id", "metric_type", "unit", "count", "min", "avg", "max", "p95", "longest_gap_s")
        columns = [c for c in wanted if any(c in row for row in rows)]
        low = sum(1 for row in rows if _float(row.get("coverage")) < 0.9)
        texts = wanted[:4]  # the rest are numbers
        head = "".join(f"<th{'' if c in texts else _NUM}>{_e(_label(c))}</th>" for c in columns)
        body = []
        for row in rows:
            cells = [f"<td>{self.bar_cell(row.get('coverage'))}</td>"]
            cells += [f"<td{'' if c in texts else _NUM}>{self.cell(c, row.get(c))}</td>" for c in columns]
            body.append(f"<tr>{''.join(cells)}</tr>")
        summary = f'<p class="muted">{len(rows)} sensores; {low} com cobertura abaixo de 90 %.</p>'
        head = f"<th>{_e(_label('coverage'))}</th>{head}"
        return f"{summary}<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def bar_cell(self, coverage: Any) -> str:
        share = max(0.0, min(1.0, _float(coverage)))
        css, color = ("ok", "#16a34a") if share >= 0.95 else ("warn", "#d97706") if share >= 0.8 else ("bad", "#dc2626")
        width = f"{share * 100:.1f}"
        bar = f'<span class="bar"><i style="width:{width}%;background:{color}"></i></span>'
        return f'{bar}<span class="{css}">{_e(self.fmt("coverage", coverage))}</span>'

    def operations(self, key: str, value: Any) -> str:
        if not isinstance(value, dict):
            return self.generic_section(key, value)
        parts = [f"<section><h2>{_e(_label(key))}</h2>"]
        if value.get("start") and value.get("end"):
            start, end = self.fmt("start", value["start"]), self.fmt("end", value["end"])
            parts.append(f'<p class="muted">De {_e(start)} a {_e(end)}</p>')
        work_orders = value.get("work_orders")
        if isinstance(work_orders, dict):
            parts.append(f"<h3>{_e(_label('work_orders'))}</h3>{self.kv_table(work_orders)}")
        alerts = value.get("alerts")
        if isinstance(alerts, dict):
            parts.append(f"<h3>{_e(_label('alerts'))}</h3>")
            raised = alerts.get("raised_by_severity") or {}
            resolved = alerts.get("resolved_by_severity") or {}
            names = list(dict.fromkeys([*raised, *resolved]))
            if names:
                parts.append(
                    self.chart(
                        "Alertas por severidade",
                        [SEVERITY_LABELS.get(name, name) for name in names],
                        [
                            ("Disparados", "#dc2626", [_float(raised.get(name)) for name in names]),
                            ("Resolvidos", "#16a34a", [_float(resolved.get(name)) for name in names]),
                        ],
                        "count",
                    )
                )
            parts.append(
                self.kv_table({k: v for k, v in alerts.items() if not _is_nested(v) and "by_severity" not in k})
            )
            hours = alerts.get("hours_in_alert")
            if isinstance(hours, list) and hours:
                labels = [str(row.get("asset_tag") or "—") for row in hours if isinstance(row, dict)]
                values = [_float(row.get("hours")) for row in hours if isinstance(row, dict)]
                parts.append(self.chart(_label("hours_in_alert"), labels, [("Horas", "#b91c1c", values)], "hours"))
                parts.append(self.table(hours, ["asset_tag", "asset_name", "hours", "alerts"]))
        ledger = value.get("ledger")
        if isinstance(ledger, dict):
            title = "Lançamentos do período" if self.report.get("type") != "daily" else _label("ledger")
            parts.append(f"<h3>{_e(title)}</h3>")
            parts.append(self.table(ledger.get("by_category") or [], ["label", "count", "amount"]))
            parts.append(self.kv_table({"count": ledger.get("count"), "amount": ledger.get("amount")}))
        others = {
            k: v
            for k, v in value.items()
            if k not in ("work_orders", "alerts", "ledger", "start", "end", "tenant", "kind", "period", "timezone")
        }
        if others:
            parts.append(self.block(key, others, 3))
        parts.append("</section>")
        return "".join(parts)


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://")) and not any(ch in value for ch in " \"'<>\n\r\t")


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url, quote=True)}" rel="noopener noreferrer">{_e(text)}</a>'


def _float(value: Any) -> float:
    number = _decimal(value)
    return float(number) if number is not None else 0.0


def _row_name(row: Mapping[str, Any]) -> str:
    for key in ("category_display", "name", "asset_tag", "asset_name", "code", "category", "label"):
        if row.get(key):
            return str(row[key])
    return "—"


def _numeric_column(rows: Sequence[Mapping[str, Any]], column: str) -> bool:
    values = [row.get(column) for row in rows if row.get(column) not in (None, "")]
    return bool(values) and all(_decimal(value) is not None for value in values)


def _display_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns worth showing a person: no ids, no column that is empty in every row, and no
    code whose display form is also there (`category` when `category_display` is)."""
    columns = _columns(rows)
    present = set(columns)
    shown = []
    for column in columns:
        if column == "id" or column.endswith("_id"):
            continue
        if f"{column}_display" in present or f"{column}_name" in present:
            continue
        if all(row.get(column) in (None, "", [], {}) for row in rows):
            continue
        shown.append(column)
    return shown


def bar_chart(labels: Sequence[str], series: Sequence[Series], value_text: Callable[[float], str]) -> str:
    """An inline SVG bar chart (horizontal bars, one group per label, a legend when there are
    several series). Coordinates are printed with one decimal, so the markup is deterministic."""
    label_w, bar_w, value_w, bar_h, gap = 180, 420, 110, 14, 3
    n = max(1, len(series))
    legend_h = 22 if n > 1 else 0
    group_h = n * (bar_h + gap) + 9
    width = label_w + bar_w + value_w
    height = legend_h + group_h * len(labels) + 4
    peak = max((v for _, _, values in series for v in values), default=0.0)
    scale = bar_w / peak if peak > 0 else 0.0
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(", ".join(name for name, _, _ in series))}">'
    ]
    if n > 1:
        x = label_w
        for name, color, _ in series:
            out.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{_e(color)}"/>')
            out.append(f'<text x="{x + 16}" y="14">{_e(name)}</text>')
            x += 24 + 7 * len(name)
    for row, label in enumerate(labels):
        top = legend_h + row * group_h
        shown = label if len(label) <= 26 else label[:25] + "…"
        middle = top + (n * (bar_h + gap)) / 2 + 4
        out.append(
            f'<text x="{label_w - 8}" y="{middle:.1f}" text-anchor="end"><title>{_e(label)}</title>{_e(shown)}</text>'
        )
        for index, (name, color, values) in enumerate(series):
            value = values[row] if row < len(values) else 0.0
            y = top + index * (bar_h + gap)
            length = max(0.0, value * scale)
            out.append(
                f'<rect x="{label_w}" y="{y:.1f}" width="{length:.1f}" height="{bar_h}" rx="2" fill="{_e(color)}">'
                f"<title>{_e(label)} · {_e(name)}: {_e(value_text(value))}</title></rect>"
            )
            out.append(f'<text x="{label_w + length + 6:.1f}" y="{y + bar_h - 3:.1f}">{_e(value_text(value))}</text>')
    out.append("</svg>")
    return "".join(out)


__all__ = ["bar_chart", "json_safe", "to_csv", "to_html", "to_json"]
