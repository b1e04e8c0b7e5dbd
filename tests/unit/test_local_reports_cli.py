"""`climatrak reports run daily|monthly`: what it sends, where it finds the state machine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from climatrak.core import aws
from climatrak_local import cli

ARN = "arn:aws:states:sa-east-1:111111111111:stateMachine:climatrak-prod-daily-report"


class FakeStepFunctions:
    def __init__(self, status: str = "SUCCEEDED", output: Any = None) -> None:
        self.started: list[dict[str, Any]] = []
        self.status, self.output = status, output

    def start_execution(self, **request: Any) -> dict[str, Any]:
        self.started.append(request)
        return {"executionArn": f"{request['stateMachineArn']}:{request['name']}"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        described = {"status": self.status, "output": json.dumps(self.output)}
        if self.status != "SUCCEEDED":
            described.update(error="ReportsFailed", cause='Reports failed for tenants: ["umc"]')
        return described


class FakeCloudFormation:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.asked: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.asked.append(StackName)
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]}


@pytest.fixture
def on_aws(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    clients: dict[str, Any] = {
        "stepfunctions": FakeStepFunctions(output={"completed": 2, "failed": []}),
        "cloudformation": FakeCloudFormation({"DAILYREPORTSTATEMACHINEARN": ARN}),
    }
    monkeypatch.setattr(aws, "client", lambda service: clients[service])
    yield clients
    cli.TARGET.update(target="local", stage="dev")


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


def test_report_input_carries_only_what_was_given() -> None:
    assert cli.report_input("date", None, None, None) == {}
    assert cli.report_input("month", "2026-02", "umc", "America/Manaus") == {
        "month": "2026-02",
        "tenant": "umc",
        "timezone": "America/Manaus",
    }


@pytest.mark.parametrize(
    ("value", "pattern"), [("2026-3-1", "%Y-%m-%d"), ("2026-02-30", "%Y-%m-%d"), ("2026-13", "%Y-%m"), ("x", "%Y-%m")]
)
def test_periods_must_be_exact(value: str, pattern: str) -> None:
    with pytest.raises(cli.CliError, match="must be a"):
        cli.parse_period(value, pattern, "--date")


def test_on_aws_the_arn_comes_from_the_stage_reports_stack(on_aws: dict[str, Any]) -> None:
    result = invoke("--target", "aws", "--stage", "prod", "reports", "run", "daily", "--date", "2026-03-09")
    assert result.exit_code == 0, result.output
    assert on_aws["cloudformation"].asked == ["Climatrak-prod-Reports"]
    (started,) = on_aws["stepfunctions"].started
    assert started["stateMachineArn"] == ARN
    assert json.loads(started["input"]) == {"date": "2026-03-09"}
    assert started["name"].startswith("daily-cli-")
    assert json.loads(result.output)["output"] == {"completed": 2, "failed": []}


def test_on_aws_an_explicit_arn_wins_and_no_wait_returns_at_once(on_aws: dict[str, Any]) -> None:
    other = ARN.replace("daily", "monthly")
    result = invoke(
        "--target", "aws", "reports", "run", "monthly", "--month", "2026-02", "--tenant", "umc",
        "--state-machine-arn", other, "--no-wait",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert on_aws["cloudformation"].asked == []
    (started,) = on_aws["stepfunctions"].started
    assert started["stateMachineArn"] == other
    assert json.loads(started["input"]) == {"month": "2026-02", "tenant": "umc"}
    assert json.loads(result.output)["execution_arn"].startswith(other)


def test_a_failed_execution_prints_its_error_and_exits_1(on_aws: dict[str, Any]) -> None:
    on_aws["stepfunctions"].status = "FAILED"
    result = invoke("--target", "aws", "reports", "run", "daily")
    assert result.exit_code == 1
    answer = json.loads(result.output)
    assert (answer["status"], answer["error"]) == ("FAILED", "ReportsFailed")
    assert "umc" in answer["cause"]


def test_a_stack_without_the_output_is_a_clear_error(on_aws: dict[str, Any]) -> None:
    on_aws["cloudformation"].outputs = {}
    result = invoke("--target", "aws", "reports", "run", "daily")
    assert result.exit_code == 1
    assert "DAILYREPORTSTATEMACHINEARN" in result.output
