"""Least-privilege grants, written out instead of CDK's grant* helpers.

CDK's table grants cover `index/*` and its KMS grants use `kms:GenerateDataKey*`/`kms:ReEncrypt*`;
these name the exact indexes (from the table spec) and the exact KMS actions, so a role's policy
reads as what the function does and cdk-nag has no wildcard to acknowledge.
"""

from __future__ import annotations

from aws_cdk import Aws, Fn
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from climatrak.core.resources import TableSpec

TABLE_READ_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
TABLE_WRITE_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
KEY_DECRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_ENCRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
# S3 SSE-KMS: PutObject needs a data key; multipart uploads also decrypt it.
OBJECT_PUT_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload")
# Topics created on first use (CreateTopic is idempotent: it returns an existing topic's ARN);
# CreateTopic with Tags also needs TagResource.
TOPIC_ACTIONS = ("sns:CreateTopic", "sns:GetTopicAttributes", "sns:Publish", "sns:TagResource")


def _allow(role: iam.IRole, actions: tuple[str, ...], resources: list[str]) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=resources))


def _table_resources(table: dynamodb.ITable, spec: TableSpec) -> list[str]:
    return [table.table_arn, *(f"{table.table_arn}/index/{index.name}" for index in spec.indexes)]


def grant_table_read(role: iam.IRole, table: dynamodb.ITable, spec: TableSpec, key: kms.IKey) -> None:
    _allow(role, TABLE_READ_ACTIONS, _table_resources(table, spec))
    _allow(role, KEY_DECRYPT_ACTIONS, [key.key_arn])


def grant_table_write(role: iam.IRole, table: dynamodb.ITable, key: kms.IKey) -> None:
    """Item writes only: no reads, no index access (indexes are not writable)."""
    _allow(role, TABLE_WRITE_ACTIONS, [table.table_arn])
    _allow(role, KEY_ENCRYPT_ACTIONS, [key.key_arn])


def grant_item_update(role: iam.IRole, table: dynamodb.ITable, key: kms.IKey) -> None:
    """UpdateItem only (e.g. status changes of existing items)."""
    _allow(role, ("dynamodb:UpdateItem",), [table.table_arn])
    _allow(role, KEY_ENCRYPT_ACTIONS, [key.key_arn])


def grant_stream_read(role: iam.IRole, table: dynamodb.ITable, key: kms.IKey) -> None:
    """What a Lambda event source mapping on the table's stream needs from the function's role.

    ListStreams has no resource-level permissions: it is the one '*' (see STREAM_LIST_FINDING)."""
    assert table.table_stream_arn is not None, "the table has no stream"
    _allow(role, STREAM_READ_ACTIONS, [table.table_stream_arn])
    _allow(role, ("dynamodb:ListStreams",), ["*"])
    _allow(role, KEY_DECRYPT_ACTIONS, [key.key_arn])


def grant_table_read_write(role: iam.IRole, table: dynamodb.ITable, spec: TableSpec, key: kms.IKey) -> None:
    grant_table_read(role, table, spec, key)
    grant_table_write(role, table, key)


def grant_object_put(role: iam.IRole, bucket_arn_export: str, prefix: str, key: kms.IKey) -> None:
    """PutObject under one prefix of a bucket exported by another stack (by its explicit export name)."""
    _allow(role, OBJECT_PUT_ACTIONS, [f"{Fn.import_value(bucket_arn_export)}/{prefix}*"])
    _allow(role, KEY_ENCRYPT_ACTIONS, [key.key_arn])


def grant_object_get(role: iam.IRole, bucket_arn_export: str, prefix: str, key: kms.IKey) -> None:
    """GetObject under one prefix of a bucket exported by another stack (by its explicit export name)."""
    _allow(role, ("s3:GetObject",), [f"{Fn.import_value(bucket_arn_export)}/{prefix}*"])
    _allow(role, KEY_DECRYPT_ACTIONS, [key.key_arn])


def grant_list_prefixes(role: iam.IRole, bucket_arn_export: str, prefixes: list[str]) -> None:
    """ListBucket, only for listings under these prefixes."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[Fn.import_value(bucket_arn_export)],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    )


def object_put_finding(bucket_arn_export: str, prefix: str) -> str:
    """The cdk-nag IAM5 finding id for `grant_object_put`'s (and `grant_object_get`'s) unavoidable
    object-key wildcard."""
    return f"AwsSolutions-IAM5[Resource::{bucket_arn_export}/{prefix}*]"


def topics_arn_pattern(name_prefix: str) -> str:
    """Every SNS topic of this account and region whose name starts with `{name_prefix}-`."""
    return f"arn:{Aws.PARTITION}:sns:{Aws.REGION}:{Aws.ACCOUNT_ID}:{name_prefix}-*"


def grant_topics_by_prefix(role: iam.IRole, name_prefix: str) -> None:
    """Create, inspect and publish to topics named `{name_prefix}-...` only (e.g. one per tenant)."""
    _allow(role, TOPIC_ACTIONS, [topics_arn_pattern(name_prefix)])


def topics_by_prefix_finding(name_prefix: str) -> str:
    """The cdk-nag IAM5 finding id for `grant_topics_by_prefix`'s topic-name wildcard."""
    return f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sns:<AWS::Region>:<AWS::AccountId>:{name_prefix}-*]"
