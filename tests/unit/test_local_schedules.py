"""The local runtime's EventBridge schedules: timer threads and `run_schedule`, with fake handlers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from climatrak.core.resources import NO_DATA_CHECK, SCHEDULES, ScheduleSpec
from climatrak_local.lambda_invoke import LambdaContext
from climatrak_local.runtime import (
    DEFAULT_HANDLERS,
    LocalRuntime,
    ScheduleTimer,
    schedule_period,
    scheduled_event,
)

FAKE = ScheduleSpec(name="fake_check", handler="fake_check.handler.handler", rate_minutes=5, timeout_seconds=42)


class Recorder:
    """A fake handler that records its calls (and can fail the first few)."""

    def __init__(self, failures: int = 0, result: Any = None) -> None:
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self._failures = failures
        self._result = result
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self.calls.append((event, context))
            if len(self.calls) <= self._failures:
                raise RuntimeError(f"boom {len(self.calls)}")
        return self._result

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.calls)


def wait_for(condition: Callable[[], bool], deadline: float = 10.0) -> None:
    """Polls until the condition holds; fails the test if it never does."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() >= end:
            pytest.fail("condition not reached before the deadline")
        time.sleep(0.005)


def test_the_no_data_check_is_scheduled_every_minute_with_its_handler() -> None:
    assert NO_DATA_CHECK in SCHEDULES
    assert NO_DATA_CHECK.rate_minutes == 1
    assert DEFAULT_HANDLERS[NO_DATA_CHECK.name] == "functions.alerts_no_data.handler.handler"


def test_scheduled_event_has_eventbridges_shape() -> None:
    event = scheduled_event(FAKE, datetime(2026, 11, 3, 14, 5, 7, 123456, tzinfo=UTC))

    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-11-03T14:05:07Z"
    assert event["detail"] == {}
    assert event["version"] == "0"
    assert event["region"] == "us-east-1"
    assert event["account"] == "123456789012"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/climatrak-local-fake-check"]
    assert event["id"] != scheduled_event(FAKE)["id"]


def test_period_is_the_specs_rate_unless_overridden() -> None:
    assert schedule_period(FAKE, None) == 300.0
    assert schedule_period(NO_DATA_CHECK, None) == 60.0
    assert schedule_period(FAKE, 0.25) == 0.25
    assert schedule_period(FAKE, 0) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        schedule_period(FAKE, -1)


def test_run_schedule_invokes_the_handler_now_with_a_scheduled_event_and_a_context() -> None:
    handler = Recorder(result={"checked": 3})
    runtime = LocalRuntime(schedules=[FAKE], handlers={FAKE.name: handler})

    result = runtime.run_schedule(FAKE.name, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    assert result == {"checked": 3}
    ((event, context),) = handler.calls
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-01-02T03:04:05Z"
    assert isinstance(context, LambdaContext)
    assert context.function_name == "climatrak-local-fake_check"
    limit, configured = context.timeout_seconds, FAKE.timeout_seconds
    assert limit == configured == 42


def test_run_schedule_raises_what_the_handler_raises_and_refuses_unknown_names() -> None:
    runtime = LocalRuntime(schedules=[FAKE], handlers={FAKE.name: Recorder(failures=1)})

    with pytest.raises(RuntimeError, match="boom 1"):
        runtime.run_schedule(FAKE.name)
    with pytest.raises(KeyError, match="unknown schedule"):
        runtime.run_schedule("nope")


def test_schedule_handlers_are_resolved_under_functions() -> None:
    runtime = LocalRuntime(schedules=[FAKE])

    with pytest.raises(ModuleNotFoundError, match=r"functions\.fake_check"):
        runtime.run_schedule(FAKE.name)


def test_use_handlers_swaps_a_schedules_handler() -> None:
    runtime = LocalRuntime()
    fake = Recorder(result="faked")

    with runtime.use_handlers(**{NO_DATA_CHECK.name: fake}):
        assert runtime.run_schedule(NO_DATA_CHECK.name) == "faked"

    assert fake.count == 1


def test_timer_runs_every_period_until_stopped() -> None:
    handler = Recorder()
    timer = ScheduleTimer(FAKE, period_seconds=0.01, run=lambda spec: handler(scheduled_event(spec), None))
    timer.start()
    wait_for(lambda: handler.count >= 3)

    timer.stop()

    assert not timer.alive
    assert all(event["detail-type"] == "Scheduled Event" for event, _ in handler.calls)


def test_a_failing_run_is_logged_and_the_timer_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    handler = Recorder(failures=2)
    timer = ScheduleTimer(FAKE, period_seconds=0.01, run=lambda spec: handler(scheduled_event(spec), None))
    with caplog.at_level(logging.ERROR, logger="climatrak_local.runtime"):
        timer.start()
        wait_for(lambda: handler.count >= 4)
        timer.stop()

    failures = [r for r in caplog.records if "scheduled fake_check failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)


def test_a_timer_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="period"):
        ScheduleTimer(FAKE, period_seconds=0, run=lambda spec: None)


def test_the_runtime_runs_its_schedules_on_the_overridden_period_and_stops_them() -> None:
    handler = Recorder()
    runtime = LocalRuntime(schedules=[FAKE], handlers={FAKE.name: handler}, schedule_period_seconds=0.01)
    runtime._start_schedules()  # the scheduling part of start(), without moto and the servers
    try:
        (timer,) = runtime.schedule_timers
        wait_for(lambda: handler.count >= 2)
    finally:
        runtime.stop()

    assert not timer.alive
    assert runtime.schedule_timers == []


def test_period_zero_starts_no_timer_but_run_schedule_still_works() -> None:
    handler = Recorder(result="ran")
    runtime = LocalRuntime(schedules=[FAKE], handlers={FAKE.name: handler}, schedule_period_seconds=0)
    runtime._start_schedules()
    try:
        assert runtime.schedule_timers == []
        assert runtime.run_schedule(FAKE.name) == "ran"
    finally:
        runtime.stop()

    assert handler.count == 1
