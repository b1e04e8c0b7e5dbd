"""Validated settings, read from the environment once per cold start.

CDK sets these variables on each function; the local runtime sets the same variables for
its in-process handlers. No module reads os.environ anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

DEFAULT_TIMEZONE = "America/Sao_Paulo"


class Settings(BaseModel):
    main_table: str = "climatrak-main"
    telemetry_table: str = "climatrak-telemetry"
    idempotency_table: str = "climatrak-idempotency"
    lake_bucket: str = "climatrak-lake"
    ingest_queue_url: str = ""
    event_bus_name: str = "climatrak-events"
    # Readings stay in the Telemetry table this long; the lake keeps everything.
    telemetry_ttl_days: int = Field(default=30, ge=1)
    # POST /ingest: accepted clock skew between the gateway's timestamp and ours.
    ingest_max_skew_seconds: int = Field(default=300, ge=1)
    # Readings further than this in the future / past are quarantined.
    reading_max_future_seconds: int = Field(default=600, ge=0)
    reading_max_age_days: int = Field(default=400, ge=1)
    # Local runtime only: the HS256 secret of the local JWT issuer. On AWS, API Gateway's
    # Cognito authorizer verifies tokens before the handler runs and this stays empty.
    local_jwt_secret: str = ""
    # Public base URL for absolute pagination links when the request lacks a Host header.
    public_base_url: str = ""
    # Browser origins allowed to call the API with credentials (comma-separated).
    cors_origins: str = "http://localhost:5173"
    # Per-tenant alert e-mail topics are `{prefix}-{tenant}`; CDK sets a stage-scoped prefix.
    alerts_topic_prefix: str = "climatrak-alerts"
    # Ingest keeps an asset's alert rules this long per container (one query per asset and
    # period): a rule edit reaches the evaluation within it. The local runtime uses 5.
    alert_rules_cache_seconds: float = Field(default=60.0, ge=0)
    # Reports: the human outputs (JSON, CSV, HTML) and Athena's query results.
    reports_bucket: str = "climatrak-reports"
    # The lake's Glue catalog database and the Athena workgroup that queries it.
    glue_database: str = "climatrak_lake"
    athena_workgroup: str = "climatrak"
    # Started by the reports API (POST /api/reports/run/); empty where none is deployed.
    daily_report_state_machine_arn: str = ""
    monthly_report_state_machine_arn: str = ""
    # Energy from power readings: a gap longer than this is not bridged by the integration.
    energy_max_gap_minutes: int = Field(default=15, ge=1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)
