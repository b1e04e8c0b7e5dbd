"""The one shape every ClimaTrak Lambda function has, so a stack declares one in a few lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from climatrak.core.resources import IDEMPOTENCY_TABLE, INGEST_QUEUE, LAKE_BUCKET, MAIN_TABLE, TELEMETRY_TABLE
from infra_cdk.layer import REPO_ROOT, LayerDirs
from infra_cdk.nag import acknowledge
from infra_cdk.stacks.data import DataStack
from infra_cdk.stage import StageConfig

FUNCTIONS_DIR = REPO_ROOT / "functions"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
METRICS_NAMESPACE = "ClimaTrak"
# API Gateway gives up on an integration after 29 s; nothing behind it should run longer.
DEFAULT_TIMEOUT = Duration.seconds(29)


class ClimatrakLayers(Construct):
    """The layers, one set per stack.

    Sharing LayerVersions across stacks would export their ARNs, and CloudFormation refuses
    to update an export that another stack imports: every dependency bump would then need a
    two-step deploy. Per-stack layers built from the same directories cost nothing extra
    (identical assets are uploaded once).
    """

    def __init__(self, scope: Construct, construct_id: str, dirs: LayerDirs) -> None:
        super().__init__(scope, construct_id)
        dirs.require_built()
        self.climatrak = self._layer("Climatrak", str(dirs.climatrak), "The shared climatrak package")
        self.deps_core = self._layer("DepsCore", str(dirs.deps_core), "Powertools, pydantic, pynamodb, orjson, pyjwt")
        self.deps_lake = self._layer("DepsLake", str(dirs.deps_lake), "pyarrow, for Parquet writes to the lake")

    def _layer(self, construct_id: str, path: str, description: str) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            construct_id,
            code=lambda_.Code.from_asset(path),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
        )

    def common(self) -> list[lambda_.ILayerVersion]:
        return [self.deps_core, self.climatrak]


def resource_environment(data: DataStack, ingest_queue_url: str) -> dict[str, str]:
    """The Settings variables naming AWS resources (names come from the shared specs)."""
    return {
        MAIN_TABLE.env_var: data.tables[MAIN_TABLE.logical_id].table_name,
        TELEMETRY_TABLE.env_var: data.tables[TELEMETRY_TABLE.logical_id].table_name,
        IDEMPOTENCY_TABLE.env_var: data.tables[IDEMPOTENCY_TABLE.logical_id].table_name,
        LAKE_BUCKET.env_var: data.lake_bucket.bucket_name,
        INGEST_QUEUE.env_var: ingest_queue_url,
    }


class ClimatrakFunction(Construct):
    """A Python 3.12 arm64 function running functions/<name>/handler.py.

    Its role starts empty except for its own log group and X-Ray: stacks add exactly the
    grants the function needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        stage: StageConfig,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_size: int = 1024,
        description: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        handler_dir = FUNCTIONS_DIR / name
        if not handler_dir.is_dir():
            raise FileNotFoundError(f"no handler directory {handler_dir}")

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.THREE_MONTHS if stage.is_prod else logs.RetentionDays.TWO_WEEKS,
            removal_policy=stage.removal_policy,
        )
        # An explicit role instead of the AWSLambdaBasicExecutionRole managed policy, whose
        # logs:* statements cover every log group in the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"ClimaTrak {name} function ({stage.name})",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            # The whole functions/ folder (a few KB), so that a function's modules import each
            # other as a package (`api.registry_routes`), the same way they do locally.
            code=lambda_.Code.from_asset(str(handler_dir.parent), exclude=["**/__pycache__", "**/*.pyc"]),
            handler=f"{handler_dir.name}.handler.handler",
            layers=list(layers),
            role=self.role,
            log_group=self.log_group,
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            description=description or f"ClimaTrak {name}",
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": stage.log_level,
            },
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to Python 3.12: the dependency layers are built from cp312 wheels, so the "
            "runtime moves deliberately together with them.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only X-Ray's PutTraceSegments/PutTelemetryRecords use '*': they have no resource-level permissions.",
        )
