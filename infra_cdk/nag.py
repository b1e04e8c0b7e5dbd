"""cdk-nag wiring: the AwsSolutions pack runs as a CDK validation plugin at synth time.

cdk-nag 3 reports through `Validations.of(app).add_plugins(...)`: any unacknowledged finding
fails `app.synth()`. Acknowledgements go through `Validations.of(scope).acknowledge`, always with
the reason written next to the construct it concerns.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, PolicyValidationPluginReport, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# The plugin prefix cdk-nag's report asks for; without it CDK files the id as an annotation rule.
PLUGIN_PREFIX = "AwsSolutions::"


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. "AwsSolutions-IAM5[Resource::*]") on scope and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PLUGIN_PREFIX}{rule_id}", reason=reason))


def add_aws_solutions_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def aws_solutions_report(app: App) -> PolicyValidationPluginReport:
    """Run the pack directly over the tree (used by the infra tests for a readable failure)."""
    return AwsSolutionsChecks(app, verbose=True).validate_scope(app)
