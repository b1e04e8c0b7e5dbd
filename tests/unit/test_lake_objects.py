"""A local directory standing in for the lake bucket."""

from __future__ import annotations

from pathlib import Path

from climatrak.reports.lake_objects import LocalObjects


def test_local_keys_list_one_prefix_sorted_whatever_the_directory_names(tmp_path: Path) -> None:
    for key in (".staging/a/x.parquet", "telemetry/raw/dt=1/b.parquet", "telemetry/raw/dt=1/a.parquet", "top.txt"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"1")
    objects = LocalObjects(tmp_path)
    assert objects.keys(".staging/a/") == [".staging/a/x.parquet"]
    assert objects.keys("telemetry/raw/dt=1/") == ["telemetry/raw/dt=1/a.parquet", "telemetry/raw/dt=1/b.parquet"]
    assert objects.keys("telemetry/raw/dt=1/b") == ["telemetry/raw/dt=1/b.parquet"]
    assert objects.keys("to") == ["top.txt"]
    assert objects.keys("missing/") == []


def test_local_write_takes_a_buffer_view_and_replaces_the_object(tmp_path: Path) -> None:
    objects = LocalObjects(tmp_path)
    objects.write("a/b.bin", b"old", "application/octet-stream")
    objects.write("a/b.bin", memoryview(b"new body"), "application/octet-stream")
    assert objects.read("a/b.bin") == b"new body"
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == ["b.bin"]
