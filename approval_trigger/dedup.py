"""De-duplication of state changes in DynamoDB: a short lease, then a done marker.

One item per state change (``pk`` = the de-duplication key). A claim is a conditional PutItem
that succeeds when no item exists, when its time-to-live has passed, or when it is not done and
its lease has expired (the invocation that took it died or timed out). The holder writes the done
marker only after GitHub accepted the dispatch, and deletes its claim when the dispatch failed.
Conditions name the owner (the invocation's request id), so no invocation ever marks or releases
a claim another invocation has taken over.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

DEDUP_KEY_ATTRIBUTE = "pk"
DEDUP_TTL_ATTRIBUTE = "expires_at"
OWNER_ATTRIBUTE = "owner"
LEASE_ATTRIBUTE = "lease_until"
DONE_ATTRIBUTE = "done"
# DynamoDB refuses an expression attribute name that its expression does not use.
_CLAIM_NAMES = {
    "#pk": DEDUP_KEY_ATTRIBUTE,
    "#ttl": DEDUP_TTL_ATTRIBUTE,
    "#lease": LEASE_ATTRIBUTE,
    "#done": DONE_ATTRIBUTE,
}


class Claim(enum.Enum):
    """The outcome of a claim."""

    TAKEN = "taken"
    DONE = "done"  # dispatched already: a repeated delivery
    BUSY = "busy"  # another invocation holds a live lease


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def claim(
    client: DynamoDBClient,
    table: str,
    key: str,
    *,
    owner: str,
    now: float,
    lease_seconds: float,
    ttl_seconds: int,
) -> Claim:
    """Take the lease on a state change unless it is done or leased by a live invocation."""
    try:
        client.put_item(
            TableName=table,
            Item={
                DEDUP_KEY_ATTRIBUTE: {"S": key},
                OWNER_ATTRIBUTE: {"S": owner},
                LEASE_ATTRIBUTE: {"N": f"{now + lease_seconds:.3f}"},
                DONE_ATTRIBUTE: {"BOOL": False},
                DEDUP_TTL_ATTRIBUTE: {"N": str(int(now) + ttl_seconds)},
            },
            ConditionExpression="attribute_not_exists(#pk) OR #ttl < :now"
            " OR (#done = :false AND #lease < :now)",
            ExpressionAttributeNames=_CLAIM_NAMES,
            ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}, ":false": {"BOOL": False}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if not _conditional_failure(error):
            raise
        old: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
        if old is None:
            return Claim.BUSY  # unknown: a retry decides, rather than dropping the change
        # A marker without a lease was written by the earlier claim-then-dispatch version.
        leased = LEASE_ATTRIBUTE in old and not old.get(DONE_ATTRIBUTE, {}).get("BOOL", False)
        return Claim.BUSY if leased else Claim.DONE
    return Claim.TAKEN


def mark_done(
    client: DynamoDBClient, table: str, key: str, *, owner: str, now: float, ttl_seconds: int
) -> bool:
    """Record that GitHub accepted the dispatch; False when another invocation took the claim."""
    try:
        client.put_item(
            TableName=table,
            Item={
                DEDUP_KEY_ATTRIBUTE: {"S": key},
                OWNER_ATTRIBUTE: {"S": owner},
                DONE_ATTRIBUTE: {"BOOL": True},
                DEDUP_TTL_ATTRIBUTE: {"N": str(int(now) + ttl_seconds)},
            },
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": OWNER_ATTRIBUTE},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
    except ClientError as error:
        if not _conditional_failure(error):
            raise
        return False
    return True


def release(client: DynamoDBClient, table: str, key: str, *, owner: str) -> None:
    """Delete this invocation's claim (not done) so that a retry dispatches at once."""
    try:
        client.delete_item(
            TableName=table,
            Key={DEDUP_KEY_ATTRIBUTE: {"S": key}},
            ConditionExpression="#owner = :owner AND #done = :false",
            ExpressionAttributeNames={"#owner": OWNER_ATTRIBUTE, "#done": DONE_ATTRIBUTE},
            ExpressionAttributeValues={":owner": {"S": owner}, ":false": {"BOOL": False}},
        )
    except ClientError as error:
        if not _conditional_failure(error):
            raise
