"""Lambda event source mappings, emulated: a thread per source that batches records and
invokes a handler in-process, honouring partial batch responses like Lambda does."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from climatrak_local.activity import Activity
from climatrak_local.background import BackgroundThread
from climatrak_local.lambda_invoke import REGION, Handler, LambdaContext

logger = logging.getLogger(__name__)

SQS_RECEIVE_LIMIT = 10  # ReceiveMessage and DeleteMessageBatch take at most 10 messages


def _lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes ({StringValue, DataType}) in the camelCase shape Lambda delivers."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType", "String"),
        }
        for name, value in attributes.items()
    }


def sqs_event(messages: Sequence[dict[str, Any]], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def succeeded_message_ids(message_ids: Sequence[str], response: Any) -> list[str]:
    """Which messages a handler's (partial batch) response lets us delete.

    No `batchItemFailures` means the whole batch succeeded. As on Lambda, a failure entry that
    names no message of the batch makes the whole batch fail.
    """
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return list(message_ids)
    failed: set[str] = set()
    for failure in response["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return []
        failed.add(identifier)
    return [message_id for message_id in message_ids if message_id not in failed]


class SqsPoller(BackgroundThread):
    """Receives batches from one queue and invokes one handler, like an SQS event source mapping."""

    def __init__(
        self,
        name: str,
        *,
        sqs: Any,
        queue_url: str,
        handler: Callable[[], Handler],
        activity: Activity,
        batch_size: int,
        batching_window_seconds: float,
        function_timeout_seconds: int = 60,
    ) -> None:
        self.name = name
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._activity = activity
        self._batch_size = batch_size
        self._window = batching_window_seconds
        self._timeout = function_timeout_seconds
        super().__init__(f"poller-{name}")
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._collect_batch()
                if batch:
                    self._invoke(batch)
            except Exception:
                if self._stopping.is_set():
                    return  # the endpoint went away during shutdown
                logger.exception("poller %s failed; retrying", self.name)
                self._stopping.wait(1.0)

    def _receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _collect_batch(self) -> list[dict[str, Any]]:
        """Long-polls for a first message, then keeps receiving until the batch is full or the
        batching window since that first message has passed."""
        batch = self._receive(SQS_RECEIVE_LIMIT if self._batch_size > 1 else 1, wait_seconds=1)
        deadline = time.monotonic() + self._window
        while batch and len(batch) < self._batch_size and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(min(SQS_RECEIVE_LIMIT, self._batch_size - len(batch)), wait_seconds=0)
            if more:
                batch.extend(more)
            else:
                self._stopping.wait(min(0.05, remaining))  # queue drained: give producers a moment
        return batch

    def _invoke(self, batch: list[dict[str, Any]]) -> None:
        event = sqs_event(batch, self._queue_arn)
        context = LambdaContext(function_name=f"climatrak-local-{self.name}", timeout_seconds=self._timeout)
        with self._activity.running():
            try:
                response = self._handler()(event, context)
            except Exception:
                # Lambda retries the whole batch when the function errors: delete nothing.
                logger.exception("handler for %s raised; the batch will be redelivered", self.name)
                return
            done = set(succeeded_message_ids([m["MessageId"] for m in batch], response))
            self._delete([m for m in batch if m["MessageId"] in done])

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_LIMIT):
            chunk = messages[start : start + SQS_RECEIVE_LIMIT]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
