"""The local Slack page in a real browser (headless Chromium driven by Selenium) on the whole local stack.

What a person types and clicks on the page goes through the real ingress, ack, SQS (moto) and worker;
what the page shows is what the local Slack API received. One stack and one browser for the module.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.devstack.stack import BOT_TOKEN, LocalStack
from infra.devstack.web_client import WebSlack

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="no Chromium: `apt-get install chromium chromium-driver` (.ci/run installs them)",
    ),
]

#: Where the demo screenshot goes: `OPSBOT_SCREENSHOT=docs/local-slack.png pytest tests/browser`.
SCREENSHOT_ENV = "OPSBOT_SCREENSHOT"
#: Long enough for a 12 s CodeBuild migration on a busy 2-core machine; never a timing assertion.
JOB_TIMEOUT = 60

ALEX, DANA, LOCAL_DEV = "U0ALEX", "U0DANA", "U0LOCALDEV"
OPS, APPROVALS, INCIDENT = "C0LOCALOPS", "C0APPROVALS", "C0INCIDENT"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, visibility_timeout=2) as running:
        yield running


@pytest.fixture(scope="module")
def web(stack: LocalStack) -> Iterator[WebSlack]:
    with WebSlack(stack.slack, stack.target) as server:
        yield server


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"):
        options.add_argument(argument)
    # The system's chromedriver: Selenium never downloads one.
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


class Page:
    """The page as a person uses it: be someone, open a channel, type, click, read messages."""

    def __init__(self, driver: Any, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self) -> Page:
        self.driver.get(self.url)
        self.wait(lambda: self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1", 10)
        return self

    def wait(self, condition: Callable[[], Any], timeout: float = JOB_TIMEOUT) -> Any:
        """What `condition` returns once truthy (exceptions while waiting count as not yet)."""

        def attempt(_: Any) -> Any:
            try:
                return condition()
            except Exception:
                return False

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(attempt)
        except TimeoutException:
            shown = "\n---\n".join(m.text for m in self.messages())
            raise AssertionError(f"not shown within {timeout} s; the page shows:\n{shown}") from None

    def be(self, user: str) -> None:
        Select(self.driver.find_element(By.ID, "user-picker")).select_by_value(user)

    def go(self, channel: str) -> None:
        """Open a channel. The sidebar is drawn anew whenever a message arrives (unread badges), so an item found a
        moment ago may be gone by the click: click again until the channel is the active one."""
        item = f'li[data-channel="{channel}"]'

        def opened() -> bool:
            self.driver.find_element(By.CSS_SELECTOR, item).click()
            return "active" in (self.driver.find_element(By.CSS_SELECTOR, item).get_attribute("class") or "")

        self.wait(opened, 10)

    def type(self, text: str) -> None:
        box = self.driver.find_element(By.ID, "composer-input")
        box.send_keys(text, Keys.ENTER)
        self.wait(lambda: box.get_attribute("value") == "", 10)
        assert self.driver.find_element(By.ID, "composer-error").text == ""

    def messages(self) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, "#messages .message"))

    def message(self, pattern: str, *, after: WebElement | None = None) -> WebElement:
        """Wait for the first message whose text matches `pattern` (a regex), after `after` if given."""

        def found() -> WebElement | None:
            nodes = self.messages()
            if after is not None:
                nodes = nodes[[n.get_attribute("data-id") for n in nodes].index(after.get_attribute("data-id")) + 1 :]
            return next((n for n in nodes if re.search(pattern, n.text)), None)

        return self.wait(found)

    @staticmethod
    def button(message: WebElement, label: str) -> WebElement:
        return next(b for b in message.find_elements(By.CSS_SELECTOR, "button.bk-button") if b.text == label)


@pytest.fixture
def page(driver: Any, web: WebSlack) -> Page:
    return Page(driver, f"{web.url}/").open()


def job_of(message: WebElement) -> str:
    found = re.search(r"job ([0-9a-f]{8})", message.text)
    assert found, message.text
    return found.group(1)


def test_a_slash_command_typed_in_the_composer_gets_its_ephemeral_ack_then_its_result(page):
    page.be(ALEX)
    page.go(OPS)

    page.type("/ops-ping")

    ack = page.message(r"/ops-ping is queued as job [0-9a-f]{8}")
    job = job_of(ack)
    result = page.message(rf"pong: job {job}")
    assert "Only visible to you" in ack.text and "Only visible to you" in result.text
    ids = [m.get_attribute("data-id") for m in page.messages()]
    assert ids.index(ack.get_attribute("data-id")) < ids.index(result.get_attribute("data-id"))

    page.be(DANA)  # ephemeral: nobody else sees them

    page.wait(lambda: not any(job in m.text for m in page.messages()), 10)


def test_a_mention_is_answered_in_its_thread(page):
    page.be(ALEX)
    page.go(OPS)

    page.type("@opsbot deploy-status checkout")

    asked = page.message(r"@opsbot deploy-status checkout")
    reply = page.wait(
        lambda: next(
            r for r in asked.find_elements(By.CSS_SELECTOR, ".thread .message") if "Deploy status of checkout" in r.text
        )
    )
    assert "opsbot" in reply.find_element(By.CSS_SELECTOR, ".author").text


def test_a_mention_typed_in_a_thread_is_answered_in_that_thread(page):
    page.be(ALEX)
    page.go(OPS)
    page.type("@opsbot deploy-status payment")
    asked = page.message(r"@opsbot deploy-status payment")
    page.wait(lambda: "Deploy status of payment" in asked.find_element(By.CSS_SELECTOR, ".thread").text)

    asked.find_element(By.CSS_SELECTOR, "button.thread-link").click()
    page.type("@opsbot ops-ping")

    page.wait(lambda: "pong" in asked.find_element(By.CSS_SELECTOR, ".thread").text)
    replies = [r.text for r in asked.find_elements(By.CSS_SELECTOR, ".thread .message")]
    assert [("@opsbot ops-ping" in r, "pong" in r) for r in replies][-2:] == [(True, False), (False, True)]


def test_a_confirmation_prompt_is_confirmed_by_clicking_and_the_job_runs(page):
    page.be(DANA)
    page.go(OPS)

    page.type("/ops-migrate payment 2024.06.1")
    prompt = page.message(r"Run /ops-migrate payment 2024.06.1 on prod\?")
    assert "Only visible to you" in prompt.text
    page.button(prompt, "Confirm").click()

    page.wait(lambda: "confirmed by @dana" in prompt.text)  # the same message, replaced in place
    assert prompt.find_elements(By.CSS_SELECTOR, "button.bk-button") == []
    job = job_of(prompt)
    result = page.message(r"Migration of payment to 2024.06.1 succeeded")
    assert job in result.text


def test_an_approval_requested_by_one_user_is_approved_by_another_after_switching_user(page):
    page.be(ALEX)
    page.go(OPS)
    page.type("/ops-migrate payment")
    page.message(r"/ops-migrate payment needs a second person: sent to #approvals for approval by @sre")

    page.go(APPROVALS)
    request = page.message(r"@alex asks to run /ops-migrate payment")
    page.button(request, "Approve").click()  # the requester: refused
    page.message(r"cannot approve their own request")
    assert [b.text for b in request.find_elements(By.CSS_SELECTOR, "button.bk-button")] == ["Approve", "Reject"]

    page.be(DANA)
    page.go(APPROVALS)
    request = page.message(r"@alex asks to run /ops-migrate payment")
    page.button(request, "Approve").click()

    page.wait(lambda: "approved by @dana" in request.text)
    assert request.find_elements(By.CSS_SELECTOR, "button.bk-button") == []
    page.be(ALEX)
    page.go(OPS)
    asked = page.message(r"/ops-migrate payment needs a second person")
    page.message(r"Migration of payment succeeded", after=asked)


def test_a_progress_message_is_updated_in_place(page):
    page.be(LOCAL_DEV)
    page.go(OPS)

    page.type("/ops-regression smoke")

    progress = page.message(r"started: CodeBuild build")
    page.wait(lambda: "succeeded" in progress.text)  # the same node, never replaced by another

    assert "(edited)" in progress.text and "started: CodeBuild build" not in progress.text
    job_messages = [m for m in page.messages() if "Regression" in m.text or "regression-smoke" in m.text]
    assert [m.get_attribute("data-id") for m in job_messages] == [progress.get_attribute("data-id")]


def test_script_and_img_onerror_in_messages_are_rendered_as_text(page, stack):
    from slack_sdk import WebClient

    hostile = '<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2">'
    WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url).chat_postMessage(
        channel=INCIDENT,
        text=hostile,
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "<img src=x onerror=window.__xss=3>"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*bold {hostile}* `<b>code</b>`"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<javascript:window.__xss=4|click me>"}]},
        ],
    )
    page.be(ALEX)
    page.go(INCIDENT)
    page.type("@opsbot <img src=y onerror=window.__xss=5> <script>window.__xss=6</script>")

    posted = page.message(r"bold <script>")
    typed = page.message(r"<img src=y onerror=window.__xss=5> <script>window.__xss=6</script>")

    assert "<img src=x onerror=window.__xss=3>" in posted.text
    assert 'bold <script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2">' in posted.text
    assert "<b>code</b>" in posted.text and "<javascript:window.__xss=4|click me>" in posted.text
    assert "@opsbot" in typed.text
    markup = page.driver.execute_script(
        "return document.querySelectorAll('#messages script, #messages img, #messages b, #messages a').length"
    )
    assert markup == 0
    assert page.driver.execute_script("return window.__xss === undefined") is True


def test_the_log_table_of_ops_logs_is_a_code_block(page):
    page.be(LOCAL_DEV)
    page.go(OPS)

    page.type("/ops-logs payment ERROR")

    result = page.message(r"upstream timeout")
    [code] = result.find_elements(By.CSS_SELECTOR, "pre.code")
    assert "ERROR payment: upstream timeout" in code.text and "```" not in result.text


def test_a_select_sends_a_signed_click_that_the_ack_verifies(page, stack):
    """A select on a message (no opsbot command has one yet): choosing an option posts a signed `block_actions`
    as the chosen user; the ack verifies its signature (no 401) and, having no listener for it, answers 200 with
    nothing queued (Slack counts an error answer against the app), so the page shows no failure."""
    from slack_sdk import WebClient

    options = [{"text": {"type": "plain_text", "text": name}, "value": name} for name in ("payment", "checkout")]
    select = {"type": "static_select", "action_id": "pick_target", "options": options}
    WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url).chat_postMessage(
        channel=INCIDENT,
        text="Pick a target",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "Pick a target"}, "accessory": select},
            {"type": "divider"},
        ],
    )
    page.be(DANA)
    page.go(INCIDENT)
    message = page.message(r"Pick a target")
    assert message.find_elements(By.CSS_SELECTOR, "hr.block-divider")

    Select(message.find_element(By.CSS_SELECTOR, "select.bk-select")).select_by_value("checkout")

    page.type("/ops-ping")  # a later request: once its answer shows, the click's ack has long come back
    page.message(r"(?i)pong", after=message)
    failures = [m.text for m in page.messages() if "failed with the error" in m.text]
    assert failures == [], failures


def test_the_demo_conversation_screenshot(page, tmp_path):
    """The picture in the README: alex's #ops after the demo commands (`OPSBOT_SCREENSHOT` says where)."""
    page.be(ALEX)
    page.go(OPS)
    page.type("/deploy-status payment")
    page.message(r"Deploy status of payment")

    target = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "local-slack.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.driver.set_window_size(1280, 1180)
    page.driver.execute_script("document.getElementById('messages').scrollTop = 0")  # from the first command on
    try:
        assert page.driver.save_screenshot(str(target))
    finally:
        page.driver.set_window_size(1280, 860)

    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 300_000


