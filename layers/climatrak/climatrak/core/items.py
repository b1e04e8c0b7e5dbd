"""The Main table's PynamoDB base item and the transaction helpers every module shares.

One base model carries the keys and the `kind` discriminator; each entity of each module is a
subclass. The table name is bound at cold start from Settings (`bind_main_table`), never at import.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from pynamodb.attributes import Attribute, DiscriminatorAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

UNBOUND_TABLE = "climatrak-main-unbound"


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number read back as an exact Decimal (NumberAttribute would give a float)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(value)

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class MainItem(Model):
    class Meta:
        table_name = UNBOUND_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


def bind_main_table(table_name: str) -> None:
    """Point every Main-table item at the table (PynamoDB reconnects when the name changes)."""
    MainItem.Meta.table_name = table_name


@cache
def transaction_connection() -> Connection:
    return Connection()


def condition_failed(error: Exception) -> bool:
    """A put/update/delete or a whole transaction refused by a condition."""
    return getattr(error, "cause_response_code", None) in {
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    }


def failed_positions(error: TransactWriteError) -> set[int]:
    """Indexes (in request order) of the transaction items whose condition failed.

    PynamoDB sends a TransactWrite's items grouped: condition checks, then deletes, then puts,
    then updates, each group in the order they were added."""
    return {
        index
        for index, reason in enumerate(error.cancellation_reasons)
        if reason is not None and reason.code == "ConditionalCheckFailed"
    }
