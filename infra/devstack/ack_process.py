"""The ingress and the ack function in a process of their own, as on AWS, where API Gateway and the ack's
Lambda sandboxes share nothing with the worker's: the ack's requests never wait for the worker's
threads or the local Slack to release this machine's GIL.

    python -m infra.devstack.ack_process --port P [--module ack_function.handler] [--region R] [--sandboxes N]

The child cold-starts N copies of the module from its environment (the ack's variables only), serves
them behind an `Ingress` on 127.0.0.1:P, one invocation per copy at a time, cold-starting another when
all are busy as Lambda scales out (`SandboxPool`), and exits when its stdin closes (the parent stopped
or died) or on SIGTERM.
Its stdout and stderr are the parent's: the ack's log lines show where they did in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import urllib.error
from collections.abc import Mapping

from infra.devstack._http import urlopen
from infra.devstack.aws import free_port
from infra.devstack.errors import AckProcessError
from infra.devstack.ingress import SLACK_EVENTS_PATH


class AckProcess:
    """Starts the child and waits until its ingress answers `GET /health`; `url` and `events_url` as
    `Ingress` has them. `env` is the child's whole environment."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        module: str = "ack_function.handler",
        port: int = 0,
        region: str = "us-east-1",
        sandboxes: int = 8,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.port = port or free_port()
        self._env = dict(env)
        self._module = module
        self._region = region
        self._sandboxes = sandboxes
        self._start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}{SLACK_EVENTS_PATH}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> AckProcess:
        """Start the child; raise `AckProcessError` if it exits or does not answer in time."""
        if self._process is not None:
            return self
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, "--port", str(self.port), "--module", self._module, *self._options()],
            stdin=subprocess.PIPE,
            env=self._env,
            # Its own session: Ctrl-C in the terminal reaches only the parent, which stops the child.
            start_new_session=True,
        )
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise AckProcessError(f"the ack process exited with {code} (see its output above)")
            if self._is_answering():
                return self
            time.sleep(0.05)
        self.stop()
        raise AckProcessError(f"the ack process did not answer on {self.url} within {self._start_timeout_s:g} s")

    def _options(self) -> list[str]:
        return ["--region", self._region, "--sandboxes", str(self._sandboxes)]

    def _is_answering(self) -> bool:
        try:
            with urlopen(f"{self.url}/health", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Close the child's stdin (it stops serving and exits), terminate it after 5 s, kill after 10 s."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        for step in (process.terminate, process.kill):
            try:
                process.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                step()
        process.wait(timeout=5)

    def __enter__(self) -> AckProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.devstack.ack_process")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--module", default="ack_function.handler")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    parser.add_argument("--sandboxes", type=int, default=8)
    args = parser.parse_args(argv)

    from infra.devstack.ingress import Ingress
    from infra.devstack.sandboxes import SandboxPool, cold_start_instance

    # Cold starts read this process's environment, which stays the ack's: the pool may grow later.
    pool = SandboxPool(lambda i: cold_start_instance(args.module, i), size=args.sandboxes, grow=True)
    ingress = Ingress(pool, port=args.port, region=args.region).start()
    try:
        sys.stdin.read()  # until the parent closes it, or dies
    except KeyboardInterrupt:
        pass
    finally:
        ingress.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