def test_opsbot_local_demo_prints_the_page_and_the_demo_conversation_is_on_it(driver, tmp_path):
    """`opsbot local --demo` as a person runs it: the URL it prints opens the demo conversation."""
    root = Path(__file__).resolve().parents[2]
    local = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "local", "--port", "0", "--demo", "--state", str(tmp_path / "s.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=root,
    )
    lines: list[str] = []
    try:
        assert local.stdout is not None
        for line in local.stdout:
            lines.append(line)
            if line.startswith("demo:"):
                break
        assert "demo: all commands finished" in "".join(lines), "".join(lines)
        [url] = [line.split()[-1] for line in lines if line.strip().startswith("Slack in a browser")]
        page = Page(driver, url).open()
        page.be(ALEX)
        page.go(OPS)

        page.message(r"/ops-ping is queued as job")
        page.message(r"pong: job")
        page.message(r"Deploy status of payment")
    finally:
        local.send_signal(signal.SIGTERM)
        local.communicate(timeout=30)


def test_an_alarm_arrives_with_its_runbook_and_a_click_runs_it_as_the_clicker(page, stack, tmp_path):
    """`opsbot alarm payment-5xx ALARM`: the alarm in #incident with its runbook buttons; dana clicks
    `/ops-status payment` and its answer comes to her. The README's alarm picture (beside `OPSBOT_SCREENSHOT`)."""
    from infra.cli.main import main
    from infra.devstack.state import write_state

    state_file = tmp_path / "local.json"
    write_state(state_file, stack.state)
    reason = "Threshold Crossed: 5xx rate 7.2% > 5% for 5 datapoints"
    assert main(["alarm", "payment-5xx", "ALARM", "--reason", reason, "--state", str(state_file)]) == 0

    page.be(DANA)
    page.go(INCIDENT)
    alarm = page.message(r"payment-5xx is in ALARM")
    labels = [b.text for b in alarm.find_elements(By.CSS_SELECTOR, "button.bk-button")]
    assert labels == ["/ops-status payment", "/ops-logs payment --since 30m ERROR", "/ops-restart payment"]
    assert reason in alarm.text

    page.button(alarm, "/ops-status payment").click()
    answer = page.message(r"(?s)payment \(opsbot-demo/payment\): 2/2 tasks running.*job [0-9a-f]{8}", after=alarm)
    assert "Only visible to you" in answer.text  # to dana, who clicked
    job = job_of(answer)
    page.be(ALEX)
    page.wait(lambda: job not in " ".join(m.text for m in page.messages()), 10)
    page.be(DANA)
    alarm = page.message(r"payment-5xx is in ALARM")
    assert [b.text for b in alarm.find_elements(By.CSS_SELECTOR, "button.bk-button")] == labels  # the alarm stays

    shots = os.environ.get(SCREENSHOT_ENV)
    target = Path(shots).with_name("alarm-message.png") if shots else tmp_path / "alarm-message.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.driver.execute_script("arguments[0].scrollIntoView(true)", alarm)
    assert alarm.screenshot(str(target))
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_runbook_shows_each_state_in_place_and_a_second_person_approves_its_step(page, tmp_path):
    """`/ops-run restart-safely payment` on moto's Step Functions: its progress message lists each state as it
    goes; its waiting state asks in #approvals, where alex (who ran it) is refused and dana approves. The picture of
    docs/runbooks.md (beside `OPSBOT_SCREENSHOT`)."""
    page.be(ALEX)
    page.go(OPS)
    page.type("/ops-run restart-safely payment reason=incident-42")
    progress = page.message(r"Runbook restart-safely on payment")
    page.wait(lambda: "Ask a second person · waiting for a person" in progress.text)
    assert "Scale up by one · succeeded" in progress.text and "Restart · succeeded" in progress.text

    shots = os.environ.get(SCREENSHOT_ENV)
    target = Path(shots).with_name("runbook-progress.png") if shots else tmp_path / "runbook-progress.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.driver.execute_script("arguments[0].scrollIntoView(true)", progress)
    assert progress.screenshot(str(target))
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    page.go(APPROVALS)
    step = page.message(r"waits at Ask a second person")
    page.button(step, "Approve").click()  # who ran it: refused
    page.message(r"a second person approves its step")
    page.be(DANA)
    page.go(APPROVALS)
    step = page.message(r"waits at Ask a second person")
    page.button(step, "Approve").click()
    page.wait(lambda: "Approved by @dana" in step.text)
    assert step.find_elements(By.CSS_SELECTOR, "button.bk-button") == []

    page.be(ALEX)
    page.go(OPS)
    progress = page.message(r"Runbook restart-safely on payment")
    page.wait(lambda: "succeeded in" in progress.text)
    assert "Scale back · succeeded" in progress.text


def test_a_runbook_is_cancelled_at_its_target(page):
    page.be(LOCAL_DEV)
    page.go(OPS)
    page.type("/ops-run restart-safely payment")
    progress = page.message(r"Runbook restart-safely on payment")
    page.wait(lambda: "waiting for a person" in progress.text)
    page.type(f"/ops-cancel {job_of(progress)}")
    page.message(r"Step Functions execution stopped")
    page.wait(lambda: "was stopped" in progress.text or "cancelled" in progress.text.lower())
