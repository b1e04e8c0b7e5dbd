"""Money: Decimal with two places, ROUND_HALF_UP, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENTS = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_CURRENCY = "BRL"


def money(value: Decimal | int | str | float) -> Decimal:
    """Two-place Decimal. Floats (JSON numbers) go through their shortest repr, so 0.1 is 0.10."""
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not exact.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return exact.quantize(CENTS, rounding=ROUND_HALF_UP)


def as_number(value: Decimal) -> float | int:
    """For hand-built aggregate responses the contract serves as JSON numbers (API.md §1.9)."""
    quantized = value.quantize(CENTS, rounding=ROUND_HALF_UP)
    return int(quantized) if quantized == quantized.to_integral_value() else float(quantized)
