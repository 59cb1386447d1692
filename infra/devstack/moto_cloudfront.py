"""CloudFront invalidations as CloudFront documents them, applied only inside the local stack's moto server
(`python -m infra.devstack.moto_server`); moto itself is not modified on disk.

Why: moto 5.2 makes a new invalidation for every CreateInvalidation, and reports each one `Completed` at once.
CloudFront (API reference, CreateInvalidation and InvalidationBatch.CallerReference): "If you make a second
invalidation request with the same value for CallerReference, and if the rest of the request is the same,
CloudFront doesn't create a new invalidation request. Instead, CloudFront returns information about the
invalidation request that you previously created with the same CallerReference. If CallerReference is a value
you already sent in a previous invalidation batch request but the content of any Path is different from the
original request, CloudFront returns an InvalidationBatchAlreadyExists error." And an invalidation is
`InProgress` until its paths are cleared from every edge location, then `Completed`.

Here: a distribution's id is derived from its account and CallerReference (CloudFront's are random; an id is
opaque to opsbot either way): the demo distribution of every local moto has the same id, so the inventory naming
it, and the worker's IAM synthesized from that inventory, are the same from one run to the next
(infra/devstack/deployed.py keeps the synthesized templates by inventory). A repeated CallerReference returns the
first invalidation (or InvalidationBatchAlreadyExists for other paths), and an invalidation is `InProgress` in
CreateInvalidation's answer and for `OPSBOT_CLOUDFRONT_INVALIDATION_S` seconds after (default 0: `Completed` from
the first read on), then `Completed`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

#: Seconds an invalidation stays InProgress after it is created (the local stack's demo sets a few).
DURATION_ENV = "OPSBOT_CLOUDFRONT_INVALIDATION_S"


def _duration() -> float:
    try:
        return max(float(os.environ.get(DURATION_ENV, "0")), 0.0)
    except ValueError:
        return 0.0


def _refresh(invalidation: Any) -> Any:
    created = getattr(invalidation, "_opsbot_created", None)
    if created is not None and time.monotonic() - created >= _duration():
        invalidation.status = "Completed"
    return invalidation


def apply() -> bool:
    """Wrap moto's CloudFront invalidations; False if moto's layout differs."""
    try:
        from moto.cloudfront import exceptions, models
    except ImportError:
        return False
    backend = getattr(models, "CloudFrontBackend", None)
    if backend is None or not all(
        hasattr(backend, name)
        for name in ("create_distribution_with_tags", "create_invalidation", "get_invalidation", "list_invalidations")
    ):
        return False

    class InvalidationBatchAlreadyExists(exceptions.CloudFrontException):
        def __init__(self) -> None:
            super().__init__(
                "InvalidationBatchAlreadyExists",
                "The CallerReference you attempted to create the invalidation batch with is already in use.",
            )

    create, get, listed = backend.create_invalidation, backend.get_invalidation, backend.list_invalidations
    create_distribution = backend.create_distribution_with_tags

    def create_distribution_with_tags(self: Any, distribution_config: Any, tags: Any) -> Any:
        dist, _, etag = create_distribution(self, distribution_config, tags)
        reference = dist.distribution_config.caller_reference
        digest = hashlib.sha256(f"{self.account_id}/{reference}".encode()).digest()
        stable = "E" + base64.b32encode(digest).decode().rstrip("=")[:13]
        self.distributions.pop(dist.distribution_id)
        old_arn = dist.arn
        dist.distribution_id = dist.id = stable
        dist.arn = old_arn.rsplit("/", 1)[0] + f"/{stable}"
        self.distributions[stable] = dist
        self.tagger.tag_resource(dist.arn, tags)
        return dist, dist.location, etag

    def create_invalidation(self: Any, dist_id: str, paths: list[str], caller_ref: str) -> Any:
        self.get_distribution(dist_id)  # NoSuchDistribution first, as CloudFront answers
        for earlier in self.invalidations.get(dist_id, []):
            if earlier.caller_ref == caller_ref:
                if list(earlier.paths) != list(paths):
                    raise InvalidationBatchAlreadyExists()
                return _refresh(earlier)
        invalidation = create(self, dist_id, paths, caller_ref)
        invalidation.status = "InProgress"
        invalidation._opsbot_created = time.monotonic()
        return invalidation

    def get_invalidation(self: Any, dist_id: str, id: str) -> Any:
        return _refresh(get(self, dist_id, id))

    def list_invalidations(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = listed(self, *args, **kwargs)
        items = result[0] if isinstance(result, tuple) else result
        for invalidation in items:
            _refresh(invalidation)
        return result

    backend.create_distribution_with_tags = create_distribution_with_tags
    backend.create_invalidation = create_invalidation
    backend.get_invalidation = get_invalidation
    backend.list_invalidations = list_invalidations
    return True
