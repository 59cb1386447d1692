"""The worker's own messages, one module per kind, apart from the user commands (`worker_function.operations`).

A notice (a message the ack queued for the requester), a settle (a prompt cancelled, rejected or expired,
an expiry waiting for its time), an approval request to post, an audit note: each has its own small
`run(args, job, ctx)` handler, the same shape as an operation's, and its `Pipeline` in
`shared.commands.CONTROL_PIPELINES`; `operations.operation_for` finds it here by that registry.
"""
