"""How events reach consumers: one EventBridge rule per consumer, built from its ConsumerSpec.

CDK (infra_cdk/stacks/events.py) and the local runtime (climatrak_local.provision) both build
the rules from these functions, so a consumer receives the same events in both.
"""

from __future__ import annotations

from typing import Any

from climatrak.core.events import source_of
from climatrak.core.resources import ConsumerSpec


def consumer_event_pattern(spec: ConsumerSpec) -> dict[str, Any]:
    """Events named in the spec, from the modules that own them (`climatrak.*` sources only)."""
    return {
        "source": sorted({source_of(name) for name in spec.event_names}),
        "detail-type": list(spec.event_names),
    }


def local_rule_name(bus_name: str, spec: ConsumerSpec) -> str:
    return f"{bus_name}-{spec.name.replace('_', '-')}"
