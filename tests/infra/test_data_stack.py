from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from climatrak.core.resources import LAKE_BUCKET, MAIN_TABLE, REPORTS_BUCKET, TABLES, TableSpec
from infra_cdk.app import cdk_json_context
from infra_cdk.layer import LayerDirs
from infra_cdk.stacks.data import DataStack
from infra_cdk.stage import StageConfig
from tests.infra.conftest import SynthesizedApp
from tests.infra.helpers import logical_id, refers_to, resources

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def table_resource(synthesized: SynthesizedApp, spec: TableSpec) -> dict:
    table = synthesized.stacks.data.tables[spec.logical_id]
    return resources(synthesized.data, "AWS::DynamoDB::Table")[logical_id(table)]


@pytest.mark.parametrize("spec", TABLES, ids=lambda spec: spec.logical_id)
def test_table_matches_its_spec(synthesized: SynthesizedApp, spec: TableSpec) -> None:
    props = table_resource(synthesized, spec)["Properties"]

    expected_keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        expected_keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    assert props["KeySchema"] == expected_keys
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert refers_to(props["SSESpecification"]["KMSMasterKeyId"], logical_id(synthesized.stacks.data.key))


def test_only_main_table_streams_new_images(synthesized: SynthesizedApp) -> None:
    for spec in TABLES:
        props = table_resource(synthesized, spec)["Properties"]
        if spec.stream:
            assert props["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
        else:
            assert "StreamSpecification" not in props


def test_main_table_has_gsi1(synthesized: SynthesizedApp) -> None:
    props = table_resource(synthesized, MAIN_TABLE)["Properties"]
    (index,) = MAIN_TABLE.indexes
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": index.name,
            "KeySchema": [
                {"AttributeName": index.partition_key, "KeyType": "HASH"},
                {"AttributeName": index.sort_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]


def lake_bucket(synthesized: SynthesizedApp) -> tuple[str, dict]:
    bucket_id = logical_id(synthesized.stacks.data.lake_bucket)
    assert bucket_id.startswith(LAKE_BUCKET.logical_id)
    return bucket_id, resources(synthesized.data, "AWS::S3::Bucket")[bucket_id]["Properties"]


def test_lake_bucket_is_kms_encrypted_private_and_logged(synthesized: SynthesizedApp) -> None:
    _, props = lake_bucket(synthesized)
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert refers_to(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], logical_id(synthesized.stacks.data.key))
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert refers_to(
        props["LoggingConfiguration"]["DestinationBucketName"], logical_id(synthesized.stacks.data.access_logs_bucket)
    )


def test_every_bucket_denies_plain_http(synthesized: SynthesizedApp) -> None:
    policies = resources(synthesized.data, "AWS::S3::BucketPolicy").values()
    for bucket_id in resources(synthesized.data, "AWS::S3::Bucket"):
        (policy,) = [p for p in policies if p["Properties"]["Bucket"] == {"Ref": bucket_id}]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ), bucket_id


def test_lake_lifecycle_expires_raw_batches_and_quarantine_but_keeps_the_compacted_days(
    synthesized: SynthesizedApp,
) -> None:
    _, props = lake_bucket(synthesized)
    rules = {rule.get("Prefix"): rule for rule in props["LifecycleConfiguration"]["Rules"]}
    # the daily compaction keeps each day in telemetry/daily/; raw batches are only its input
    assert rules["telemetry/raw/"]["ExpirationInDays"] == 7
    assert rules["quarantine/"]["ExpirationInDays"] == 90
    assert not any(prefix and prefix.startswith(("telemetry/daily", "aggregates", "ledger")) for prefix in rules)


def reports_bucket(synthesized: SynthesizedApp) -> dict:
    bucket_id = logical_id(synthesized.stacks.data.reports_bucket)
    assert bucket_id.startswith(REPORTS_BUCKET.logical_id)
    props: dict = resources(synthesized.data, "AWS::S3::Bucket")[bucket_id]["Properties"]
    return props


def test_reports_bucket_is_kms_encrypted_private_versioned_and_logged(synthesized: SynthesizedApp) -> None:
    props = reports_bucket(synthesized)
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert refers_to(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], logical_id(synthesized.stacks.data.key))
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert refers_to(
        props["LoggingConfiguration"]["DestinationBucketName"], logical_id(synthesized.stacks.data.access_logs_bucket)
    )


def test_reports_are_kept_and_athena_results_expire(synthesized: SynthesizedApp) -> None:
    rules = {rule["Id"]: rule for rule in reports_bucket(synthesized)["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-athena-results"]["Prefix"] == "athena-results/"
    assert rules["expire-athena-results"]["ExpirationInDays"] == 30
    assert rules["tier-reports"]["Prefix"] == "reports/"
    assert "ExpirationInDays" not in rules["tier-reports"]
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_dev_data_is_destroyed_with_the_stack(synthesized: SynthesizedApp) -> None:
    for resource in resources(synthesized.data, "AWS::DynamoDB::Table").values():
        assert resource["DeletionPolicy"] == "Delete"
        assert (
            "DeletionProtectionEnabled" not in resource["Properties"]
            or not resource["Properties"]["DeletionProtectionEnabled"]
        )


def test_prod_data_is_retained_and_protected(layer_dirs: dict[str, str]) -> None:
    stage = StageConfig(name="prod", layer_dirs=LayerDirs.from_context(layer_dirs))
    template = Template.from_stack(DataStack(cdk.App(context=cdk_json_context()), "ProdData", stage=stage))

    tables = resources(template, "AWS::DynamoDB::Table")
    assert len(tables) == len(TABLES)
    for resource in tables.values():
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["Properties"]["DeletionProtectionEnabled"] is True
    template.all_resources("AWS::S3::Bucket", Match.object_like({"DeletionPolicy": "Retain"}))
    template.all_resources("AWS::KMS::Key", Match.object_like({"DeletionPolicy": "Retain"}))


def test_the_data_stack_outputs_every_resource_name_for_the_cli(synthesized: SynthesizedApp) -> None:
    from climatrak.core.resources import BUCKETS, TABLES
    from climatrak_local.targets import output_key

    outputs = synthesized.data.to_json()["Outputs"]
    for spec in (*TABLES, *BUCKETS):
        assert output_key(spec.env_var) in outputs, spec.env_var
