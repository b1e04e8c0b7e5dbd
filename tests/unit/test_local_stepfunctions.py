"""The report state machines' definitions, run by moto's ASL interpreter in-process with their
Lambda tasks dispatched to plain Python functions (climatrak_local.stepfunctions)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from climatrak.core.resources import (
    DAILY_REPORT_SCHEDULE,
    MONTHLY_REPORT_SCHEDULE,
    REPORT_SCHEDULES,
    REPORT_TASKS,
    STATE_MACHINES,
)
from climatrak.reports.state_machines import (
    KINDS,
    LAMBDA_INVOKE,
    MAP_MAX_CONCURRENCY,
    TENANTS_FAILED_ERROR,
    daily_definition,
    definition,
    monthly_definition,
)
from climatrak_local import stepfunctions
from climatrak_local.provision import create_state_machine
from climatrak_local.runtime import LocalRuntime, SweepTimer, next_sweep, sweep_input

ARN = "arn:aws:lambda:us-east-1:123456789012:function:tasks"


# -- the definitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_task_invokes_the_one_task_function_through_lambda_invoke(kind: str) -> None:
    states = definition(kind, ARN)["States"]
    tasks = [states["ListTenants"], states["Tenants"]["ItemProcessor"]["States"]["Report"], states["Summarize"]]
    for task in tasks:
        assert task["Type"] == "Task"
        assert task["Resource"] == LAMBDA_INVOKE
        assert task["Parameters"]["FunctionName"] == ARN
        # only the answer's contract fields go on (never Lambda's envelope or the whole payload)
        assert all(path.startswith("$.Payload.") for path in task["ResultSelector"].values())


@pytest.mark.parametrize("kind", KINDS)
def test_the_map_runs_ten_tenants_at_a_time_and_catches_each_failure(kind: str) -> None:
    tenants = definition(kind, ARN)["States"]["Tenants"]
    assert tenants["MaxConcurrency"] == MAP_MAX_CONCURRENCY == 10
    states = tenants["ItemProcessor"]["States"]
    (catch,) = states["Report"]["Catch"]
    assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TenantFailed"}
    assert states["TenantFailed"]["Parameters"]["status"] == "failed"


def test_daily_and_monthly_differ_only_in_task_and_period() -> None:
    daily, monthly = daily_definition(ARN), monthly_definition(ARN)
    assert daily["States"]["Tenants"]["ItemProcessor"]["States"]["Report"]["Parameters"]["Payload"] == {
        "task": "daily",
        "tenant.$": "$.tenant",
        "date.$": "$.date",
    }
    assert monthly["States"]["Tenants"]["ItemProcessor"]["States"]["Report"]["Parameters"]["Payload"] == {
        "task": "monthly",
        "tenant.$": "$.tenant",
        "month.$": "$.month",
    }
    assert monthly["States"]["Request"]["Parameters"]["task"] == {"task": "list_tenants", "kind": "monthly"}


def test_retry_interval_is_the_only_knob() -> None:
    quick = definition("daily", ARN, retry_interval_seconds=1)
    retry = quick["States"]["Tenants"]["ItemProcessor"]["States"]["Report"]["Retry"][0]
    assert retry["IntervalSeconds"] == 1
    assert json.dumps(definition("daily", ARN)).replace('"IntervalSeconds": 10', '"IntervalSeconds": 1') == json.dumps(
        quick
    )
    with pytest.raises(ValueError, match="weekly"):
        definition("weekly", ARN)


def test_a_sweep_that_lists_nobody_ends_after_listing() -> None:
    states = definition("daily", ARN)["States"]
    assert states["ListTenants"]["Next"] == "AnyTenantDue"
    (some,) = states["AnyTenantDue"]["Choices"]
    assert some == {"Variable": "$.tenants[0]", "IsPresent": True, "Next": "Tenants"}
    assert states[states["AnyTenantDue"]["Default"]] == {"Type": "Succeed"}


# -- the sweeps, emulated locally -------------------------------------------------------------------


def test_the_next_sweep_is_the_next_quarter_hour_in_utc() -> None:
    assert next_sweep(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 10, 5, 59, 59, tzinfo=UTC)) == datetime(
        2026, 3, 10, 6, 0, tzinfo=UTC
    )
    # on a boundary: the next one (that one is starting now)
    assert next_sweep(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 10, 6, 0, tzinfo=UTC)) == datetime(
        2026, 3, 10, 6, 15, tzinfo=UTC
    )
    # an instant in another zone: boundaries are UTC's (Kolkata's 03:00 is 21:30 UTC)
    kolkata = datetime(2026, 3, 10, 2, 50, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert next_sweep(MONTHLY_REPORT_SCHEDULE, kolkata) == datetime(2026, 3, 9, 21, 30, tzinfo=UTC)
    assert next_sweep(DAILY_REPORT_SCHEDULE, datetime(2026, 12, 31, 23, 50, tzinfo=UTC)) == datetime(
        2027, 1, 1, 0, 0, tzinfo=UTC
    )
    assert sweep_input(DAILY_REPORT_SCHEDULE, datetime(2026, 3, 9, 21, 30, tzinfo=UTC)) == {
        "due_at": "2026-03-09T21:30:00Z"
    }


class FakeClock:
    """Time that moves only when told (the timer thread reads it, the test advances it)."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at


