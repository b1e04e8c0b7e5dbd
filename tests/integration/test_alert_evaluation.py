"""Rules evaluated in the ingest pipeline on moto: duration, cooldown, flapping, duplicates,
out-of-order readings, several parameters, concurrent batches, automatic resolution."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.client
import pytest

from climatrak.alerts import logic
from climatrak.alerts.evaluator import AlertEngine, AlertStore
from climatrak.alerts.items import NO_DATA_WATCH_INDEX_PK, NoDataWatchItem, RuleItem, no_data_watch_sk
from climatrak.alerts.no_data import NoDataChecker
from climatrak.alerts.records import MANUAL
from climatrak.alerts.repository import AlertRepository
from climatrak.core.config import Settings
from climatrak.core.keys import TenantKeys
from climatrak.core.timeutil import iso_ms
from tests.integration.alert_rules_world import (
    MINUTE,
    START_S,
    add_rule,
    alerts,
    at,
    outbox_names,
    send,
    stats,
    world,
)
from tests.integration.telemetry_world import World, standard, telemetry_items

__all__ = ["world"]  # the fixture


def test_a_breach_shorter_than_the_duration_does_not_fire(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 5})

    send(world, [0, 1, 2, 3, 4], [12, 13, 12, 14, 11])  # held for 4 minutes
    send(world, [5, 6], [9, 12])  # cleared, then a new breach starts

    assert alerts() == []


def test_a_breach_held_for_the_duration_fires_exactly_once_and_clears_itself(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 5, "unit": "°C"})

    first = send(world, [0, 1, 2, 3, 4, 5, 6, 7], [12, 13, 12, 14, 11, 15, 16, 17])
    assert len(first.alerts_raised) == 1
    send(world, [8, 9], [18, 19])  # still breaching: the same episode

    (alert,) = alerts()
    assert alert.triggered_at == iso_ms((START_S + 5 * MINUTE) * 1000)
    assert (alert.parameter_value, alert.threshold, alert.severity) == (15, 10, "High")
    assert alert.message == "temp_supply está maior que 10°C (valor atual: 15°C)"
    assert alert.status == "active" and alert.asset_tag == "CH-1"

    cleared = send(world, [10], [8])
    assert cleared.alerts_resolved == [alert.id]
    (alert,) = alerts()
    assert alert.resolved and alert.resolution == "condition_cleared"
    assert alert.resolved_at == iso_ms((START_S + 10 * MINUTE) * 1000)
    assert outbox_names() == ["alert.raised", "alert.resolved"]
    assert stats() == {"total": 1, "resolved": 1, "high": 1}


def test_the_cooldown_holds_back_a_new_alert(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1, "cooldown": 30})

    send(world, [0, 1], [12, 12])  # fires at minute 1
    send(world, [2], [5])  # clears
    send(world, [10, 11, 12], [12, 12, 12])  # held again, inside the cooldown
    assert len(alerts()) == 1
    send(world, [31], [12])  # past the cooldown and still breaching

    fired = [alert.triggered_at for alert in alerts()]
    assert fired == [iso_ms((START_S + m * MINUTE) * 1000) for m in (1, 31)]


def test_flapping_around_the_threshold_never_holds_long_enough(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 3})
    minutes = list(range(30))
    values = [11.0 if minute % 2 == 0 else 9.5 for minute in minutes]  # over, under, over...

    send(world, minutes[:15], values[:15])
    send(world, minutes[15:], values[15:])

    assert alerts() == []


def test_a_redelivered_batch_and_late_readings_raise_nothing_new(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 2})
    batch = [world.record("dev-1", standard(START_S + m * MINUTE, temp_supply=12)) for m in (0, 1, 2)]

    world.ingest(batch)
    world.ingest(batch)  # the queue delivers the same messages again
    world.service = None
    world.ingest(batch)  # ... to another container
    assert len(alerts()) == 1

    send(world, [3], [5])  # cleared at minute 3
    send(world, [1, 2], [30, 30])  # late readings from before the clearing: not evaluated again

    (alert,) = alerts()
    assert alert.resolved
    assert outbox_names() == ["alert.raised", "alert.resolved"]


def test_readings_of_one_batch_are_evaluated_in_time_order(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 2})

    send(world, [4, 0, 2, 1, 3], [12, 12, 12, 5, 12])  # arrival order differs from time order

    (alert,) = alerts()  # 1 is under: the breach runs from 2, so it fires at 4
    assert alert.triggered_at == iso_ms((START_S + 4 * MINUTE) * 1000)


def test_two_parameters_fire_after_their_own_durations(world: World) -> None:
    add_rule(
        world,
        {"parameter_key": "temp_supply", "threshold": 10, "duration": 2, "severity": "Medium"},
        {"parameter_key": "temp_supply", "threshold": 20, "duration": 4, "severity": "Critical", "operator": ">="},
    )
    send(world, [0, 1, 2, 3, 4, 5], [25, 25, 25, 25, 25, 25])

    fired = [(alert.severity, alert.triggered_at) for alert in alerts()]
    assert fired == [
        ("Medium", iso_ms((START_S + 2 * MINUTE) * 1000)),
        ("Critical", iso_ms((START_S + 4 * MINUTE) * 1000)),
    ]
    assert stats() == {"total": 2, "active": 2, "critical": 1, "medium": 1}


def test_a_breach_and_its_clearing_in_one_batch_leave_a_resolved_alert(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1})

    send(world, [0, 1, 2], [12, 12, 8])

    (alert,) = alerts()
    assert alert.resolved and alert.triggered_at == iso_ms((START_S + MINUTE) * 1000)
    assert outbox_names() == ["alert.raised", "alert.resolved"]
    assert stats() == {"total": 1, "resolved": 1, "high": 1}


def test_a_disabled_rule_and_other_sensors_raise_nothing(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1}, enabled=False)
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1}, rule_id=2)

    send(world, [0, 1, 2], [30, 30, 30], sensor="temp_return")
    assert alerts() == []
    send(world, [0, 1, 2], [30, 30, 30])

    assert [alert.rule_id for alert in alerts()] == [2]


def test_another_tenants_readings_never_touch_this_tenants_rules(world: World, settings: Settings) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1})
    beta = World.build(settings, "beta")  # same site, asset and device ids in its own tenant
    beta.add_device("dev-1")
    assert (beta.asset_id, beta.devices["dev-1"].id) == (world.asset_id, world.devices["dev-1"].id)

    result = beta.ingest([beta.record("dev-1", standard(START_S + m * MINUTE, temp_supply=40)) for m in (0, 1, 2)])

    assert result.readings == 3 and result.alerts_raised == []
    assert alerts("acme") == [] and alerts("beta") == []


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's in-process DynamoDB is not thread-safe: one AWS call at a time; the batches still
    interleave between calls (read state, evaluate, write), which is where the race lives."""
    lock = threading.RLock()
    original = botocore.client.BaseClient._make_api_call

    def locked(self: Any, operation: str, params: dict[str, Any]) -> Any:
        with lock:
            return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", locked)


