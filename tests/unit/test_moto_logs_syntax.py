"""The local moto's Logs Insights syntax check: what CloudWatch refuses with MalformedQueryException, and every
query opsbot builds from plain words passes."""

from __future__ import annotations

import pytest

from infra.devstack.moto_logs import malformed_query
from worker_function.operations.logs import insights_query


@pytest.mark.parametrize(
    "query",
    [
        "stats count(*) by",
        "stats by level",
        "filter @message like /(/",
        "filter @message like /unclosed",
        'filter @message like "unclosed',
        "fields | | limit 5",
        "fields @message |",
        "sort",
        "limit 0",
        "limit many",
        "fields @message | nonsense",
        "stats count(* by level",
    ],
)
def test_cloudwatch_would_refuse(query):
    assert malformed_query(query) is not None


@pytest.mark.parametrize(
    "query",
    [
        "fields @timestamp, @message | sort @timestamp desc | limit 20",
        "filter @message like /ERROR/ | stats count(*) by bin(5m)",
        'filter @message like "a|b" | limit 5',
        r"parse @message /(?<ip>\S+) GET/ | stats count(*) by ip",
        "filter @message =~ /timeout|refused/",
        "stats avg(duration) as d by service | sort d desc",
    ],
)
def test_valid_queries_pass(query):
    assert malformed_query(query) is None


@pytest.mark.parametrize("typed", ["", "ERROR", "a/b (c", "x|y", "[unclosed", "100% /", 'say "hi'])
def test_every_search_for_plain_words_passes(typed):
    assert malformed_query(insights_query(typed)) is None
