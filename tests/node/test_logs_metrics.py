"""Structured logs (one line an event, key=value or JSON) and the Prometheus text exposition."""

from __future__ import annotations

import io
import json

import pytest

from node.logs import get_logger, parse_level, setup_logging
from node.metrics import Metrics


def test_plain_lines_are_key_value_with_quoting() -> None:
    out = io.StringIO()
    setup_logging("info", "plain", out)
    log = get_logger("consensus")
    log.info("committed block", height=5, hash=b"\xab\xcd", reason="two words")
    log.debug("hidden")
    line = out.getvalue().strip()
    assert "\n" not in line
    assert 'level=info module=consensus msg="committed block" height=5 hash=ABCD reason="two words"' in line


def test_json_lines_parse() -> None:
    out = io.StringIO()
    setup_logging("debug", "json", out)
    get_logger("p2p").debug("peer", peer="ab", n=3)
    doc = json.loads(out.getvalue())
    assert doc["module"] == "p2p" and doc["n"] == 3 and doc["level"] == "debug"


def test_bad_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        parse_level("loud")


def test_metrics_render_prometheus_text() -> None:
    m = Metrics("egp-test")
    m.observe_block(7, 1, 3, None)
    m.observe_block(8, 0, 2, 0.8)
    m.peers, m.mempool_size = 3, 4
    text = m.render()
    assert 'egp_consensus_height{chain_id="egp-test"} 8' in text
    assert 'egp_consensus_total_txs{chain_id="egp-test"} 5' in text
    assert 'egp_p2p_peers{chain_id="egp-test"} 3' in text
    assert 'egp_consensus_block_interval_seconds_bucket{chain_id="egp-test",le="1.0"} 1' in text
    assert 'egp_consensus_block_interval_seconds_count{chain_id="egp-test"} 1' in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.split(" ")) == 2
