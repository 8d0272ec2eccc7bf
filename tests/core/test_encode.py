"""Events to tabs are encoded by orjson, with Python's json for what only it encodes."""

import json

from jobs.core.delivery import encode


def test_an_event_encodes_to_what_the_standard_library_reads_back():
    message = {"type": "job.updated", "seq": 3, "job": {"params": {"seed": 2**64 - 1, "t": "ü"}}, 7: None}
    assert json.loads(encode(message)) == {**{k: v for k, v in message.items() if k != 7}, "7": None}
    big = {"seed": 2**70}  # past 64 bits: orjson refuses it, the standard library encodes it
    assert json.loads(encode(big)) == big
