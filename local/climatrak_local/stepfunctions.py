"""Step Functions, locally: moto's ASL interpreter runs the real definitions, and its Lambda
invocations of the runtime's functions are dispatched to the in-process handlers.

moto's interpreter invokes Lambda through boto3 (a moto Lambda would need Docker), in
`lambda_eval_utils._invoke_lambda_function`; `install_lambda_dispatch` wraps that function
once per process. A runtime registers its function names while it runs; any other name still
goes to moto's Lambda, as before.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from climatrak_local.lambda_invoke import ACCOUNT_ID, REGION, Handler, LambdaContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalFunction:
    """A function the local state machines invoke, served by an in-process handler."""

    name: str  # the FunctionName the definitions carry (see local_function_name)
    resolve: Callable[[], Handler]  # looked up per invocation (tests swap handlers meanwhile)
    timeout_seconds: int
    memory_mb: int
    # Entered around each invocation (the runtime counts it as activity).
    around: Callable[[], AbstractContextManager[Any]] = nullcontext


_functions: dict[str, LocalFunction] = {}
_registry_lock = threading.Lock()
_MARK = "_climatrak_local_dispatch"


def local_function_name(name: str) -> str:
    """The function name the local state machines invoke (e.g. `climatrak-local-reports_tasks`)."""
    return f"climatrak-local-{name}"


def local_function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{local_function_name(name)}"


def local_state_machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"


def function_name_of(function: str) -> str:
    """`FunctionName` as Lambda accepts it (name, ARN, partial ARN, with a qualifier) → the name."""
    if ":function:" in function:
        function = function.split(":function:", 1)[1]
    return function.split(":", 1)[0]


def invoke_in_process(function: LocalFunction, payload: bytes | str | None) -> dict[str, Any]:
    """What Lambda's Invoke returns, from the handler run here: an error is a FunctionError
    response with Lambda's error payload, which the interpreter maps to the error's type name."""
    event = json.loads(payload or b"{}")
    context = LambdaContext(
        function_name=function.name, timeout_seconds=function.timeout_seconds, memory_limit_in_mb=function.memory_mb
    )
    try:
        result = function.resolve()(event, context)
    except Exception as error:
        logger.warning("%s failed: %s: %s", function.name, type(error).__name__, error)
        body = {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
        return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body, "ExecutedVersion": "$LATEST"}
    try:
        body = json.loads(json.dumps(result, default=_lambda_json_default))
    except TypeError as error:
        body = {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {error}"}
        return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body, "ExecutedVersion": "$LATEST"}
    return {"StatusCode": 200, "Payload": body, "ExecutedVersion": "$LATEST"}


def _lambda_json_default(value: Any) -> Any:
    """The Python runtime's serialiser: Decimal becomes a number; anything else unknown fails."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def install_lambda_dispatch() -> None:
    """Wrap moto's Lambda invocation (once per process); unregistered names go through unchanged."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    with _registry_lock:
        if getattr(lambda_eval_utils._invoke_lambda_function, _MARK, False):
            return
        original = lambda_eval_utils._invoke_lambda_function

        def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
            with _registry_lock:
                function = _functions.get(function_name_of(str(parameters.get("FunctionName", ""))))
            if function is None:
                return original(parameters=parameters, region=region, state_credentials=state_credentials)
            with function.around():
                return invoke_in_process(function, parameters.get("Payload"))

        setattr(invoke, _MARK, True)
        lambda_eval_utils._invoke_lambda_function = invoke


@contextmanager
def dispatching(functions: Sequence[LocalFunction]) -> Iterator[None]:
    """Route these function names to their in-process handlers while the block runs."""
    install_lambda_dispatch()
    with _registry_lock:
        _functions.update({function.name: function for function in functions})
    try:
        yield
    finally:
        with _registry_lock:
            for function in functions:
                _functions.pop(function.name, None)


@contextmanager
def executing_state_machines() -> Iterator[None]:
    """moto's Step Functions run definitions (its ASL interpreter) instead of only storing them.

    moto reads this process-wide switch on every request, in-process server included."""
    from moto.core.config import default_user_config

    config = default_user_config.setdefault("stepfunctions", {})
    previous = config.get("execute_state_machine", False)
    config["execute_state_machine"] = True
    try:
        yield
    finally:
        config["execute_state_machine"] = previous


# -- running an execution to its end (the runtime and the CLI, locally or on AWS) ---------------


class ExecutionFailed(Exception):
    """An execution ended in FAILED, TIMED_OUT or ABORTED."""

    def __init__(self, execution_arn: str, status: str, error: str, cause: str) -> None:
        super().__init__(f"execution {status.lower()}: {error}: {cause}" if error else f"execution {status.lower()}")
        self.execution_arn, self.status, self.error, self.cause = execution_arn, status, error, cause


def execution_name(prefix: str) -> str:
    """Unique per run (Step Functions refuses a name reused within 90 days)."""
    return f"{prefix}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def start(sfn: Any, state_machine_arn: str, payload: dict[str, Any], name: str) -> str:
    arn: str = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    return arn


def wait_for(sfn: Any, execution_arn: str, timeout: float, poll_seconds: float = 0.2) -> dict[str, Any]:
    """Poll an execution to its end: its output on success, ExecutionFailed otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        status = described["status"]
        if status == "SUCCEEDED":
            output: dict[str, Any] = json.loads(described.get("output") or "null")
            return output
        if status != "RUNNING":
            raise ExecutionFailed(execution_arn, status, described.get("error", ""), described.get("cause", ""))
        if time.monotonic() >= deadline:
            raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")
        time.sleep(poll_seconds)


def run(
    sfn: Any, state_machine_arn: str, payload: dict[str, Any], *, timeout: float, name_prefix: str
) -> dict[str, Any]:
    """Start an execution and wait for its end."""
    return wait_for(sfn, start(sfn, state_machine_arn, payload, execution_name(name_prefix)), timeout)
