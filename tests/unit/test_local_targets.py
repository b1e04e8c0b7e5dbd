"""The CLI's AWS target reads resource names from the deployed data stack's outputs."""

from __future__ import annotations

from typing import Any

import pytest

from climatrak.core.resources import BUCKETS, TABLES
from climatrak_local.targets import aws_settings, data_stack_name, output_key


class FakeCloudFormation:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.asked: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.asked.append(StackName)
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]}


def test_settings_come_from_the_stage_data_stack_outputs() -> None:
    outputs = {output_key(spec.env_var): f"deployed-{spec.local_name}" for spec in (*TABLES, *BUCKETS)}
    cloudformation = FakeCloudFormation(outputs)

    settings = aws_settings("prod", cloudformation)

    assert cloudformation.asked == [data_stack_name("prod")] == ["Climatrak-prod-Data"]
    assert settings.main_table == "deployed-climatrak-main"
    assert settings.telemetry_table == "deployed-climatrak-telemetry"
    assert settings.lake_bucket == "deployed-climatrak-lake"


def test_a_stack_without_the_outputs_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MAIN_TABLE"):
        aws_settings("dev", FakeCloudFormation({}))
