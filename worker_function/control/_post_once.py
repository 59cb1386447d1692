"""A prompt with buttons posted once in a channel (an approval request, a runbook step waiting for a person).

chat.postMessage takes no client token: an intent is written first, and a retry that finds it looks for the prompt
(its first block's id, `slack_history`) in the channel before posting again. An answer saying no (a 4xx, a 429)
posted nothing, so the intent goes and the retry posts without looking; a 5xx may have posted it, so the intent
stays.
"""

from __future__ import annotations

import logging

from shared.blockkit import SlackMessage
from shared.jobs import JobEnvelope
from worker_function.operations import OperationContext
from worker_function.slack_history import find_own, first_block_is
from worker_function.store.intents import Intent

logger = logging.getLogger(__name__)


def post_prompt_once(
    ctx: OperationContext, job: JobEnvelope, name: str, channel: str, prompt: SlackMessage, marker: str
) -> tuple[str, str]:
    """Post `prompt` (whose first block's id is `marker`) in `channel` unless an earlier attempt of this job's step
    did; the intent is `name`. Returns where the prompt is: (channel, ts)."""
    from slack_sdk.errors import SlackApiError

    intent = Intent(job_id=job.job_id, step=job.step, name=name)
    if ctx.intents.write(intent) is not None:
        # An earlier attempt may have posted it (Slack took it, its answer was lost): looked for first.
        found = find_own(ctx.slack, channel, first_block_is(marker))
        if found.ts is not None:
            return channel, found.ts
        if not found.certain_absent:
            logger.warning("%s: an earlier prompt may be in %s: posted again", job.display, channel)
    try:
        posted = ctx.slack.chat_postMessage(channel=channel, text=prompt.text, blocks=prompt.blocks)
    except SlackApiError as exc:
        if exc.response.status_code < 500:
            try:
                ctx.intents.forget(intent)
            except Exception:  # the retry then looks before posting: a call more, nothing twice
                logger.exception("the prompt's intent of %s could not be removed", job.display)
        raise
    return str(posted.get("channel") or channel), str(posted["ts"])
