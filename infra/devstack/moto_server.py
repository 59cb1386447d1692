"""moto's server with the local stack's SQS fixes (`infra.devstack.moto_sqs`), Logs Insights filter
(`infra.devstack.moto_logs`), atomic DynamoDB conditional writes (`infra.devstack.moto_dynamodb`), ECS
deployments for UpdateService (`infra.devstack.moto_ecs`), Step Functions executions
(`infra.devstack.moto_sfn`), CloudFront invalidations by CallerReference (`infra.devstack.moto_cloudfront`), the
functions' roles' IAM checked on each resource
(`infra.devstack.moto_iam`) and kept-alive connections (`infra.devstack.moto_http`)
applied first:

    python -m infra.devstack.moto_server [moto.server's arguments]

Started by `MotoServer`; it is `python -m moto.server` in every other respect. It dies with its parent
(`die_with_parent`), and `OPSBOT_MOTO_SQS_FIXES=0` leaves moto's SQS as it is.
"""

from __future__ import annotations

import os
import sys

from infra.devstack.lifetime import die_with_parent


def main(argv: list[str] | None = None) -> None:
    die_with_parent()
    from infra.devstack import (
        moto_cloudfront,
        moto_dynamodb,
        moto_ecs,
        moto_http,
        moto_iam,
        moto_logs,
        moto_sfn,
        moto_sqs,
    )

    if os.environ.get("OPSBOT_MOTO_SQS_FIXES") == "0":
        pass
    elif not moto_sqs.apply():
        print("opsbot: moto's SQS fixes not applied (untested moto version)", file=sys.stderr, flush=True)
    if not moto_dynamodb.apply():
        print("opsbot: moto's DynamoDB writes not serialised (another moto layout)", file=sys.stderr, flush=True)
    if not moto_logs.apply():
        print("opsbot: moto's Logs Insights filter not applied (another moto layout)", file=sys.stderr, flush=True)
    if not moto_ecs.apply():
        print("opsbot: moto's ECS deployments not patched (another moto layout)", file=sys.stderr, flush=True)
    if not moto_cloudfront.apply():
        print("opsbot: moto's CloudFront invalidations not patched (another moto layout)", file=sys.stderr, flush=True)
    if not moto_sfn.apply(argv if argv is not None else sys.argv[1:]):
        print("opsbot: moto's Step Functions do not run executions (another moto layout)", file=sys.stderr, flush=True)
    if not moto_iam.apply():
        # Loud: the tests and `opsbot local` rely on it to refuse what AWS refuses.
        print(
            "opsbot: IAM NOT ENFORCED: moto's authorization not patched (another moto layout)",
            file=sys.stderr,
            flush=True,
        )
    if not moto_http.apply():
        print("opsbot: moto's connections not kept alive (another moto layout)", file=sys.stderr, flush=True)
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
