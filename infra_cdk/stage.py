"""Per-deployment settings read once from CDK context."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, RemovalPolicy
from constructs import Node

from climatrak.core.resources import ALERTS_TOPIC_PREFIX, StateMachineSpec
from infra_cdk.layer import LayerDirs

PROD_STAGES = frozenset({"prod", "production"})
DEFAULT_CORS_ORIGINS = "http://localhost:5173"
GIB = 1024**3


@dataclass(frozen=True)
class StageConfig:
    name: str
    layer_dirs: LayerDirs
    log_level: str = "INFO"
    cors_origins: str = DEFAULT_CORS_ORIGINS
    # The daily compaction rewrites a day's raw objects into telemetry/daily/ (kept) the night
    # after; the raw ones stay a few days more for reruns of a failed day.
    lake_raw_retention_days: int = 7
    quarantine_retention_days: int = 90
    # Athena cancels a query of this workgroup that would scan more (the cost guard rail).
    athena_bytes_scanned_cutoff: int = 10 * GIB
    athena_results_retention_days: int = 30

    @property
    def is_prod(self) -> bool:
        return self.name in PROD_STAGES

    @property
    def removal_policy(self) -> RemovalPolicy:
        # Production data survives a stack deletion; dev stacks clean up after themselves.
        return RemovalPolicy.RETAIN if self.is_prod else RemovalPolicy.DESTROY

    def resource_prefix(self) -> str:
        return f"climatrak-{self.name}"

    def alerts_topic_prefix(self) -> str:
        # Topics are created at run time by name, so two stages in one account would share a
        # tenant's topic (and its subscribers) without the stage in the name.
        return f"{ALERTS_TOPIC_PREFIX}-{self.name}"

    def glue_database_name(self) -> str:
        # Glue names: lower case, digits and underscores.
        return f"climatrak_{self.name.lower().replace('-', '_')}_lake"

    def athena_workgroup_name(self) -> str:
        return f"{self.resource_prefix()}-lake"

    def state_machine_name(self, spec: StateMachineSpec) -> str:
        return f"{self.resource_prefix()}-{spec.kind}-report"

    def state_machine_arn(self, spec: StateMachineSpec) -> str:
        """Known before the state machine exists (a fixed name): stacks name it without an export."""
        return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{self.state_machine_name(spec)}"

    @classmethod
    def from_context(cls, node: Node) -> StageConfig:
        name = str(node.try_get_context("stage") or "dev")
        raw_days = node.try_get_context("lake_raw_retention_days")
        cutoff = node.try_get_context("athena_bytes_scanned_cutoff")
        return cls(
            name=name,
            layer_dirs=LayerDirs.from_context(node.try_get_context("layer_dirs")),
            log_level=str(node.try_get_context("log_level") or "INFO"),
            cors_origins=str(node.try_get_context("cors_origins") or DEFAULT_CORS_ORIGINS),
            lake_raw_retention_days=int(raw_days) if raw_days else cls.lake_raw_retention_days,
            athena_bytes_scanned_cutoff=int(cutoff) if cutoff else cls.athena_bytes_scanned_cutoff,
        )
