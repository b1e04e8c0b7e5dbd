"""Creates every table, bucket, queue, the event bus and the consumers' rules, the report state
machines and the lake's Glue catalog from the specs and definitions CDK deploys
(climatrak.core.resources, climatrak.reports.state_machines)."""

from __future__ import annotations

import json
from typing import Any

from climatrak.core.resources import (
    BUCKETS,
    CONSUMERS,
    EVENT_BUS,
    GLUE_DATABASE_LOCAL_NAME,
    LAKE_TABLES,
    QUEUES,
    STATE_MACHINES,
    TABLES,
    BucketSpec,
    ConsumerSpec,
    EventBusSpec,
    QueueSpec,
    StateMachineSpec,
    TableSpec,
)
from climatrak.events.routing import consumer_event_pattern, local_rule_name
from climatrak.reports.state_machines import RETRY_INTERVAL_SECONDS, definition
from climatrak_local.lambda_invoke import ACCOUNT_ID
from climatrak_local.stepfunctions import local_function_arn

# moto checks nothing about the role; on AWS it is the state machine's own role.
LOCAL_STATE_MACHINE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/climatrak-local-state-machines"


def dead_letter_queue_name(spec: QueueSpec) -> str:
    return f"{spec.local_name}-dlq"


def create_table(dynamodb: Any, spec: TableSpec) -> None:
    key_schema = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    attributes = {spec.partition_key}
    if spec.sort_key:
        key_schema.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
        attributes.add(spec.sort_key)
    for index in spec.indexes:
        attributes.update((index.partition_key, index.sort_key))
    request: dict[str, Any] = {
        "TableName": spec.local_name,
        "KeySchema": key_schema,
        # Every key attribute in the product is a string (tenant-prefixed keys, ISO timestamps).
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    dynamodb.create_table(**request)
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=spec.local_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )


def create_bucket(s3: Any, spec: BucketSpec) -> None:
    s3.create_bucket(Bucket=spec.local_name)


def create_queue(sqs: Any, spec: QueueSpec, visibility_timeout_seconds: int) -> str:
    """Creates the queue and its DLQ; returns the queue URL."""
    dlq_url = sqs.create_queue(QueueName=dead_letter_queue_name(spec))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    queue_url: str = sqs.create_queue(
        QueueName=spec.local_name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return queue_url


def create_event_bus(events: Any, spec: EventBusSpec) -> str:
    """Creates the bus (no archive locally: replays republish outbox items); returns its name."""
    events.create_event_bus(Name=spec.local_name)
    return spec.local_name


def queue_arn(sqs: Any, queue_url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def subscribe_consumer(events: Any, sqs: Any, bus_name: str, spec: ConsumerSpec, queue_url: str) -> str:
    """The consumer's rule on the bus, targeting its queue (and the queue policy that lets
    EventBridge send to it, as on AWS). Returns the rule ARN."""
    rule_name = local_rule_name(bus_name, spec)
    rule_arn: str = events.put_rule(
        Name=rule_name,
        EventBusName=bus_name,
        EventPattern=json.dumps(consumer_event_pattern(spec)),
        State="ENABLED",
        Description=f"{', '.join(spec.event_names)} to the {spec.name} queue",
    )["RuleArn"]
    target_arn = queue_arn(sqs, queue_url)
    events.put_targets(Rule=rule_name, EventBusName=bus_name, Targets=[{"Id": spec.name, "Arn": target_arn}])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": target_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return rule_arn


def create_state_machine(sfn: Any, spec: StateMachineSpec, retry_interval_seconds: int = RETRY_INTERVAL_SECONDS) -> str:
    """The state machine from its one definition, its tasks pointing at the local function name
    (dispatched in-process, see climatrak_local.stepfunctions). Returns its ARN."""
    body = definition(
        spec.kind, local_function_arn(spec.task_function.name), retry_interval_seconds=retry_interval_seconds
    )
    arn: str = sfn.create_state_machine(
        name=spec.local_name, definition=json.dumps(body), roleArn=LOCAL_STATE_MACHINE_ROLE, type="STANDARD"
    )["stateMachineArn"]
    return arn


def create_state_machines(sfn: Any, retry_interval_seconds: int = RETRY_INTERVAL_SECONDS) -> dict[str, str]:
    """Every report state machine; returns their ARNs by the env var that names each."""
    return {spec.env_var: create_state_machine(sfn, spec, retry_interval_seconds) for spec in STATE_MACHINES}


def create_lake_catalog(glue: Any, database: str = GLUE_DATABASE_LOCAL_NAME) -> None:
    """The Glue database and tables CDK declares (partition projection included), over the local buckets."""
    glue.create_database(DatabaseInput={"Name": database, "Description": "ClimaTrak lake (local)"})
    for table in LAKE_TABLES:
        glue.create_table(DatabaseName=database, TableInput=table.table_input(table.bucket.local_name))


def provision_all(dynamodb: Any, s3: Any, sqs: Any, events: Any, visibility_timeout_seconds: int) -> dict[str, str]:
    """Creates everything; returns the queue URLs by the env var that names each queue."""
    for table in TABLES:
        create_table(dynamodb, table)
    for bucket in BUCKETS:
        create_bucket(s3, bucket)
    urls = {queue.env_var: create_queue(sqs, queue, visibility_timeout_seconds) for queue in QUEUES}
    bus_name = create_event_bus(events, EVENT_BUS)
    for consumer in CONSUMERS:
        subscribe_consumer(events, sqs, bus_name, consumer, urls[consumer.queue.env_var])
    return urls
