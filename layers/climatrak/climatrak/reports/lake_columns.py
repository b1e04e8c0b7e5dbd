"""Arrow columns as numpy arrays for the daily lake job.

String columns become integer codes whose order is the strings' order, so sorting and grouping
by several string columns is integer arithmetic on one int64 key (numpy), never a comparison of
strings per row. Raw Parquet objects are dictionary-encoded and read as dictionaries, so the
codes cost one small sort of the distinct strings plus one lookup per row.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

# pa.array(ndarray) imports numpy.ma on first use: at import (the Lambda's init), not in a job
import numpy.ma
import pyarrow as pa
import pyarrow.compute as pc

# Keys stay below this so that `key * radix + code` never overflows int64.
_KEY_LIMIT = 1 << 62
# threads for column work: np.take, numpy sorts and Arrow kernels run outside the GIL
WORKERS = max(2, os.cpu_count() or 1)


def empty(length: int, dtype: type | np.dtype) -> np.ndarray:
    """An uninitialised array in Arrow's memory pool. The job allocates and frees arrays of the
    day's length step after step: the pool hands freed memory out again, where numpy's
    allocations would return it to the OS and fault fresh pages in (the job's largest system
    cost). Use it with numpy's `out=`."""
    kind = np.dtype(dtype)
    if length == 0:
        return np.empty(0, kind)
    return np.frombuffer(pa.allocate_buffer(length * kind.itemsize), dtype=kind)


