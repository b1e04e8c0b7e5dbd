from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import Validations
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match

from infra_cdk.nag import PLUGIN_PREFIX, add_aws_solutions_checks, aws_solutions_report
from tests.infra.conftest import SynthesizedApp

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

AWS_SOLUTIONS = Match.string_like_regexp("AwsSolutions-")


def acknowledged_rules(app: cdk.App) -> dict[str, dict[str, str]]:
    """Construct path -> {acknowledged rule id: reason}."""
    acknowledged: dict[str, dict[str, str]] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledged.setdefault(construct.node.path, {}).update(entry.data)
    return acknowledged


def test_every_aws_solutions_finding_is_acknowledged_where_it_occurs(synthesized: SynthesizedApp) -> None:
    # The raw pack output, before CDK filters out acknowledged findings (synthesis already
    # passed, so CDK found nothing unacknowledged; this shows which findings were waived).
    report = aws_solutions_report(synthesized.app)
    acknowledged = acknowledged_rules(synthesized.app)
    unacknowledged = []
    for violation in report.violations:
        for resource in violation.violating_resources:
            parts = resource.construct_path.split("/")
            scopes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
            if not any(f"{PLUGIN_PREFIX}{violation.rule_name}" in acknowledged.get(scope, {}) for scope in scopes):
                unacknowledged.append(f"{violation.rule_name} at {resource.construct_path}")
    assert unacknowledged == []


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    s3.Bucket(cdk.Stack(app, "Careless"), "Bucket")  # no TLS policy, no access logs
    add_aws_solutions_checks(app)
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S10"):
        app.synth()


@pytest.mark.parametrize("stack_name", ["data", "ingest", "api", "events", "reports", "observability"])
def test_no_aws_solutions_errors_or_warnings_annotated(synthesized: SynthesizedApp, stack_name: str) -> None:
    annotations = Annotations.from_stack(getattr(synthesized.stacks, stack_name))
    assert annotations.find_error("*", AWS_SOLUTIONS) == []
    assert annotations.find_warning("*", AWS_SOLUTIONS) == []


def test_every_acknowledgement_gives_a_reason(synthesized: SynthesizedApp) -> None:
    acknowledged = acknowledged_rules(synthesized.app)
    assert acknowledged, "acknowledgements are recorded as construct metadata"
    for path, rules in acknowledged.items():
        for rule, reason in rules.items():
            assert rule.startswith(f"{PLUGIN_PREFIX}AwsSolutions-"), (path, rule)
            assert len(reason.strip()) >= 20, (path, rule)
