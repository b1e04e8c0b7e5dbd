"""The report state machines on the local runtime: their real definitions run by moto, their
Lambda tasks dispatched in-process (here to a fake task function), started by the runtime and
by `climatrak reports run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from climatrak.core.resources import DAILY_REPORT_SCHEDULE, STATE_MACHINES
from climatrak.registry.logic import create_tenant
from climatrak_local import state
from climatrak_local.runtime import LocalRuntime, sweep_input
from climatrak_local.stepfunctions import ExecutionFailed, wait_for

pytestmark = pytest.mark.e2e


class FakeTasks:
    """The task function's contract (reports_tasks); chosen tenants' reports raise."""

    def __init__(self, tenants: list[str], failing: frozenset[str] = frozenset()) -> None:
        self.tenants, self.failing = tenants, failing
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert context.function_name and context.get_remaining_time_in_millis() > 0
        with self._lock:
            self.events.append(event)
        if event["task"] == "list_tenants":
            wanted = [t for t in self.tenants if event.get("tenant") in (None, t)]
            return {"tenants": [{"tenant": tenant, "date": event.get("date", "2026-03-09")} for tenant in wanted]}
        if event["task"] == "daily":
            if event["tenant"] in self.failing:
                raise ConnectionError(f"lake unreachable for {event['tenant']}")
            headline = {"kwh_total": "120.500"}
            return {
                "tenant": event["tenant"],
                "report_id": f"daily-{event['date']}",
                "status": "completed",
                "headline": headline,
            }
        failed = sorted(r["tenant"] for r in event["results"] if r["status"] != "completed")
        return {"completed": len(event["results"]) - len(failed), "failed": failed}

    def of(self, task: str) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.events if event["task"] == task]


def test_the_state_machines_are_provisioned_from_the_shared_definitions(local_runtime: LocalRuntime) -> None:
    sfn = local_runtime.client("stepfunctions")
    for spec in STATE_MACHINES:
        arn = local_runtime.state_machine_arns[spec.env_var]
        assert local_runtime.environment[spec.env_var] == arn
        described = sfn.describe_state_machine(stateMachineArn=arn)
        assert described["name"] == spec.local_name
        assert json.loads(described["definition"])["States"]["Tenants"]["Type"] == "Map"
    assert local_runtime.settings.daily_report_state_machine_arn.endswith(":stateMachine:climatrak-daily-report")


def test_one_failing_tenant_fails_the_run_and_the_other_tenants_still_get_their_report(
    local_runtime: LocalRuntime,
) -> None:
    tasks = FakeTasks(["alpha", "bravo"], failing=frozenset({"bravo"}))
    with local_runtime.use_handlers(reports_tasks=tasks), pytest.raises(ExecutionFailed) as failed:
        local_runtime.run_state_machine("daily", {"date": "2026-03-09"}, timeout=120)

    assert failed.value.status == "FAILED"
    assert failed.value.error == "ReportsFailed"
    assert "bravo" in failed.value.cause and "alpha" not in failed.value.cause
    reports = tasks.of("daily")
    assert {"task": "daily", "tenant": "alpha", "date": "2026-03-09"} in reports
    assert [r["tenant"] for r in reports].count("bravo") == 4  # first attempt + 3 retries
    (summary,) = tasks.of("summarize")
    by_tenant = {result["tenant"]: result for result in summary["results"]}
    assert by_tenant["alpha"] == {"tenant": "alpha", "report_id": "daily-2026-03-09", "status": "completed"}
    assert by_tenant["bravo"]["status"] == "failed"
    assert by_tenant["bravo"]["error"] == "ConnectionError"
    assert "lake unreachable for bravo" in by_tenant["bravo"]["cause"]
    local_runtime.wait_until_idle(timeout=30)


def test_climatrak_reports_run_starts_the_runtimes_state_machine(local_runtime: LocalRuntime, tmp_path: Path) -> None:
    """The CLI (another process) finds the runtime through its state file and starts the
    execution there; this process's runtime runs it (with the fake tasks)."""
    state_home = tmp_path / "home"
    os.environ["CLIMATRAK_HOME"] = str(state_home)
    try:
        state.write_state(
            state.RuntimeState(
                pid=os.getpid(),
                api_url=local_runtime.api_url,
                api_port=local_runtime.api_port,
                mqtt_port=local_runtime.mqtt_port,
                moto_port=local_runtime.moto_port,
                endpoint_url=local_runtime.endpoint_url,
                jwt_secret=local_runtime.jwt_secret,
                environment=local_runtime.environment,
            )
        )
    finally:
        os.environ.pop("CLIMATRAK_HOME")

    def climatrak(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "climatrak_local.cli", *args],
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
            env={**os.environ, "CLIMATRAK_HOME": str(state_home)},
        )

    tasks = FakeTasks(["alpha", "bravo"])
    with local_runtime.use_handlers(reports_tasks=tasks):
        done = climatrak("reports", "run", "daily", "--date", "2026-03-01", "--tenant", "alpha")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "SUCCEEDED"
    assert answer["output"] == {"completed": 1, "failed": []}
    assert tasks.of("list_tenants") == [
        {"task": "list_tenants", "kind": "daily", "date": "2026-03-01", "tenant": "alpha"}
    ]
    assert tasks.of("daily") == [{"task": "daily", "tenant": "alpha", "date": "2026-03-01"}]

    bad = climatrak("reports", "run", "daily", "--date", "2026-3-1")
    assert bad.returncode == 1
    assert "--date must be a YYYY-MM-DD" in bad.stderr


