"""Where CLI commands act: the running local runtime (default) or a deployed stage on AWS."""

from __future__ import annotations

from typing import Any

from climatrak.core import aws
from climatrak.core.config import Settings
from climatrak.core.resources import BUCKETS, TABLES
from climatrak_local import state


def output_key(env_var: str) -> str:
    """The CloudFormation output of the data stack that holds a resource name (infra_cdk/stacks/data.py)."""
    return env_var.replace("_", "")


def data_stack_name(stage: str) -> str:
    return f"Climatrak-{stage}-Data"


def aws_settings(stage: str, cloudformation: Any) -> Settings:
    """Settings of a deployed stage, read from its data stack's outputs."""
    stacks = cloudformation.describe_stacks(StackName=data_stack_name(stage))["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    names = [table.env_var for table in TABLES] + [bucket.env_var for bucket in BUCKETS]
    missing = [name for name in names if output_key(name) not in outputs]
    if missing:
        raise ValueError(f"stack {data_stack_name(stage)} has no outputs for {', '.join(missing)}; redeploy it")
    return Settings.from_env({name: outputs[output_key(name)] for name in names})


def connect(target: str, stage: str) -> Settings:
    """Point this process at the target and return its settings."""
    if target == "aws":
        return aws_settings(stage, aws.client("cloudformation"))
    state.connect_env()
    return Settings.from_env()
