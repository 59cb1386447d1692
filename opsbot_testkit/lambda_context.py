"""The Lambda context a handler reads (no import beyond the standard library: the ack's tests use it too)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeLambdaContext:
    """What a Lambda handler reads of its context."""

    function_name: str = "opsbot-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:opsbot-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
