from climatrak_local.pollers import sqs_event, succeeded_message_ids

IDS = ["m1", "m2", "m3"]


def test_no_failures_means_the_whole_batch_succeeded() -> None:
    assert succeeded_message_ids(IDS, None) == IDS
    assert succeeded_message_ids(IDS, {"batchItemFailures": []}) == IDS


def test_reported_failures_are_kept() -> None:
    assert succeeded_message_ids(IDS, {"batchItemFailures": [{"itemIdentifier": "m2"}]}) == ["m1", "m3"]


def test_a_failure_naming_no_message_of_the_batch_fails_it_all() -> None:
    assert succeeded_message_ids(IDS, {"batchItemFailures": [{"itemIdentifier": "other"}]}) == []
    assert succeeded_message_ids(IDS, {"batchItemFailures": [{}]}) == []


def test_sqs_event_has_the_lambda_record_shape() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {"kind": {"StringValue": "telemetry", "DataType": "String"}},
    }

    event = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q")

    record = event["Records"][0]
    assert record["messageId"] == "m1"
    assert record["receiptHandle"] == "rh"
    assert record["body"] == "{}"
    assert record["md5OfBody"] == message["MD5OfBody"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "telemetry"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert record["awsRegion"] == "us-east-1"
