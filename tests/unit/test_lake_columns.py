"""The column helpers of the daily lake job against plain Python."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from climatrak.reports.lake_columns import (
    code_strings,
    combine,
    is_mixed_radix,
    is_ordered,
    order_by,
    sorted_by,
    split_mixed_radix,
)


@pytest.mark.parametrize("huge", [False, True])
def test_sorted_by_orders_stably_and_its_key_is_equal_exactly_for_equal_rows(huge: bool) -> None:
    rng = random.Random(7)
    # `huge`: primary x time span would overflow an int64 key, so the lexsort path runs
    scale = 1 << 40 if huge else 1
    primary = np.array([rng.randrange(5) * scale for _ in range(2_000)], np.int64)
    ts = np.array([rng.randrange(4) * (1 << 30 if huge else 1) for _ in range(2_000)], np.int64)
    order, key, span = sorted_by(primary.copy(), ts)
    if huge:
        assert span is None  # the key is a dense rank
    else:
        assert span is not None and np.array_equal(key, primary * span + ts - ts.min())
    expected = sorted(range(len(primary)), key=lambda row: (int(primary[row]), int(ts[row])))  # stable
    assert order.tolist() == expected
    assert np.array_equal(order_by(primary, ts), order)
    pairs = list(zip(primary.tolist(), ts.tolist(), strict=True))
    for left, right in ((rng.randrange(2_000), rng.randrange(2_000)) for _ in range(500)):
        assert (key[left] == key[right]) == (pairs[left] == pairs[right])
        assert (key[left] < key[right]) == (pairs[left] < pairs[right])


def test_sorted_by_may_reuse_the_primary_array() -> None:
    primary, ts = np.array([3, 1, 2], np.int64), np.array([0, 5, 5], np.int64)
    order, key, _ = sorted_by(primary, ts, overwrite=True)
    assert order.tolist() == [1, 2, 0] and key is primary


def test_strings_from_chunks_with_their_own_dictionaries_get_codes_in_string_order() -> None:
    chunks = [
        pa.array(["b", "a", None, "b"]).dictionary_encode(),
        pa.array(["c", "a"]).dictionary_encode(),
        pa.array(["a", "c"]).dictionary_encode(),  # the same strings, another dictionary order
    ]
    coded = code_strings(pa.chunked_array(chunks))
    assert coded.values.to_pylist() == ["a", "b", "c"]
    assert coded.codes.tolist() == [1, 0, coded.null_code, 1, 2, 0, 0, 2]
    assert coded.null_count == 1
    assert coded.to_arrow().to_pylist() == ["b", "a", None, "b", "c", "a", "a", "c"]


def test_plain_strings_are_coded_too() -> None:
    coded = code_strings(pa.chunked_array([pa.array(["x", "w"]), pa.array(["w"])]))
    assert coded.values.to_pylist() == ["w", "x"] and coded.codes.tolist() == [1, 0, 0]


def test_is_ordered_looks_at_time_only_within_equal_primaries() -> None:
    assert is_ordered(np.array([1, 1, 2, 2]), np.array([5, 6, 0, 1]))
    assert not is_ordered(np.array([1, 1, 2, 2]), np.array([5, 4, 0, 1]))
    assert not is_ordered(np.array([2, 1]), np.array([0, 1]))
    assert is_ordered(np.array([7]), np.array([0]))


def test_a_combined_key_splits_back_into_its_columns_codes() -> None:
    columns = [
        code_strings(pa.chunked_array([pa.array(values)]))
        for values in (["b", "a", None, "c"], ["x", "y", "x", "x"], ["1", "2", "3", None])
    ]
    assert is_mixed_radix(*columns)
    parts = split_mixed_radix(combine(*columns), *columns)
    assert [part.tolist() for part in parts] == [column.codes.tolist() for column in columns]
