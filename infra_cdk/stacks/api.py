"""API stack: Cognito user pool and the REST API (/api behind Cognito, /ingest behind HMAC)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from climatrak.core.http import ALLOWED_HEADERS
from climatrak.core.resources import (
    IDEMPOTENCY_TABLE,
    MAIN_TABLE,
    REPORTS_BUCKET,
    REPORTS_PREFIX,
    STATE_MACHINES,
    TELEMETRY_TABLE,
)
from infra_cdk.function import ClimatrakFunction, ClimatrakLayers, resource_environment
from infra_cdk.grants import grant_object_get, grant_table_read, grant_table_read_write, object_put_finding
from infra_cdk.nag import acknowledge
from infra_cdk.stacks.data import DataStack
from infra_cdk.stacks.ingest import IngestStack
from infra_cdk.stage import StageConfig

THROTTLE_RATE_PER_SECOND = 100
THROTTLE_BURST = 200


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        data: DataStack,
        ingest: IngestStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        self.user_pool, self.user_pool_client = self._user_pool()

        layers = ClimatrakLayers(self, "Layers", stage.layer_dirs)
        environment = resource_environment(data, ingest.queue.queue_url)
        self.api_function = ClimatrakFunction(
            self,
            "ApiFunction",
            name="api",
            stage=stage,
            layers=layers.common(),
            environment={**environment, "CORS_ORIGINS": stage.cors_origins, **self._reports_environment(data)},
            description="Every /api route",
        )
        self.ingest_http_function = ClimatrakFunction(
            self,
            "IngestHttpFunction",
            name="ingest_http",
            stage=stage,
            layers=layers.common(),
            environment=environment,
            memory_size=512,
            description="POST /ingest: verifies the gateway's HMAC and enqueues",
        )
        self._grant(data, ingest)
        self.rest_api = self._rest_api()

    def _user_pool(self) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,  # members are invited by their tenant's admins
            sign_in_aliases=cognito.SignInAliases(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            custom_attributes={
                # The tenant a user belongs to never changes; role and user_id may be reassigned.
                "tenant_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=False),
                "role": cognito.StringAttribute(min_len=1, max_len=32, mutable=True),
                "user_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=True),
            },
            deletion_protection=self.stage.is_prod,
            removal_policy=self.stage.removal_policy,
        )
        for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
            acknowledge(
                pool,
                rule,
                "Threat protection needs the Plus feature plan, billed per MAU; MFA is required and "
                "the API is throttled. Revisit with the first production tenant.",
            )
        client = pool.add_client(
            "WebClient",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,  # a browser SPA cannot keep a secret
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        return pool, client

    def _reports_environment(self, data: DataStack) -> dict[str, str]:
        """The reports bucket (download links) and the report state machines (POST /api/reports/run/).

        The state machines' ARNs come from their fixed names, not from the reports stack: no
        export ties the two stacks together."""
        return {
            REPORTS_BUCKET.env_var: data.reports_bucket.bucket_name,
            **{spec.env_var: self.stage.state_machine_arn(spec) for spec in STATE_MACHINES},
        }

    def _grant(self, data: DataStack, ingest: IngestStack) -> None:
        api_role = self.api_function.role
        grant_table_read_write(api_role, data.main_table, MAIN_TABLE, data.key)
        grant_table_read(api_role, data.tables[TELEMETRY_TABLE.logical_id], TELEMETRY_TABLE, data.key)
        # Presigned download links are signed with the function's own permissions.
        grant_object_get(api_role, data.reports_bucket_arn_export, f"{REPORTS_PREFIX}/", data.key)
        acknowledge(
            api_role,
            object_put_finding(data.reports_bucket_arn_export, f"{REPORTS_PREFIX}/"),
            "Report objects are keyed per tenant, type and period; the links the API signs cover only them.",
        )
        api_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[self.stage.state_machine_arn(spec) for spec in STATE_MACHINES],
            )
        )

        http_role = self.ingest_http_function.role
        grant_table_read(http_role, data.main_table, MAIN_TABLE, data.key)
        # Replay guard: a signature already seen is recorded (with TTL) in the idempotency table.
        idempotency = data.tables[IDEMPOTENCY_TABLE.logical_id]
        grant_table_read_write(http_role, idempotency, IDEMPOTENCY_TABLE, data.key)
        ingest.queue.grant_send_messages(http_role)

    def _rest_api(self) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS if self.stage.is_prod else logs.RetentionDays.TWO_WEEKS,
            removal_policy=self.stage.removal_policy,
        )
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{self.stage.resource_prefix()}-api",
            description="ClimaTrak REST API",
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=self.stage.name,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full request logging would write tokens and payloads
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=THROTTLE_RATE_PER_SECOND,
                throttling_burst_limit=THROTTLE_BURST,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=self.stage.cors_origins.split(","),
                allow_methods=apigw.Cors.ALL_METHODS,
                # the headers the API function itself allows (core/http.py), so preflight and responses agree
                allow_headers=sorted({*apigw.Cors.DEFAULT_HEADERS, *ALLOWED_HEADERS}),
                allow_credentials=True,
            ),
        )
        api.add_request_validator(
            "RequestValidator",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[self.user_pool])
        api_integration = apigw.LambdaIntegration(self.api_function.function)
        api_root = api.root.add_resource("api")
        for resource in (api_root, api_root.add_resource("{proxy+}")):
            resource.add_method(
                "ANY",
                api_integration,
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
            )

        ingest_method = api.root.add_resource("ingest").add_method(
            "POST",
            apigw.LambdaIntegration(self.ingest_http_function.function),
            authorization_type=apigw.AuthorizationType.NONE,
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                ingest_method,
                rule,
                "Gateways are machines without Cognito users: the ingest_http function verifies an "
                "HMAC-SHA256 signature with the device's secret, a timestamp window and a replay guard.",
            )
        self._acknowledge_api_wide(api)
        return api

    def _acknowledge_api_wide(self, api: apigw.RestApi) -> None:
        acknowledge(
            api,
            "AwsSolutions-APIG3",
            "No WAF web ACL yet: Cognito on every /api route, HMAC on /ingest and stage throttling "
            "cover the current exposure; a WAF ACL is planned with the first production tenant.",
        )
        acknowledge(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level API Gateway logging role must use this AWS managed policy.",
        )
        # CORS preflight (OPTIONS) methods are answered by API Gateway itself and carry no data.
        for method in api.methods:
            if method.http_method == "OPTIONS":
                for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                    acknowledge(method, rule, "CORS preflight must be answerable without credentials.")
