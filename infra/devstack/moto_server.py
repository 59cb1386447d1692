"""moto's server with the local stack's SQS fixes (`infra.devstack.moto_sqs`) applied first:

    python -m infra.devstack.moto_server [moto.server's arguments]

Started by `MotoServer`; it is `python -m moto.server` in every other respect.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from infra.devstack.moto_sqs import apply

    if not apply():
        print("opsbot: moto's SQS fixes not applied (untested moto version)", file=sys.stderr, flush=True)
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
