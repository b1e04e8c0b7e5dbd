"""Per-deployment settings read once from CDK context."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from constructs import Node

from climatrak.core.resources import ALERTS_TOPIC_PREFIX
from infra_cdk.layer import LayerDirs

PROD_STAGES = frozenset({"prod", "production"})
DEFAULT_CORS_ORIGINS = "http://localhost:5173"


@dataclass(frozen=True)
class StageConfig:
    name: str
    layer_dirs: LayerDirs
    log_level: str = "INFO"
    cors_origins: str = DEFAULT_CORS_ORIGINS
    # Raw Parquet is the full telemetry history until the daily compaction (telemetry/daily/)
    # exists; until then it only moves to a cheaper storage class.
    lake_raw_tiering_days: int = 30
    quarantine_retention_days: int = 90

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

    @classmethod
    def from_context(cls, node: Node) -> StageConfig:
        name = str(node.try_get_context("stage") or "dev")
        return cls(
            name=name,
            layer_dirs=LayerDirs.from_context(node.try_get_context("layer_dirs")),
            log_level=str(node.try_get_context("log_level") or "INFO"),
            cors_origins=str(node.try_get_context("cors_origins") or DEFAULT_CORS_ORIGINS),
        )
