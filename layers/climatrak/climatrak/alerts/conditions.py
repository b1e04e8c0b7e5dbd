"""What a rule parameter means: its operator, severity and message (pure functions).

Shared by the API (validation, `condition_display`) and the evaluator (comparisons, messages).
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable, Mapping

from climatrak.alerts.items import SEVERITIES

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
    "==": op.eq,
    "!=": op.ne,
}
OPERATOR_SYMBOLS = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠"}
# `{operator}` in messages, as the reference backend words it
OPERATOR_WORDS = {
    ">": "maior que",
    ">=": "maior ou igual a",
    "<": "menor que",
    "<=": "menor ou igual a",
    "==": "igual a",
    "!=": "diferente de",
}
SEVERITY_DISPLAY = {"Critical": "Crítico", "High": "Alto", "Medium": "Médio", "Low": "Baixo"}
_SEVERITY_BY_FOLDED = {severity.casefold(): severity for severity in SEVERITIES}

DEFAULT_TEMPLATE = "{variavel} está {operator} {threshold}{unit} (valor atual: {value}{unit})"
DEFAULT_NO_DATA_TEMPLATE = "{variavel} sem dados há {duration} min ({asset})"
PLACEHOLDERS = ("value", "threshold", "sensor", "variavel", "operator", "unit", "asset", "duration")
# Only these exact names are replaced: str.format would also evaluate `{value.__class__}`.
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


def normalise_severity(value: str) -> str | None:
    """`CRITICAL`, `Critical` or `critical` → `Critical`; None when it is no severity."""
    return _SEVERITY_BY_FOLDED.get(value.strip().casefold())


def holds(operator: str, value: float, threshold: float) -> bool:
    return OPERATORS[operator](value, threshold)


def number_text(value: float | None) -> str:
    """A reading or threshold as people write it: 25.0 → "25", 7.25 → "7.25"."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def render_message(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def condition_display(parameter_key: str, operator: str, threshold: float | None, unit: str) -> str:
    """`temp_supply > 25 °C` (the rule list's summary of its first parameter)."""
    symbol = OPERATOR_SYMBOLS.get(operator, operator)
    text = f"{parameter_key} {symbol} {number_text(threshold)}"
    return f"{text} {unit}".rstrip() if unit else text