def test_a_sweep_timer_starts_its_state_machine_at_each_boundary_with_due_at() -> None:
    clock = FakeClock(datetime(2026, 3, 10, 5, 52, 30, tzinfo=UTC))
    runs: list[tuple[str, dict[str, str]]] = []
    started = threading.Semaphore(0)

    def start(spec: Any, payload: dict[str, str]) -> None:
        runs.append((spec.name, payload))
        started.release()

    timer = SweepTimer(DAILY_REPORT_SCHEDULE, start=start, clock=clock, step_seconds=0.01)
    timer.start()
    try:
        assert not started.acquire(timeout=0.3)  # 05:52:30: nothing is due yet
        clock.set(datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
        assert started.acquire(timeout=10)
        assert not started.acquire(timeout=0.3)  # once per boundary
        # the machine slept past two boundaries: both windows are swept, in order
        clock.set(datetime(2026, 3, 10, 6, 31, tzinfo=UTC))
        assert started.acquire(timeout=10) and started.acquire(timeout=10)
        assert not started.acquire(timeout=0.3)
    finally:
        timer.stop()
    assert not timer.alive
    assert runs == [
        ("daily_report", {"due_at": "2026-03-10T06:00:00Z"}),
        ("daily_report", {"due_at": "2026-03-10T06:15:00Z"}),
        ("daily_report", {"due_at": "2026-03-10T06:30:00Z"}),
    ]


def test_a_sweep_that_cannot_start_is_logged_and_the_next_boundary_still_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
    due: list[str] = []
    started = threading.Semaphore(0)

    def start(spec: Any, payload: dict[str, str]) -> None:
        due.append(payload["due_at"])
        started.release()
        if len(due) == 1:
            raise ConnectionError("moto is restarting")

    timer = SweepTimer(MONTHLY_REPORT_SCHEDULE, start=start, clock=clock, step_seconds=0.01)
    with caplog.at_level(logging.ERROR, logger="climatrak_local.runtime"):
        timer.start()
        try:
            clock.set(datetime(2026, 3, 10, 6, 15, tzinfo=UTC))
            assert started.acquire(timeout=10)
            clock.set(datetime(2026, 3, 10, 6, 30, tzinfo=UTC))
            assert started.acquire(timeout=10)
        finally:
            timer.stop()
    assert due == ["2026-03-10T06:15:00Z", "2026-03-10T06:30:00Z"]
    assert "could not start" in caplog.text and "monthly_report" in caplog.text


def test_the_runtime_sweeps_each_report_kind_only_when_asked() -> None:
    quiet = LocalRuntime()
    quiet._start_report_schedules()  # the scheduling part of start(), without moto and the servers
    assert quiet.sweep_timers == []  # tests and the demo see no surprise executions
    runtime = LocalRuntime(report_schedules=True)
    runtime._start_report_schedules()
    try:
        timers = runtime.sweep_timers
        assert [timer.spec for timer in timers] == list(REPORT_SCHEDULES)
        assert all(timer.alive for timer in timers)
    finally:
        runtime.stop()
    assert runtime.sweep_timers == []
    assert not any(timer.alive for timer in timers)


# -- dispatch ---------------------------------------------------------------------------------------


def test_function_names_are_read_from_names_and_arns() -> None:
    assert stepfunctions.function_name_of("tasks") == "tasks"
    assert stepfunctions.function_name_of(ARN) == "tasks"
    assert stepfunctions.function_name_of(f"{ARN}:$LATEST") == "tasks"
    assert stepfunctions.function_name_of("123456789012:function:tasks:live") == "tasks"


def local(handler: Any) -> stepfunctions.LocalFunction:
    return stepfunctions.LocalFunction(name="tasks", resolve=lambda: handler, timeout_seconds=900, memory_mb=2048)


def test_an_invocation_answers_like_lambda() -> None:
    seen: list[Any] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append((event, context.function_name, context.memory_limit_in_mb))
        assert context.get_remaining_time_in_millis() > 850_000
        return {"kwh": Decimal("1.50")}

    answer = stepfunctions.invoke_in_process(local(handler), b'{"task": "x"}')
    assert answer == {"StatusCode": 200, "Payload": {"kwh": 1.5}, "ExecutedVersion": "$LATEST"}
    assert seen == [({"task": "x"}, "tasks", 2048)]


def test_a_raising_handler_is_a_function_error_named_after_the_exception() -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise KeyError("tenant")

    answer = stepfunctions.invoke_in_process(local(handler), b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert answer["Payload"]["errorType"] == "KeyError"
    assert answer["Payload"]["errorMessage"] == "'tenant'"

    unserialisable = stepfunctions.invoke_in_process(local(lambda event, context: {"at": datetime.now(UTC)}), b"{}")
    assert unserialisable["Payload"]["errorType"] == "Runtime.MarshalError"


# -- the definitions run (moto's interpreter, in-process) ---------------------------------------------


class FakeTasks:
    """The task function's contract, with chosen tenants failing."""

    def __init__(self, tenants: list[str], failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.tenants, self.failing = tenants, failing
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.events.append(event)
        task = event["task"]
        if task == "list_tenants":
            field = "month" if event["kind"] == "monthly" else "date"
            period = event.get(field, "2026-02" if field == "month" else "2026-03-09")
            return {"tenants": [{"tenant": tenant, field: period} for tenant in self.tenants]}
        if task in ("daily", "monthly"):
            if event["tenant"] in self.failing:
                raise RuntimeError(f"no lake for {event['tenant']}")
            return {"tenant": event["tenant"], "report_id": f"{task}-x", "status": "completed", "headline": {}}
        failed = sorted(r["tenant"] for r in event["results"] if r["status"] != "completed")
        return {"completed": len(event["results"]) - len(failed), "failed": failed}

    def of(self, task: str) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.events if event["task"] == task]


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # moto intercepts boto3 itself here: no endpoint left over from other tests may redirect it
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        stepfunctions.executing_state_machines(),
    ):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def task_function(tasks: FakeTasks) -> stepfunctions.LocalFunction:
    return stepfunctions.LocalFunction(
        name=stepfunctions.local_function_name(REPORT_TASKS.name),
        resolve=lambda: tasks,
        timeout_seconds=REPORT_TASKS.timeout_seconds,
        memory_mb=REPORT_TASKS.memory_mb,
    )


def run(sfn: Any, kind: str, tasks: FakeTasks, payload: dict[str, Any]) -> dict[str, Any]:
    (spec,) = [machine for machine in STATE_MACHINES if machine.kind == kind]
    arn = create_state_machine(sfn, spec, retry_interval_seconds=1)
    with stepfunctions.dispatching([task_function(tasks)]):
        return stepfunctions.run(sfn, arn, payload, timeout=60, name_prefix=kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_sweep_with_nobody_due_succeeds_without_the_map_or_the_summary(sfn: Any, kind: str) -> None:
    (spec,) = [machine for machine in STATE_MACHINES if machine.kind == kind]
    tasks = FakeTasks([])
    arn = create_state_machine(sfn, spec, retry_interval_seconds=1)
    with stepfunctions.dispatching([task_function(tasks)]):
        execution = stepfunctions.start(sfn, arn, {"due_at": "2026-03-10T12:00:00Z"}, f"{kind}-sweep")
        assert stepfunctions.wait_for(sfn, execution, timeout=60) == {"tenants": []}
    assert tasks.of("list_tenants") == [{"task": "list_tenants", "kind": kind, "due_at": "2026-03-10T12:00:00Z"}]
    assert tasks.of(kind) == tasks.of("summarize") == []
    events = sfn.get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered == ["Request", "ListTenants", "AnyTenantDue", "NothingDue"]  # ~4 transitions, no Map


def test_a_sweep_with_tenants_due_reports_them(sfn: Any) -> None:
    tasks = FakeTasks(["a"])
    assert run(sfn, "daily", tasks, {"due_at": "2026-03-10T06:00:00Z"}) == {"completed": 1, "failed": []}
    assert tasks.of("daily") == [{"task": "daily", "tenant": "a", "date": "2026-03-09"}]


def test_a_daily_run_reports_every_listed_tenant_with_the_contracts_payloads(sfn: Any) -> None:
    tasks = FakeTasks(["a", "b"])
    output = run(sfn, "daily", tasks, {"date": "2026-03-09", "timezone": "America/Sao_Paulo"})
    assert output == {"completed": 2, "failed": []}
    assert tasks.of("list_tenants") == [
        {"task": "list_tenants", "kind": "daily", "date": "2026-03-09", "timezone": "America/Sao_Paulo"}
    ]
    assert sorted(map(json.dumps, tasks.of("daily"))) == [
        json.dumps({"task": "daily", "tenant": "a", "date": "2026-03-09"}),
        json.dumps({"task": "daily", "tenant": "b", "date": "2026-03-09"}),
    ]
    (summary,) = tasks.of("summarize")
    assert sorted(summary["results"], key=lambda r: r["tenant"]) == [
        {"tenant": "a", "report_id": "daily-x", "status": "completed"},
        {"tenant": "b", "report_id": "daily-x", "status": "completed"},
    ]


def test_a_monthly_run_without_a_period_lets_the_task_choose_it(sfn: Any) -> None:
    tasks = FakeTasks(["a"])
    assert run(sfn, "monthly", tasks, {}) == {"completed": 1, "failed": []}
    assert tasks.of("list_tenants") == [{"task": "list_tenants", "kind": "monthly"}]
    assert tasks.of("monthly") == [{"task": "monthly", "tenant": "a", "month": "2026-02"}]


def test_a_failing_tenant_is_retried_then_fails_the_run_but_not_the_others(sfn: Any) -> None:
    tasks = FakeTasks(["a", "b", "c"], failing={"b"})
    with pytest.raises(stepfunctions.ExecutionFailed) as failed:
        run(sfn, "daily", tasks, {"date": "2026-03-09"})
    assert failed.value.status == "FAILED"
    assert failed.value.error == TENANTS_FAILED_ERROR
    assert '["b"]' in failed.value.cause
    attempts = [event["tenant"] for event in tasks.of("daily")]
    assert attempts.count("b") == 4  # the first attempt and 3 retries
    assert attempts.count("a") == attempts.count("c") == 1
    (summary,) = tasks.of("summarize")
    (b,) = [result for result in summary["results"] if result["tenant"] == "b"]
    assert b["status"] == "failed"
    assert b["error"] == "RuntimeError"
    assert "no lake for b" in b["cause"]
