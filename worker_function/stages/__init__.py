"""The stages of a job's walk through the worker, one module per concern; `worker_function.pipeline` runs them.

Each stage is a function of the `Walk` (`worker_function.walk`): it reads what the stages before it left and
leaves its own result there. No stage calls another or the executor: the executor calls them in order.

- `audit`: the audit notes (request, confirmation, the plan's, the outcome), written before the step's side
  effects and at the end of the walk.
- `registry`: the registry of jobs (/ops-jobs, /ops-cancel): running before the step, waiting or finished
  after it (a cancel that won stops the walk).
- `prompt`: confirmations and approvals: the confirmation claimed, the approval claimed or its approver
  refused, the prompt replaced by "confirmed, queued".
- `planning`: the facts the plan needs (reads only) and `plan.plan_step`'s decision.
- `lease`: the target's lease, held for the step and kept while the job waits.
- `step`: the operation's step (and its failures, classified), and the step's outcome.
- `metrics`: queue wait, duration and outcome per command.
- `reply`: the step's message delivered, the next step queued.
"""
