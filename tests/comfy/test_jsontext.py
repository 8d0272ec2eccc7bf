"""ComfyUI's JSON read by orjson, with Python's json for what only it accepts."""

import json
import math

import pytest

from jobs.comfy import jsontext
from jobs.comfy.messages import Progress, parse_text


def test_a_frame_reads_as_the_standard_library_reads_it():
    frame = '{"type": "progress", "data": {"value": 3, "max": 20, "prompt_id": "p", "node": "3", "ü": [1.5]}}'
    assert jsontext.loads(frame) == json.loads(frame) == jsontext.loads(frame.encode())
    assert jsontext.loads(memoryview(frame.encode())) == json.loads(frame)
    assert parse_text(frame) == Progress(value=3, max=20, prompt_id="p", node="3")


def test_what_only_pythons_json_reads_is_read_all_the_same():
    """A Python server may send NaN, Infinity and integers past 64 bits (seeds, say)."""
    found = jsontext.loads('{"a": NaN, "b": -Infinity, "seed": 123456789012345678901234567890}')
    assert math.isnan(found["a"]) and found["b"] == -math.inf
    assert found["seed"] == 123456789012345678901234567890


@pytest.mark.parametrize("text", ["{", "", "[1,]", b"\xff\xfe{"])
def test_what_neither_reads_is_a_value_error(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)
