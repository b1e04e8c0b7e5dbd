from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra_cdk.layer import BUILT_MARKER, LayerDirs, build_climatrak_layer, is_up_to_date

pytestmark = [pytest.mark.infra]


def test_missing_layer_directory_says_to_run_make_layer(tmp_path: Path) -> None:
    dirs = LayerDirs(climatrak=tmp_path / "a", deps_core=tmp_path / "b", deps_lake=tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="make layer"):
        dirs.require_built()


def test_layer_dirs_come_from_context_as_mapping_or_json(tmp_path: Path) -> None:
    mapping = {"climatrak": str(tmp_path / "x"), "deps_core": str(tmp_path / "y"), "deps_lake": str(tmp_path / "z")}
    expected = LayerDirs(climatrak=tmp_path / "x", deps_core=tmp_path / "y", deps_lake=tmp_path / "z")
    assert LayerDirs.from_context(mapping) == expected
    assert LayerDirs.from_context('{"climatrak": "%s"}' % (tmp_path / "x")).climatrak == tmp_path / "x"
    assert LayerDirs.from_context(None) == LayerDirs.default()


def test_climatrak_layer_copies_the_package_without_bytecode(tmp_path: Path) -> None:
    target = tmp_path / "layer-climatrak"
    build_climatrak_layer(target)
    package = target / "python" / "climatrak"
    assert (package / "core" / "resources.py").is_file()
    assert not list(package.rglob("*.pyc"))


def test_deps_layer_is_rebuilt_only_when_requirements_are_newer(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("orjson\n")
    target = tmp_path / "layer"
    assert not is_up_to_date(target, requirements)  # never built

    target.mkdir()
    marker = target / BUILT_MARKER
    marker.touch()
    os.utime(requirements, (1_000, 1_000))
    os.utime(marker, (2_000, 2_000))
    assert is_up_to_date(target, requirements)

    os.utime(requirements, (3_000, 3_000))
    assert not is_up_to_date(target, requirements)