def take(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`np.take(array, rows)` into pool memory."""
    return np.take(array, rows, out=empty(len(rows), array.dtype))


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

    def to_arrow(self) -> pa.DictionaryArray:
        nulls = self.codes == self.null_code if self.null_count else None
        # safe=False: the codes index `values` by construction (the check is a pass over every row)
        return pa.DictionaryArray.from_arrays(pa.array(self.codes, pa.int32(), mask=nulls), self.values, safe=False)

    def strings(self, rows: np.ndarray) -> pa.Array:
        """Plain strings of `rows` (a few: labels of groups)."""
        codes = np.take(self.codes, rows)
        nulls = codes == self.null_code
        indices = pa.array(np.where(nulls, 0, codes), pa.int32(), mask=nulls if nulls.any() else None)
        return self.values.take(indices) if len(self.values) else pa.nulls(len(codes), pa.string())


@dataclass(frozen=True, slots=True)
class Recoding:
    """A `Coded` column narrowed to the strings some of its rows use: the same rows then give the
    same codes and values whatever dictionaries the input came with (stable output bytes)."""

    remap: np.ndarray | None  # the column's code -> the narrowed code; None when all are used
    values: pa.Array
    null_count: int

    @classmethod
    def of(cls, column: Coded, counts: np.ndarray) -> Recoding:
        """`counts`: how many of the rows hold each code (bincount, `column.radix` long)."""
        used = counts[: column.null_code] > 0
        null_count = int(counts[column.null_code])
        if used.all():
            return cls(None, column.values, null_count)
        remap = np.cumsum(np.append(used, True), dtype=np.int32) - 1  # the null code follows too
        return cls(remap, column.values.filter(pa.array(used)), null_count)

    def take(self, column: Coded, rows: np.ndarray, out: np.ndarray) -> None:
        """The narrowed codes of `rows` into `out`."""
        np.take(column.codes, rows, out=out)
        if self.remap is not None:
            np.take(self.remap, out, out=out)

    def coded(self, codes: np.ndarray) -> Coded:
        return Coded(codes, self.values, self.null_count)


def code_strings(column: pa.ChunkedArray) -> Coded:
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    if column.num_chunks == 0:
        return Coded(np.zeros(0, np.int32), pa.array([], pa.string()), 0)
    # Every chunk (raw object) has its own dictionary: each one's codes are remapped through a
    # lookup of its few strings into the sorted union, straight into the result (unifying the
    # dictionaries first would rewrite every chunk's indices once more).
    chunk_dictionaries = [chunk.dictionary for chunk in column.chunks]
    values = pc.unique(pa.concat_arrays(chunk_dictionaries))
    values = values.take(pc.sort_indices(values))
    null_code = len(values)
    codes = empty(len(column), np.int32)
    offset = 0
    remap, remapped = np.zeros(0, np.int32), None
    for chunk, dictionary in zip(column.chunks, chunk_dictionaries, strict=True):
        if remapped is None or not dictionary.equals(remapped):  # objects of a batch often agree
            remap = np.append(pc.index_in(dictionary, value_set=values).to_numpy(), null_code).astype(np.int32)
            remapped = dictionary
        indices = chunk.indices.fill_null(len(dictionary)) if chunk.null_count else chunk.indices
        np.take(remap, indices.to_numpy(), out=codes[offset : offset + len(chunk)])
        offset += len(chunk)
    return Coded(codes, values, column.null_count)


def int64s(column: pa.ChunkedArray) -> np.ndarray:
    """A non-null integer or timestamp column as int64 (timestamps in their unit, here ms)."""
    if len(column) == 0:
        return np.zeros(0, np.int64)
    # one cast of the whole column (a view of timestamps), not one per chunk
    chunks = column.cast(pa.int64()).chunks
    return np.concatenate([chunk.to_numpy() for chunk in chunks], out=empty(len(column), np.int64))


def float64s(column: pa.ChunkedArray) -> np.ndarray:
    if column.num_chunks == 0:
        return np.zeros(0, np.float64)
    return np.concatenate(
        [chunk.to_numpy() for chunk in column.chunks], out=empty(len(column), np.float64), casting="same_kind"
    )


def is_mixed_radix(*columns: Coded) -> bool:
    """Whether `combine(*columns)` is the mixed-radix number of the codes (not a dense rank)."""
    return math.prod(column.radix for column in columns) < _KEY_LIMIT


def split_mixed_radix(keys: np.ndarray, *columns: Coded) -> list[np.ndarray]:
    """The columns' codes (int32) of mixed-radix `keys` of `combine(*columns)`."""
    codes = []
    for column in reversed(columns):
        keys, code = np.divmod(keys, column.radix)
        codes.append(code.astype(np.int32))
    return codes[::-1]


def combine(*columns: Coded) -> np.ndarray:
    """One int64 per row, ordering the rows as the tuple of the columns' strings would.

    Radices multiply; if their product would overflow, the key so far is replaced by its dense
    rank first (a sort, only for very many distinct combinations)."""
    key = empty(len(columns[0].codes), np.int64)
    key[:] = columns[0].codes
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
    return sorted_by(primary, ts)[0]


def sorted_by(
    primary: np.ndarray, ts: np.ndarray, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """`order_by`, and one int64 per row (input order) that orders the rows as (primary, ts) do
    and is equal exactly where both are, and its `span`: when not None, the key is
    `primary * span + ts - min(ts)` (else it is a dense rank). With `overwrite`, an int64
    `primary` becomes that key (no new array)."""
    if len(primary) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 1
    first = int(ts.min())
    span = int(ts.max()) - first + 1
    if (int(primary.max()) + 1) * span < _KEY_LIMIT:
        if overwrite and primary.dtype == np.int64:
            key = primary
            key *= span
        else:
            key = np.multiply(primary, span, out=empty(len(primary), np.int64))
        key += ts
        key -= first
        return np.argsort(key, kind="stable"), key, span
    order = np.lexsort((ts, primary))
    return order, _dense_rank(primary, ts, order), None


def _dense_rank(primary: np.ndarray, ts: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each row's rank among the distinct (primary, ts), given their order."""
    p, t = np.take(primary, order), np.take(ts, order)
    distinct = np.empty(len(order), np.int64)
    distinct[0] = 0
    np.cumsum((p[1:] != p[:-1]) | (t[1:] != t[:-1]), out=distinct[1:])
    rank = np.empty(len(order), np.int64)
    rank[order] = distinct
    return rank


def is_ordered(primary: np.ndarray, ts: np.ndarray) -> bool:
    """Whether the rows are in (primary, ts) order already (two boolean masks in pool memory)."""
    if len(primary) < 2:
        return True
    mask = empty(len(primary) - 1, bool)
    if not np.greater_equal(primary[1:], primary[:-1], out=mask).all():
        return False
    np.not_equal(primary[1:], primary[:-1], out=mask)
    later = np.greater_equal(ts[1:], ts[:-1], out=empty(len(ts) - 1, bool))
    return bool(np.logical_or(mask, later, out=mask).all())