def test_concurrent_batches_raise_the_alert_once(world: World, serialised_moto: None) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 2})
    send(world, [0], [12])  # the breach has started
    batches = [[world.record("dev-1", standard(START_S + m * MINUTE, temp_supply=12))] for m in (2, 3, 4, 5)]
    pipelines = []
    for _ in batches:  # one container each
        world.service = None
        pipelines.append(world.pipeline())
    barrier = threading.Barrier(len(batches))

    def run(index: int) -> list[int]:
        barrier.wait()
        return pipelines[index].process(batches[index]).alerts_raised

    with ThreadPoolExecutor(len(batches)) as pool:
        raised = [alert for result in pool.map(run, range(len(batches))) for alert in result]

    assert len(raised) == 1
    assert [alert.id for alert in alerts()] == raised
    assert stats() == {"total": 1, "active": 1, "high": 1}


# ---- no data -------------------------------------------------------------------------------


def no_data_checker(settings: Settings, at_ms: int) -> NoDataChecker:
    dynamodb = boto3.client("dynamodb")
    engine = AlertEngine(AlertStore(dynamodb, settings.main_table), clock=lambda: at_ms)
    return NoDataChecker(dynamodb, settings.main_table, settings.telemetry_table, engine, clock=lambda: at_ms)


def watch(world: World, rule: RuleItem) -> None:
    """The watch entry the API writes with an enabled no-data rule."""
    NoDataWatchItem(
        TenantKeys(world.tenant).pk,
        no_data_watch_sk(int(rule.id)),
        tenant=world.tenant,
        rule_id=int(rule.id),
        asset_id=world.asset_id,
        gsi1pk=NO_DATA_WATCH_INDEX_PK,
        gsi1sk=f"{world.tenant}#{int(rule.id):08d}",
    ).save()


def test_a_silent_sensor_raises_a_no_data_alert_once_and_data_coming_back_clears_it(
    world: World, settings: Settings
) -> None:
    rule = add_rule(world, {"parameter_key": "temp_supply", "duration": 15, "severity": "Low"}, rule_kind="no_data")
    watch(world, rule)
    send(world, [0, 1, 2], [7, 7, 7])

    assert no_data_checker(settings, at(10)).run().raised == []  # silent for 8 minutes
    raised = no_data_checker(settings, at(20)).run().raised  # silent for 18 minutes
    assert len(raised) == 1
    assert no_data_checker(settings, at(30)).run().raised == []  # the same silence: no new alert

    (alert,) = alerts()
    assert (alert.rule_kind, alert.severity, alert.parameter_value) == ("no_data", "Low", 18)  # minutes silent
    assert alert.message == "temp_supply sem dados há 15 min (Chiller)"
    assert alert.triggered_at == iso_ms(at(20))

    send(world, [31], [7])  # the sensor reports again
    (alert,) = alerts()
    assert alert.resolved and alert.resolution == "condition_cleared"


