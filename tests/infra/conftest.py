"""Synthesize the CDK app once per test session (jsii start-up and synthesis take seconds).

The app reads its layers from small placeholder directories, so no test ever runs pip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra_cdk.app import ClimatrakStacks, build_app
from infra_cdk.stacks.api import ApiStack
from infra_cdk.stacks.data import DataStack
from infra_cdk.stacks.events import EventsStack
from infra_cdk.stacks.ingest import IngestStack
from infra_cdk.stacks.observability import ObservabilityStack
from infra_cdk.stacks.reports import ReportsStack

StackT = TypeVar("StackT", bound=cdk.Stack)


@dataclass(frozen=True)
class SynthesizedApp:
    app: cdk.App
    stacks: ClimatrakStacks
    data: Template
    ingest: Template
    api: Template
    events: Template
    reports: Template
    observability: Template


def make_layer_dirs(root: Path) -> dict[str, str]:
    dirs = {}
    for name in ("climatrak", "deps_core", "deps_lake"):
        package = root / name / "python" / f"placeholder_{name}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        dirs[name] = str(root / name)
    return dirs


@pytest.fixture(scope="session")
def layer_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_layer_dirs(tmp_path_factory.mktemp("layers"))


@pytest.fixture(scope="session")
def synthesized(layer_dirs: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynthesizedApp]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app({"stage": "dev", "layer_dirs": layer_dirs}, outdir=str(outdir))
    app.synth()  # cdk-nag runs here: an unacknowledged finding fails the whole session loudly
    stacks = _stacks_of(app)
    yield SynthesizedApp(
        app=app,
        stacks=stacks,
        data=Template.from_stack(stacks.data),
        ingest=Template.from_stack(stacks.ingest),
        api=Template.from_stack(stacks.api),
        events=Template.from_stack(stacks.events),
        reports=Template.from_stack(stacks.reports),
        observability=Template.from_stack(stacks.observability),
    )


def _stacks_of(app: cdk.App) -> ClimatrakStacks:
    def stack(suffix: str, kind: type[StackT]) -> StackT:
        found = app.node.find_child(f"Climatrak-dev-{suffix}")
        assert isinstance(found, kind)
        return found

    return ClimatrakStacks(
        data=stack("Data", DataStack),
        ingest=stack("Ingest", IngestStack),
        api=stack("Api", ApiStack),
        events=stack("Events", EventsStack),
        reports=stack("Reports", ReportsStack),
        observability=stack("Observability", ObservabilityStack),
    )
