"""The report state machines in Amazon States Language, built once as Python dicts.

CDK deploys them (with the task function's ARN substituted) and the local runtime provisions
the very same dicts in moto, whose ASL interpreter runs them. Every task is one Lambda
(`reports_tasks`), invoked through the `lambda:invoke` integration; `Parameters` build the
exact task payload and `ResultSelector` keeps only the contract's fields of its answer:

    Request (Pass: task=list_tenants, kind) -> ListTenants -> AnyTenantDue? (Choice)
        -- none --> NothingDue (Succeed, output {"tenants": []})
        -- some --> Tenants (Map, 10 at a time):
                        Report (daily|monthly, retried with backoff) --error--> TenantFailed (Pass)
                    -> Summarize -> AnyTenantFailed? (Choice) -> ReportsFailed (Fail) | Done (Succeed)

The schedules sweep every 15 minutes (input `{"due_at": instant}`) and most sweeps find no
tenant whose report time has just come: such an execution ends after 4 state transitions
(Request, ListTenants, AnyTenantDue, NothingDue). A tenant's failure is caught inside the Map,
so the other tenants still run; the summary then fails the execution, which is what the
ExecutionsFailed alarm watches.
"""

from __future__ import annotations

from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
# Per tenant: 3 retries after the first attempt, 10 s, 20 s, 40 s apart (full jitter).
RETRY_INTERVAL_SECONDS = 10
RETRY_MAX_ATTEMPTS = 3
RETRY_BACKOFF_RATE = 2.0
# Lambda's transient faults, and any error the task raised (the work is idempotent).
RETRIED_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.TaskFailed",
)
MAP_MAX_CONCURRENCY = 10
KINDS = ("daily", "monthly")
# The field naming a run's period in the input, the task payload and the tenant list.
PERIOD_FIELD = {"daily": "date", "monthly": "month"}
# Error name of a failed execution (some tenant's report failed after its retries).
TENANTS_FAILED_ERROR = "ReportsFailed"


def _invoke(
    function_arn: str, payload: dict[str, Any] | None = None, payload_path: str | None = None
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"FunctionName": function_arn}
    if payload_path is not None:
        parameters["Payload.$"] = payload_path
    else:
        parameters["Payload"] = payload
    return {"Type": "Task", "Resource": LAMBDA_INVOKE, "Parameters": parameters}


def definition(
    kind: str, task_function_arn: str, *, retry_interval_seconds: int = RETRY_INTERVAL_SECONDS
) -> dict[str, Any]:
    """The state machine of one report kind. Input: `{"due_at": instant}` from the schedules (the
    tenants whose report time falls in the sweep ending then), or `{"date"|"month"?,
    "timezone"?, "tenant"?}` on demand (the period defaults to the last complete one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; known: {KINDS}")
    period = PERIOD_FIELD[kind]
    report = {
        **_invoke(task_function_arn, {"task": kind, "tenant.$": "$.tenant", f"{period}.$": f"$.{period}"}),
        "ResultSelector": {
            "tenant.$": "$.Payload.tenant",
            "report_id.$": "$.Payload.report_id",
            "status.$": "$.Payload.status",
        },
        "Retry": [
            {
                "ErrorEquals": list(RETRIED_ERRORS),
                "IntervalSeconds": retry_interval_seconds,
                "MaxAttempts": RETRY_MAX_ATTEMPTS,
                "BackoffRate": RETRY_BACKOFF_RATE,
                "JitterStrategy": "FULL",
            }
        ],
        # The error goes next to the item ($.tenant stays readable) instead of replacing it.
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TenantFailed"}],
        "End": True,
    }
    tenant_failed = {
        "Type": "Pass",
        "Parameters": {
            "tenant.$": "$.tenant",
            "status": "failed",
            "error.$": "$.error.Error",
            "cause.$": "$.error.Cause",
        },
        "End": True,
    }
    return {
        "Comment": f"ClimaTrak {kind} reports: the tenants due in a sweep, or the tenants asked for",
        "StartAt": "Request",
        "States": {
            # The input's optional fields (due_at, period, timezone, tenant) pass through as they are,
            # with the task and the report kind added (the period's default depends on it).
            "Request": {
                "Type": "Pass",
                "Parameters": {"input.$": "$", "task": {"task": "list_tenants", "kind": kind}},
                "Next": "ListTenants",
            },
            "ListTenants": {
                **_invoke(task_function_arn, payload_path="States.JsonMerge($.input, $.task, false)"),
                "ResultSelector": {"tenants.$": "$.Payload.tenants"},
                "Retry": [
                    {
                        "ErrorEquals": list(RETRIED_ERRORS),
                        "IntervalSeconds": retry_interval_seconds,
                        "MaxAttempts": RETRY_MAX_ATTEMPTS,
                        "BackoffRate": RETRY_BACKOFF_RATE,
                        "JitterStrategy": "FULL",
                    }
                ],
                "Next": "AnyTenantDue",
            },
            # Most sweeps list nobody: end there, without the Map and the summary.
            "AnyTenantDue": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.tenants[0]", "IsPresent": True, "Next": "Tenants"}],
                "Default": "NothingDue",
            },
            "NothingDue": {"Type": "Succeed"},
            "Tenants": {
                "Type": "Map",
                "ItemsPath": "$.tenants",
                "MaxConcurrency": MAP_MAX_CONCURRENCY,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Report",
                    "States": {"Report": report, "TenantFailed": tenant_failed},
                },
                "Next": "Summarize",
            },
            "Summarize": {
                **_invoke(task_function_arn, {"task": "summarize", "results.$": "$"}),
                "ResultSelector": {"completed.$": "$.Payload.completed", "failed.$": "$.Payload.failed"},
                "Next": "AnyTenantFailed",
            },
            "AnyTenantFailed": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.failed[0]", "IsPresent": True, "Next": "ReportsFailed"}],
                "Default": "Done",
            },
            "ReportsFailed": {
                "Type": "Fail",
                "Error": TENANTS_FAILED_ERROR,
                "CausePath": "States.Format('Reports failed for tenants: {}', States.JsonToString($.failed))",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def daily_definition(task_function_arn: str, *, retry_interval_seconds: int = RETRY_INTERVAL_SECONDS) -> dict[str, Any]:
    """D-1 reports: input `{"due_at": instant}` or `{"date"?: "YYYY-MM-DD", "timezone"?, "tenant"?}`."""
    return definition("daily", task_function_arn, retry_interval_seconds=retry_interval_seconds)


def monthly_definition(
    task_function_arn: str, *, retry_interval_seconds: int = RETRY_INTERVAL_SECONDS
) -> dict[str, Any]:
    """Month reports: input `{"due_at": instant}` or `{"month"?: "YYYY-MM", "timezone"?, "tenant"?}`."""
    return definition("monthly", task_function_arn, retry_interval_seconds=retry_interval_seconds)