def test_the_no_data_check_skips_disabled_rules_and_reads_the_rules_own_sensor(
    world: World, settings: Settings
) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "duration": 5}, rule_kind="no_data", enabled=False)
    watched = add_rule(world, {"parameter_key": "temp_return", "duration": 5}, rule_id=2, rule_kind="no_data")
    watch(world, watched)
    send(world, [0], [7], sensor="temp_return")
    send(world, [9], [7], sensor="temp_return")

    assert no_data_checker(settings, at(12)).run().raised == []  # temp_return read at minute 9
    assert [alert.rule_id for alert in alerts()] == []


# ---- found in review: late clears, backlogs, stale caches, manual resolution -----------------


def test_a_late_reading_under_the_threshold_restarts_the_running_breach(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 5})
    send(world, [0, 1, 2], [12, 12, 12])  # breach since minute 0
    send(world, [4], [12])
    send(world, [3], [8])  # arrives late: the breach did not hold from minute 0
    send(world, [5, 6], [12, 12])  # 5 minutes after 0, but not after the dip
    assert alerts() == []

    send(world, [9], [12])  # 5 minutes after minute 4, the newest reading when the dip arrived

    (alert,) = alerts()
    assert alert.triggered_at == iso_ms(at(9))


def test_a_backlog_with_many_episodes_is_committed_in_several_transactions(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1, "cooldown": 0})
    minutes = list(range(117))  # 39 times: over, over (raised), under (resolved)
    values = [12.0 if minute % 3 < 2 else 5.0 for minute in minutes]

    result = send(world, minutes, values)

    assert len(result.alerts_raised) == 39 and len(result.alerts_resolved) == 0  # resolved as raised
    assert all(alert.resolved for alert in alerts()) and len(alerts()) == 39
    assert stats() == {"total": 39, "resolved": 39, "high": 39}


def test_a_container_with_older_cached_rules_keeps_the_newer_rules_state(world: World) -> None:
    add_rule(world, {"parameter_key": "temp_return", "threshold": 50, "duration": 1})
    older = world.pipeline()
    older.process([world.record("dev-1", standard(START_S, temp_return=20))])  # caches rule 1 only
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1}, rule_id=2)
    newer = world.pipeline()

    assert newer.process([world.record("dev-1", standard(START_S + m * MINUTE, temp_supply=12)) for m in (1, 2)])
    older.process([world.record("dev-1", standard(START_S + 3 * MINUTE, temp_return=21))])
    newer.process([world.record("dev-1", standard(START_S + 4 * MINUTE, temp_supply=12))])

    assert [(alert.rule_id, alert.status) for alert in alerts()] == [(2, "active")]


def test_an_alert_resolved_by_hand_is_not_raised_again_while_the_breach_lasts(world: World, settings: Settings) -> None:
    add_rule(world, {"parameter_key": "temp_supply", "threshold": 10, "duration": 1, "cooldown": 10})
    send(world, [0, 1], [12, 12])
    (alert,) = alerts()
    logic.resolve_alert(AlertRepository("acme", settings), alert.id, 7, "ops@acme.test", "checked", MANUAL)

    send(world, [2, 3, 4], [12, 12, 12])  # the same episode
    assert [a.status for a in alerts()] == ["resolved"]
    send(world, [5], [5])  # it ends; nothing left to resolve
    send(world, [12, 13], [12, 12])  # a new episode, past the cooldown

    assert [(a.status, a.resolution) for a in alerts()] == [("resolved", "manual"), ("active", None)]
    assert stats() == {"total": 2, "active": 1, "resolved": 1, "high": 2}


def test_the_no_data_check_trusts_the_readings_ingest_evaluated(world: World, settings: Settings) -> None:
    rule = add_rule(world, {"parameter_key": "temp_supply", "duration": 15}, rule_kind="no_data")
    watch(world, rule)
    send(world, [10], [7])
    for item in telemetry_items("acme", "dev-1"):  # as if its Telemetry write had failed
        boto3.client("dynamodb").delete_item(TableName="climatrak-telemetry", Key={"pk": item["pk"], "sk": item["sk"]})

    assert no_data_checker(settings, at(20)).run().raised == []
    assert len(no_data_checker(settings, at(26)).run().raised) == 1  # 16 minutes after minute 10
