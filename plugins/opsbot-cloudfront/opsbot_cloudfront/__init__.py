"""An opsbot plugin: `/cdn-invalidate <target> [path ...]` invalidates paths of a CloudFront distribution's cache,
exactly once, and follows the invalidation until CloudFront says it completed.

- `spec`: the command's args and spec, and the target kind it adds to the inventory (`cloudfront = { ... }` on a
  target); what the ack loads.
- `operation`: what the worker runs (the invalidation through opsbot's intent door, its preview and its state).
- `demo`: the distribution the local stack's demo provisions for it.
"""