class SweepTasks(FakeTasks):
    """The real task function lists the tenants (the sweep's due selection on the runtime's
    tenant directory); the reports themselves are faked."""

    def __init__(self, real: Any) -> None:
        super().__init__([])
        self.real = real

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event["task"] != "list_tenants":
            return super().__call__(event, context)
        with self._lock:
            self.events.append(event)
        listed: dict[str, Any] = self.real(event, context)
        return listed


def test_a_sweep_reports_the_tenants_whose_three_oclock_has_just_come(local_runtime: LocalRuntime, unique: str) -> None:
    create_tenant(local_runtime.settings, f"kol{unique}", "Kolkata", "Asia/Kolkata")
    create_tenant(local_runtime.settings, f"mao{unique}", "Manaus", "America/Manaus")
    sfn = local_runtime.client("stepfunctions")
    tasks = SweepTasks(local_runtime.handler("reports_tasks"))

    def sweep(due_at: datetime) -> Any:
        execution = local_runtime.start_sweep(DAILY_REPORT_SCHEDULE, sweep_input(DAILY_REPORT_SCHEDULE, due_at))
        return wait_for(sfn, execution, timeout=120)

    with local_runtime.use_handlers(reports_tasks=tasks):
        # 03:00 in Kolkata (+05:30) is 21:30 UTC the day before; in Manaus (-04:00) 07:00 UTC
        kolkata = sweep(datetime(2026, 3, 9, 21, 30, tzinfo=UTC))
        manaus = sweep(datetime(2026, 3, 10, 7, 0, tzinfo=UTC))
        # no zone's 03:00 is at 07:15 UTC: the execution ends after listing nobody
        nobody = sweep(datetime(2026, 3, 10, 7, 15, tzinfo=UTC))

    assert kolkata["failed"] == manaus["failed"] == []
    reported = [(event["tenant"], event["date"]) for event in tasks.of("daily")]
    assert (f"kol{unique}", "2026-03-09") in reported and (f"mao{unique}", "2026-03-09") in reported
    assert [tenant for tenant, _ in reported].count(f"kol{unique}") == 1
    assert [tenant for tenant, _ in reported].count(f"mao{unique}") == 1
    assert nobody == {"tenants": []}
    assert [event["due_at"] for event in tasks.of("list_tenants")] == [
        "2026-03-09T21:30:00Z",
        "2026-03-10T07:00:00Z",
        "2026-03-10T07:15:00Z",
    ]
    assert len(tasks.of("summarize")) == 2  # the empty sweep skipped the Map and the summary
    local_runtime.wait_until_idle(timeout=30)
