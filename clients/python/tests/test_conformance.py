"""docs/conformance/vectors.json: the Python codec decodes, refuses and re-encodes every vector as the
Swift reference does, the vectors cover every command and status, and the real broker answers every
refusal vector the way the vector says."""

from __future__ import annotations

import json
import os

import pytest
import zmq

from conftest import VECTORS
from parley import wire
from parley.wire import Command, Status

DOCUMENT = json.loads(VECTORS.read_text(encoding="utf-8"))
ALL = DOCUMENT["vectors"]
VALID = [v for v in ALL if "decode" in v]
REFUSED = [v for v in ALL if "refuse" in v]


def frame0(vector) -> bytes:
    return bytes.fromhex(vector["frames"][0])


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_decodes_to_the_expected_fields_and_re_encodes(vector):
    header = wire.decode(frame0(vector))
    assert header.command.name == vector["decode"]["command"]
    assert wire.to_json_fields(header) == vector["decode"]["fields"]
    assert header.encode() == frame0(vector)
    assert wire.from_json_fields(vector["decode"]["command"], vector["decode"]["fields"]).encode() == frame0(vector)


@pytest.mark.parametrize("vector", REFUSED, ids=[v["name"] for v in REFUSED])
def test_refusal_vector_is_refused_with_the_expected_reason(vector):
    with pytest.raises(wire.DecodeError) as refused:
        wire.decode(frame0(vector))
    assert vector["refuse"]["reason"] in str(refused.value)
    expected_id = vector["refuse"].get("callback_id")
    found = wire.request_callback_id(frame0(vector))
    assert (found.hex() if found else None) == expected_id


def test_the_vectors_cover_every_command_status_and_hostile_case():
    assert DOCUMENT["commands"] == {command.name: int(command) for command in Command}
    assert DOCUMENT["statuses"] == {status.name: int(status) for status in Status}
    decoded_commands = {v["decode"]["command"] for v in VALID}
    assert decoded_commands == {command.name for command in Command}, "a valid vector for every command"
    statuses = {v["decode"]["fields"]["status"] for v in VALID if v["decode"]["command"] == "RESULT"}
    assert statuses == {status.name for status in Status}, "a RESULT vector for every status"
    reasons = " | ".join(v["refuse"]["reason"] for v in REFUSED)
    for needle in ["header too short", "not a Parley header", "unsupported protocol version", "unknown command",
                   "header truncated in field", "unexpected bytes after the last header field", "invalid target",
                   "invalid timeout: must be at least 1 ms", "not valid UTF-8", "contains '.'", "unknown status",
                   "a handler may reply OK, DECLINED or FAILED, not", "invalid from: sequences start at 1"]:
        assert needle in reasons, f"no refusal vector for {needle!r}"
    assert len({v["name"] for v in ALL}) == len(ALL), "vector names are unique"


def test_the_real_broker_answers_every_refusal_vector_as_the_vector_says(broker):
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 3000)
    dealer.connect(broker.endpoint)
    try:
        for vector in REFUSED:
            dealer.send_multipart([bytes.fromhex(frame) for frame in vector["frames"]])
            answer = dealer.recv_multipart()
            header = wire.decode(answer[0])
            reason = answer[1].decode() if len(answer) > 1 else ""
            expected = vector["refuse"]
            assert header.command.name == expected["broker_reply"], vector["name"]
            assert header.status.name == expected["status"], vector["name"]
            assert expected["reason"] in reason, (vector["name"], reason)
            if header.command == Command.RESULT:
                assert header.callback_id.hex() == expected["callback_id"] and header.attempts == 0, vector["name"]
            else:
                assert header.refused_command == expected["error_command"], vector["name"]
                assert header.callback_id == wire.ZERO_ID, vector["name"]
        # ... and nothing else came: the next question gets its own answer.
        dealer.send(wire.encode(Command.STATUS))
        assert wire.decode(dealer.recv_multipart()[0]).command == Command.STATUS_REPLY
    finally:
        dealer.close()
        context.term()


def test_random_mutations_of_valid_vectors_decode_or_raise_decode_error_only():
    generator = __import__("random").Random(7)
    for vector in VALID:
        original = bytearray(frame0(vector))
        for _ in range(60):
            mutated = bytearray(original)
            choice = generator.random()
            if choice < 0.4 and mutated:
                mutated[generator.randrange(len(mutated))] = generator.randrange(256)
            elif choice < 0.7:
                del mutated[generator.randrange(len(mutated) + 1):]
            else:
                mutated += os.urandom(generator.randrange(1, 4))
            try:
                header = wire.decode(bytes(mutated))
            except wire.DecodeError:
                continue
            assert header.encode() == bytes(mutated), "whatever decodes re-encodes to the same bytes"


def _fast_decodes(frame: bytes):
    """What the hot path's decoders make of ``frame``: DELIVER's or RESULT's fields, or None."""
    return wire.decode_deliver(frame) or wire.decode_result(frame)


def _mutations(frame: bytes):
    yield frame
    for cut in range(len(frame)):
        yield frame[:cut]
    yield frame + b"\x00"
    for index in range(len(frame)):
        yield frame[:index] + bytes((frame[index] ^ 0x80,)) + frame[index + 1:]


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_the_hot_path_decoders_agree_with_decode_on_every_vector_and_its_mutations(vector):
    for frame in _mutations(frame0(vector)):
        try:
            header = wire.decode(frame)
        except wire.DecodeError:
            header = None
        fast = _fast_decodes(frame)
        if header is not None and header.command == Command.DELIVER:
            assert fast == wire.Deliver(**header.fields)
        elif header is not None and header.command == Command.RESULT:
            assert fast == (header.callback_id, header.status, header.attempts)
        else:
            assert fast is None, frame.hex()


@pytest.mark.parametrize("vector", [v for v in VALID if v["decode"]["command"] in ("REQUEST", "REPLY")],
                         ids=lambda v: v["name"])
def test_the_hot_path_encoders_write_what_encode_writes(vector):
    header = wire.decode(frame0(vector))
    if header.command == Command.REQUEST:
        fast = wire.request_frame(header.callback_id, header.kind, header.timeout_ms, header.target, header.content_type)
    else:
        fast = wire.reply_frame(header.delivery_id, header.status)
    assert fast == frame0(vector)


def test_the_request_encoder_refuses_an_over_long_content_type_as_encode_does():
    with pytest.raises(ValueError, match="at most 255"):
        wire.request_frame(bytes(16), wire.Kind.HELP, 1000, "cap:echo", "x" * 256)
