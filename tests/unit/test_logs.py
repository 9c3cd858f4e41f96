from __future__ import annotations

import json
import logging

from cluster.logs import JsonFormatter


def test_one_json_object_per_record_with_extra_fields() -> None:
    formatter = JsonFormatter({"node": "n1"})
    record = logging.makeLogRecord({"name": "x", "levelno": 20, "levelname": "INFO", "msg": "hi %s", "args": ("a",)})
    record.request_id = "r1"
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "hi a"
    assert entry["node"] == "n1"
    assert entry["request_id"] == "r1"
    assert entry["level"] == "info"
    assert entry["ts"].endswith("Z")
