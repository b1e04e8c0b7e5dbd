"""Small readers over synthesized CloudFormation templates."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template
from constructs import IConstruct


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.find_resources(resource_type)
    return found


def only(template: Template, resource_type: str, **where: Any) -> tuple[str, dict[str, Any]]:
    """The single resource of a type whose Properties contain `where` (top-level equality)."""
    matches = [
        (logical_id, resource)
        for logical_id, resource in resources(template, resource_type).items()
        if all(resource.get("Properties", {}).get(key) == value for key, value in where.items())
    ]
    assert len(matches) == 1, f"expected one {resource_type} with {where}, found {len(matches)}"
    return matches[0]


def logical_id(construct: IConstruct) -> str:
    """The logical id CDK gave a construct's CloudFormation resource."""
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(child)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every inline policy attached to a role."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = policy["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in as_list(statement["Action"])}


def statements_with(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [statement for statement in statements if action in as_list(statement["Action"])]


def import_names(value: Any) -> set[str]:
    """The export names a (possibly nested) CloudFormation value imports."""
    if isinstance(value, dict):
        if "Fn::ImportValue" in value:
            return {value["Fn::ImportValue"]}
        return set().union(*(import_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(import_names(v) for v in value)) if value else set()
    return set()


def refers_to(value: Any, target_logical_id: str) -> bool:
    """Whether a CloudFormation value references a resource (Ref/GetAtt, or a cross-stack import).

    CDK's cross-stack export names embed the exporting resource's logical id.
    """
    return target_logical_id in json.dumps(value)
