"""Build the Lambda layer directories without Docker.

`python -m infra_cdk.layer` (or `make layer`) writes three directories under build/:

- layer-climatrak   the shared `climatrak` package, copied as is;
- layer-deps        third-party packages every function needs (layers/requirements.txt);
- layer-deps-lake   pyarrow (layers/requirements-lake.txt), attached to the ingest function only.

The dependency layers come from manylinux aarch64 wheels (the functions run on Graviton), so
pip never compiles anything and the build works on any host. A dependency layer is rebuilt
only when its requirements file changed since the last successful build.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "build"
CLIMATRAK_PACKAGE = REPO_ROOT / "layers" / "climatrak" / "climatrak"
REQUIREMENTS_CORE = REPO_ROOT / "layers" / "requirements.txt"
REQUIREMENTS_LAKE = REPO_ROOT / "layers" / "requirements-lake.txt"

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
# Written last, so a half-finished pip run is never mistaken for a finished layer.
BUILT_MARKER = ".built"
# The Lambda runtime already provides these; pip pulls them in as pynamodb's dependencies.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# Files no function imports: C headers, Cython sources and the libraries' own test suites.
UNUSED_PATTERNS = ("__pycache__", "*.pyc", "*.pyx", "*.pxd", "include", "tests")


@dataclass(frozen=True)
class LayerDirs:
    """Directories whose `python/` subfolder becomes a Lambda layer."""

    climatrak: Path
    deps_core: Path
    deps_lake: Path

    @classmethod
    def default(cls) -> LayerDirs:
        return cls(
            climatrak=BUILD_DIR / "layer-climatrak",
            deps_core=BUILD_DIR / "layer-deps",
            deps_lake=BUILD_DIR / "layer-deps-lake",
        )

    @classmethod
    def from_context(cls, value: object) -> LayerDirs:
        """Read the `layer_dirs` CDK context: a mapping (or its JSON) of field name to path."""
        if value is None:
            return cls.default()
        mapping = json.loads(value) if isinstance(value, str) else value
        if not isinstance(mapping, Mapping):
            raise ValueError("context layer_dirs must map climatrak/deps_core/deps_lake to directories")
        defaults = cls.default()
        return cls(
            climatrak=Path(mapping.get("climatrak", defaults.climatrak)),
            deps_core=Path(mapping.get("deps_core", defaults.deps_core)),
            deps_lake=Path(mapping.get("deps_lake", defaults.deps_lake)),
        )

    def require_built(self) -> None:
        for path in (self.climatrak, self.deps_core, self.deps_lake):
            if not (path / "python").is_dir():
                raise FileNotFoundError(
                    f"Lambda layer directory {path / 'python'} is missing: run `make layer` "
                    "(python -m infra_cdk.layer) before synthesizing the CDK app."
                )


def build_climatrak_layer(target: Path) -> None:
    """Copy the shared package fresh every time: it is small and changes constantly."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        CLIMATRAK_PACKAGE,
        target / "python" / "climatrak",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def is_up_to_date(target: Path, requirements: Path) -> bool:
    marker = target / BUILT_MARKER
    return marker.exists() and marker.stat().st_mtime > requirements.stat().st_mtime


def build_deps_layer(target: Path, requirements: Path) -> bool:
    """pip-install `requirements` for Lambda into target/python. Returns False when skipped."""
    if is_up_to_date(target, requirements):
        return False
    shutil.rmtree(target, ignore_errors=True)
    site_packages = target / "python"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--platform", LAMBDA_PLATFORM, "--implementation", "cp",
        "--python-version", LAMBDA_PYTHON_VERSION, "--only-binary=:all:",
        "--target", str(site_packages), "-r", str(requirements),
    ]  # fmt: skip
    subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
    prune(site_packages)
    (target / BUILT_MARKER).touch()
    return True


def prune(site_packages: Path) -> None:
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(site_packages / name, ignore_errors=True)
        for dist_info in site_packages.glob(f"{name}-*.dist-info"):
            shutil.rmtree(dist_info)
    for pattern in UNUSED_PATTERNS:
        for path in list(site_packages.rglob(pattern)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def main() -> None:
    dirs = LayerDirs.default()
    build_climatrak_layer(dirs.climatrak)
    for target, requirements in ((dirs.deps_core, REQUIREMENTS_CORE), (dirs.deps_lake, REQUIREMENTS_LAKE)):
        built = build_deps_layer(target, requirements)
        if not built:
            print(f"{target.relative_to(REPO_ROOT)} is newer than {requirements.name}: skipped pip")  # noqa: T201
    for path in (dirs.climatrak, dirs.deps_core, dirs.deps_lake):
        print(f"{path.relative_to(REPO_ROOT)}: {size_mb(path):.1f} MB unzipped")  # noqa: T201


if __name__ == "__main__":
    main()
