"""Arrow columns as numpy arrays for the daily lake job.

String columns become integer codes whose order is the strings' order, so sorting and grouping
by several string columns is integer arithmetic on one int64 key (numpy), never a comparison of
strings per row. Raw Parquet objects are dictionary-encoded and read as dictionaries, so the
codes cost one small sort of the distinct strings plus one lookup per row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Keys stay below this so that `key * radix + code` never overflows int64.
_KEY_LIMIT = 1 << 62
# threads for column work: np.take, numpy sorts and Arrow kernels run outside the GIL
WORKERS = max(2, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class Coded:
    """A string column as codes: `values` are distinct strings in ascending order, `codes[i]` is
    the position of row i's string in `values`, and `null_code == len(values)` marks a null (so
    nulls sort last)."""

    codes: np.ndarray  # int32
    values: pa.Array
    null_count: int

    @property
    def null_code(self) -> int:
        return len(self.values)

    @property
    def radix(self) -> int:
        return len(self.values) + 1

    def code_of(self, value: str) -> int | None:
        position: int = pc.index(self.values, value).as_py()
        return position if position >= 0 else None

    def take(self, rows: np.ndarray) -> Coded:
        """The column's `rows`, keeping only the strings they use: the same rows give the same
        codes and values whatever dictionaries the input came with (stable output bytes)."""
        codes = np.take(self.codes, rows)
        counts = np.bincount(codes, minlength=self.radix)
        used = counts[: self.null_code] > 0
        if used.all():
            return Coded(codes, self.values, int(counts[self.null_code]))
        remap = np.cumsum(np.append(used, True), dtype=np.int32) - 1  # the null code follows too
        return Coded(np.take(remap, codes), self.values.filter(pa.array(used)), int(counts[self.null_code]))

    def to_arrow(self) -> pa.DictionaryArray:
        nulls = self.codes == self.null_code if self.null_count else None
        return pa.DictionaryArray.from_arrays(pa.array(self.codes, pa.int32(), mask=nulls), self.values)

    def strings(self, rows: np.ndarray) -> pa.Array:
        """Plain strings of `rows` (a few: labels of groups)."""
        codes = np.take(self.codes, rows)
        nulls = codes == self.null_code
        indices = pa.array(np.where(nulls, 0, codes), pa.int32(), mask=nulls if nulls.any() else None)
        return self.values.take(indices) if len(self.values) else pa.nulls(len(codes), pa.string())


def code_strings(column: pa.ChunkedArray) -> Coded:
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return Coded(np.zeros(0, np.int32), pa.array([], pa.string()), 0)
    dictionary = column.chunk(0).dictionary
    null_code = len(dictionary)
    indices = np.concatenate(
        [
            (chunk.indices.fill_null(null_code) if chunk.null_count else chunk.indices).to_numpy()
            for chunk in column.chunks
        ]
    ).astype(np.int32, copy=False)
    null_count = column.null_count
    order = pc.sort_indices(dictionary).to_numpy()
    if np.array_equal(order, np.arange(null_code)):  # already in order (a compacted file)
        return Coded(indices, dictionary, null_count)
    rank = np.empty(null_code + 1, np.int32)
    rank[order] = np.arange(null_code, dtype=np.int32)
    rank[null_code] = null_code
    return Coded(np.take(rank, indices), dictionary.take(pa.array(order)), null_count)


def int64s(column: pa.ChunkedArray) -> np.ndarray:
    """A non-null integer or timestamp column as int64 (timestamps in their unit, here ms)."""
    if column.num_chunks == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([chunk.cast(pa.int64()).to_numpy() for chunk in column.chunks])


def float64s(column: pa.ChunkedArray) -> np.ndarray:
    if column.num_chunks == 0:
        return np.zeros(0, np.float64)
    return np.concatenate([chunk.to_numpy() for chunk in column.chunks]).astype(np.float64, copy=False)


def combine(*columns: Coded) -> np.ndarray:
    """One int64 per row, ordering the rows as the tuple of the columns' strings would.

    Radices multiply; if their product would overflow, the key so far is replaced by its dense
    rank first (a sort, only for very many distinct combinations)."""
    key = columns[0].codes.astype(np.int64)
    size = columns[0].radix
    for column in columns[1:]:
        if size * column.radix >= _KEY_LIMIT:
            distinct, key = np.unique(key, return_inverse=True)
            size = len(distinct)
        key *= column.radix
        key += column.codes
        size *= column.radix
    return key


def order_by(primary: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Row order by (primary, ts), stable (equal rows keep their input order)."""
    if len(primary) == 0:
        return np.zeros(0, np.int64)
    first = int(ts.min())
    span = int(ts.max()) - first + 1
    if (int(primary.max()) + 1) * span < _KEY_LIMIT:
        key = primary * span
        key += ts
        key -= first
        return np.argsort(key, kind="stable")
    return np.lexsort((ts, primary))


def is_ordered(primary: np.ndarray, ts: np.ndarray) -> bool:
    """Whether the rows are in (primary, ts) order already."""
    if len(primary) < 2:
        return True
    step = np.diff(primary)
    if (step < 0).any():
        return False
    return bool((np.diff(ts)[step == 0] >= 0).all())
