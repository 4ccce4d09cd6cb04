"""The Parley wire protocol, version 1: header frames encoded and decoded (docs/PROTOCOL.md, §1–§4).

Pure: no sockets. Every header is ``50 01 <command>`` followed by the command's fields; integers are
big-endian, strings a length byte plus UTF-8, ids 16 opaque bytes. Decoding is strict, exactly as the
reference decoder (Sources/ParleyWire): every field present, no byte after the last one, names checked.
The refusal texts are the reference decoder's, so that ``DecodeError`` reads like the broker's ERROR body.

>>> frame = encode(Command.HEARTBEAT)
>>> frame.hex()
'500103'
>>> decode(frame).command
<Command.HEARTBEAT: 3>
"""

from __future__ import annotations

import enum
import functools
import struct
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Type, TypeVar

PROTOCOL_VERSION = 1
SIGNATURE = 0x50

MAX_AGENT = 64
MAX_LAYER = 32
MAX_CAPABILITY = 64
MAX_CAPABILITIES = 32
#: At most this many events in one CONFIRMS (protocol 1.1).
MAX_CONFIRMS = 4096
#: Protocol 1.1 features a HELLO may ask for: the broker may confirm several events at once with CONFIRMS.
FEATURE_CONFIRM_BATCHES = 0x01
MAX_EVENT = 64

ZERO_ID = bytes(16)


class Command(enum.IntEnum):
    """Command codes, the third byte of every header."""

    HELLO = 0x01
    WELCOME = 0x02
    HEARTBEAT = 0x03
    BYE = 0x04
    REQUEST = 0x10
    DELIVER = 0x11
    PROGRESS = 0x12
    EXTENDED = 0x13
    CANCEL = 0x14
    REVOKE = 0x15
    REPLY = 0x16
    RESULT = 0x17
    ERROR = 0x18
    STATUS = 0x20
    STATUS_REPLY = 0x21
    ADMIN = 0x22
    ADMIN_REPLY = 0x23
    PUBLISH = 0x30
    CONFIRM = 0x31
    EVENT = 0x32
    REPLAY = 0x33
    GAP = 0x34
    REPLAY_END = 0x35
    BEACON = 0x36
    CONFIRMS = 0x37
    GATEWAY_HELLO = 0x40
    FORWARD = 0x41

    def __str__(self) -> str:
        return self.name


class Status(enum.IntEnum):
    """The outcome of a request (REPLY, RESULT, ERROR)."""

    OK = 0
    DECLINED = 1
    FAILED = 2
    TIMEOUT = 3
    NO_ROUTE = 4
    UNAUTHORIZED = 5
    OVERLOADED = 6
    BAD_REQUEST = 7
    UNAVAILABLE = 8
    CANCELLED = 9

    def __str__(self) -> str:
        return self.name

    @property
    def is_handler_status(self) -> bool:
        """Whether a handler may REPLY with it (the others are the broker's to give)."""
        return self in (Status.OK, Status.DECLINED, Status.FAILED)


class AdminAction(enum.IntEnum):
    """What an ADMIN asks the broker to do (PROTOCOL.md section 6.15)."""

    EVICT = 1
    PURGE = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Kind(enum.IntEnum):
    """What a request asks for."""

    HELP = 1
    CLARIFICATION = 2
    COORDINATE = 3
    CALL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        """The lower-case name used in documents and logs: ``help``, ``clarification`` …"""
        return self.name.lower()

    @classmethod
    def parse(cls, value: "Kind | str | int") -> "Kind":
        if isinstance(value, Kind):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"unknown request kind {value!r}; use help, clarification, coordinate or call") from None
        return cls(value)


class DecodeError(ValueError):
    """A header frame that cannot be decoded. ``str(error)`` is the reference decoder's text."""


# --------------------------------------------------------------------------------------------------
# Names (PROTOCOL.md §3)


def _name_problem(text: str, what: str, maximum: int, allow_dot: bool, lower_only: bool) -> Optional[str]:
    data = text.encode("utf-8")
    if not data:
        return f"{what} is empty"
    if len(data) > maximum:
        return f"{what} is longer than {maximum} bytes"
    for byte in data:
        if 0x61 <= byte <= 0x7A or 0x30 <= byte <= 0x39 or byte in (0x5F, 0x2D):
            continue
        if 0x41 <= byte <= 0x5A and not lower_only:
            continue
        if byte == 0x2E and allow_dot:
            continue
        allowed = ("a-z" if lower_only else "A-Z a-z") + " 0-9 _ -" + (" ." if allow_dot else "")
        return f"{what} '{text}' contains '{chr(byte)}'; allowed: {allowed}"
    return None


def agent_problem(text: str) -> Optional[str]:
    """Why ``text`` is not an agent id (1–64 of ``A–Z a–z 0–9 _ -``), or None."""
    return _name_problem(text, "agent id", MAX_AGENT, False, False)


def layer_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a layer name (1–32 of ``a–z 0–9 _ -``), or None."""
    return _name_problem(text, "layer", MAX_LAYER, False, True)


def capability_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a capability (1–64 of ``A–Z a–z 0–9 _ - .``), or None."""
    return _name_problem(text, "capability", MAX_CAPABILITY, True, False)


def event_problem(text: str) -> Optional[str]:
    """Why ``text`` is not an event name (1–64 of ``A–Z a–z 0–9 _ -``), or None."""
    return _name_problem(text, "event name", MAX_EVENT, False, False)


def target_problem(text: str) -> Optional[str]:
    """Why ``text`` is not ``agent:<id>``, ``cap:<name>`` or ``layer:<name>[/<cap>]``, or None."""
    scheme, colon, rest = text.partition(":")
    if not colon:
        return "no scheme"
    if scheme == "agent":
        return agent_problem(rest)
    if scheme == "cap":
        return capability_problem(rest)
    if scheme == "layer":
        layer, slash, capability = rest.partition("/")
        return layer_problem(layer) or (capability_problem(capability) if slash else None)
    return "unknown scheme"


def topic_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a topic ``callback.<agent>.<event>``, or None."""
    if not text.startswith("callback."):
        return f"topic '{text[:80]}' does not start with 'callback.'"
    parts = text[len("callback."):].split(".")
    if len(parts) != 2:
        return f"topic '{text[:80]}' is not callback.<agent>.<event> (agent ids and event names contain no '.')"
    return agent_problem(parts[0]) or event_problem(parts[1])


def selector_problem(text: str) -> Optional[str]:
    """Why ``text`` is neither a topic nor an agent selector ``callback.<agent>.``, or None."""
    if topic_problem(text) is None:
        return None
    if text.startswith("callback.") and text.endswith(".") and len(text) > len("callback.") + 1:
        if agent_problem(text[len("callback."):-1]) is None:
            return None
    return f"'{text[:80]}' is neither callback.<agent>.<event> nor callback.<agent>."


def topic(agent: str, event: str) -> str:
    """The topic ``callback.<agent>.<event>``; ValueError when a name breaks the rules."""
    problem = agent_problem(agent) or event_problem(event)
    if problem:
        raise ValueError(problem)
    return f"callback.{agent}.{event}"


def topic_frame(selector: str) -> bytes:
    """The events-socket subscription prefix of a topic or agent selector (always ends with ``.``)."""
    return (selector if selector.endswith(".") else selector + ".").encode("utf-8")


def selector_covers(selector: str, topic_text: str) -> bool:
    """Whether a topic or agent selector covers ``topic_text``."""
    if selector.endswith("."):
        return topic_text.startswith(selector) and "." not in topic_text[len(selector):]
    return selector == topic_text


# --------------------------------------------------------------------------------------------------
# Layouts: each command's fields, in order, as (attribute, wire name, type). The wire name is the one
# refusals use ("header truncated in field 'callback id'").

_REQUEST_FIELDS = [
    ("callback_id", "callback id", "id16"),
    ("kind", "kind", "kind"),
    ("timeout_ms", "timeout", "timeout"),
    ("target", "target", "target"),
    ("content_type", "content type", "str"),
]

LAYOUTS: Dict[Command, List[Tuple[str, str, str]]] = {
    Command.HELLO: [("instance", "instance", "u64"), ("agent_id", "agent id", "agent"), ("layer", "layer", "layer"),
                    ("capabilities", "capability", "capabilities"), ("features", "features", "features")],
    Command.WELCOME: [("heartbeat_ms", "heartbeat", "u32"), ("liveness", "liveness", "u8"), ("max_body", "max body", "u32"),
                      ("features", "features", "features")],
    Command.HEARTBEAT: [],
    Command.BYE: [],
    Command.REQUEST: _REQUEST_FIELDS,
    Command.DELIVER: [("delivery_id", "delivery id", "u64"), ("callback_id", "callback id", "id16"), ("kind", "kind", "kind"),
                      ("attempt", "attempt", "u8"), ("timeout_ms", "timeout", "u32"), ("requester", "requester", "str"),
                      ("requester_layer", "requester layer", "str"), ("content_type", "content type", "str")],
    Command.PROGRESS: [("delivery_id", "delivery id", "u64"), ("extend_ms", "extend", "u32")],
    Command.EXTENDED: [("callback_id", "callback id", "id16"), ("timeout_ms", "timeout", "u32")],
    Command.CANCEL: [("callback_id", "callback id", "id16")],
    Command.REVOKE: [("delivery_id", "delivery id", "u64")],
    Command.REPLY: [("delivery_id", "delivery id", "u64"), ("status", "status", "handler_status")],
    Command.RESULT: [("callback_id", "callback id", "id16"), ("status", "status", "status"), ("attempts", "attempts", "u8")],
    Command.ERROR: [("status", "status", "status"), ("refused_command", "command", "u8"), ("callback_id", "callback id", "id16")],
    Command.STATUS: [],
    Command.STATUS_REPLY: [],
    Command.ADMIN: [("action", "action", "admin_action"), ("target", "target", "str")],
    Command.ADMIN_REPLY: [("status", "status", "status"), ("action", "action", "admin_action")],
    Command.PUBLISH: [("event_id", "event id", "id16"), ("topic", "topic", "topic"), ("content_type", "content type", "str")],
    Command.CONFIRM: [("event_id", "event id", "id16"), ("sequence", "sequence", "u64"), ("timestamp", "timestamp", "u64")],
    Command.EVENT: [("sequence", "sequence", "u64"), ("timestamp", "timestamp", "u64"), ("event_id", "event id", "id16"),
                    ("topic", "topic", "topic"), ("content_type", "content type", "str")],
    Command.REPLAY: [("selector", "topic", "selector"), ("from_", "from", "u64"), ("to", "to", "u64")],
    Command.GAP: [("topic", "topic", "topic"), ("from_", "from", "u64"), ("to", "to", "u64")],
    Command.REPLAY_END: [("selector", "topic", "selector"), ("events", "events", "u32"), ("truncated", "truncated", "flag")],
    Command.BEACON: [("topic", "topic", "topic"), ("latest", "latest", "u64")],
    Command.CONFIRMS: [("first_sequence", "first sequence", "first_sequence"), ("timestamp", "timestamp", "u64"),
                       ("event_ids", "event id", "event_ids")],
    Command.GATEWAY_HELLO: [("instance", "instance", "u64"), ("gateway_id", "gateway id", "agent"), ("token", "token", "str")],
    Command.FORWARD: _REQUEST_FIELDS + [("caller", "caller", "agent"), ("caller_layer", "caller layer", "layer")],
}


class Header:
    """A decoded (or to-be-encoded) header: a command and its fields, readable as attributes.

    ``from`` is a Python keyword, so REPLAY's and GAP's ``from`` field is the attribute ``from_``; ERROR's
    ``command`` field is ``refused_command`` (``command`` is the header's own command).
    Ids are 16-byte ``bytes``; statuses and kinds are ``Status`` and ``Kind``; strings are ``str``.
    """

    __slots__ = ("command", "fields")

    def __init__(self, command: Command, /, **fields: Any) -> None:
        self.command = Command(command)
        self.fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(f"{self.command.name} has no field {name!r}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Header) and self.command == other.command and self.fields == other.fields

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v.hex() if isinstance(v, bytes) else v!r}" for k, v in self.fields.items())
        return f"Header({self.command.name}{', ' if inner else ''}{inner})"

    def encode(self) -> bytes:
        return encode(self.command, **self.fields)


# --------------------------------------------------------------------------------------------------
# Decoding


class _Reader:
    __slots__ = ("data", "offset")

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def take(self, size: int, field: str) -> bytes:
        if self.remaining < size:
            raise DecodeError(f"header truncated in field '{field}'")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def byte(self, field: str) -> int:
        return self.take(1, field)[0]

    def string(self, field: str) -> str:
        length = self.byte(field)
        raw = self.take(length, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"invalid {field}: not valid UTF-8") from None

    def name(self, field: str, problem: Callable[[str], Optional[str]]) -> str:
        text = self.string(field)
        reason = problem(text)
        if reason:
            raise DecodeError(f"invalid {field}: {reason}")
        return text


_Code = TypeVar("_Code", Kind, Status, AdminAction)


def _code(reader: _Reader, wire: str, codes: Type[_Code], unknown: str) -> _Code:
    """A one-byte code of `codes`; an unknown value is refused with `unknown` and the value."""
    raw = reader.byte(wire)
    try:
        return codes(raw)
    except ValueError:
        raise DecodeError(f"{unknown} {raw}") from None


def _read(reader: _Reader, wire: str, kind: str) -> Any:
    if kind == "u8":
        return reader.byte(wire)
    if kind == "u32":
        return struct.unpack(">I", reader.take(4, wire))[0]
    if kind == "u64":
        return struct.unpack(">Q", reader.take(8, wire))[0]
    if kind == "id16":
        return reader.take(16, wire)
    if kind == "str":
        return reader.string(wire)
    if kind == "agent":
        return reader.name(wire, agent_problem)
    if kind == "layer":
        return reader.name(wire, layer_problem)
    if kind == "capabilities":
        count = reader.byte("capability count")
        if count > MAX_CAPABILITIES:
            raise DecodeError(f"invalid capability count: {count} exceeds {MAX_CAPABILITIES}")
        return [reader.name("capability", capability_problem) for _ in range(count)]
    if kind == "kind":
        return _code(reader, wire, Kind, "invalid kind: unknown kind")
    if kind in ("status", "handler_status"):
        status = _code(reader, wire, Status, "invalid status: unknown status")
        if kind == "handler_status" and not status.is_handler_status:
            raise DecodeError(f"invalid status: a handler may reply OK, DECLINED or FAILED, not {status.name}")
        return status
    if kind == "admin_action":
        return _code(reader, wire, AdminAction, "invalid action: unknown admin action")
    if kind == "timeout":
        value = struct.unpack(">I", reader.take(4, wire))[0]
        if value == 0:
            raise DecodeError("invalid timeout: must be at least 1 ms")
        return value
    if kind == "target":
        text = reader.string(wire)
        if target_problem(text):
            raise DecodeError(f"invalid target: '{text}' is not agent:<id>, cap:<name> or layer:<name>[/<cap>]")
        return text
    if kind == "topic":
        text = reader.string(wire)
        problem = topic_problem(text)
        if problem:
            raise DecodeError(f"invalid topic: {problem}")
        return text
    if kind == "selector":
        text = reader.string(wire)
        problem = selector_problem(text)
        if problem:
            raise DecodeError(f"invalid topic: {problem}")
        return text
    if kind == "features":  # protocol 1.1: an optional last byte of HELLO and WELCOME
        return reader.byte(wire) if reader.remaining else None
    if kind == "first_sequence":
        first = struct.unpack(">Q", reader.take(8, wire))[0]
        if first < 1:
            raise DecodeError("invalid first sequence: sequences start at 1")
        return first
    if kind == "event_ids":
        count = struct.unpack(">H", reader.take(2, "count"))[0]
        if not 1 <= count <= MAX_CONFIRMS:
            raise DecodeError(f"invalid count: {count} is not from 1 to {MAX_CONFIRMS}")
        return [reader.take(16, wire) for _ in range(count)]
    if kind == "flag":
        raw = reader.byte(wire)
        if raw > 1:
            raise DecodeError(f"invalid truncated: must be 0 or 1, not {raw}")
        return raw == 1
    raise AssertionError(kind)


def decode(frame: bytes) -> Header:
    """Decodes and validates one header frame; raises ``DecodeError`` with the reference decoder's text."""
    data = bytes(frame)
    if len(data) < 3:
        raise DecodeError(f"header too short: {len(data)} bytes, at least 3 needed")
    if data[0] != SIGNATURE:
        raise DecodeError(f"not a Parley header: first byte 0x{data[0]:x}, expected 0x50 ('P')")
    if data[1] != PROTOCOL_VERSION:
        raise DecodeError(f"unsupported protocol version {data[1]}; this broker speaks {PROTOCOL_VERSION}")
    command = _COMMAND_BY_CODE.get(data[2])
    if command is None:
        raise DecodeError(f"unknown command 0x{data[2]:x}")
    reader = _Reader(data, 3)
    fields = {attribute: _read(reader, wire, kind) for attribute, wire, kind in LAYOUTS[command]}
    if fields.get("features", 0) is None:
        del fields["features"]  # a protocol 1.0 HELLO or WELCOME
    if command == Command.REPLAY:
        if fields["from_"] < 1:
            raise DecodeError("invalid from: sequences start at 1")
        if fields["to"] != 0 and fields["to"] < fields["from_"]:
            raise DecodeError(f"invalid to: {fields['to']} is before from {fields['from_']}")
    if reader.remaining:
        raise DecodeError(f"{reader.remaining} unexpected bytes after the last header field")
    return Header(command, **fields)


def request_callback_id(frame: bytes) -> Optional[bytes]:
    """The callback id of a REQUEST or FORWARD header whose later fields may be bad (as the broker reads it)."""
    if len(frame) >= 19 and frame[0] == SIGNATURE and frame[1] == PROTOCOL_VERSION and frame[2] in (Command.REQUEST, Command.FORWARD):
        return bytes(frame[3:19])
    return None


# --------------------------------------------------------------------------------------------------
# The hot path: the messages of a request/reply round trip, without a ``Header`` (a request costs a few
# microseconds of interpreter time instead of tens). Each fast decoder returns None for anything but a
# well-formed frame of its command, and the caller then takes ``decode``, which says why.

_COMMAND_BY_CODE: Dict[int, Command] = {int(command): command for command in Command}
_KIND_BY_CODE: Dict[int, Kind] = {int(kind): kind for kind in Kind}
_STATUS_BY_CODE: Dict[int, Status] = {int(status): status for status in Status}
KIND_LABELS: Dict[Kind, str] = {kind: kind.name.lower() for kind in Kind}


class Deliver(NamedTuple):
    """DELIVER's fields (PROTOCOL.md §6.6), as ``decode_deliver`` returns them."""

    delivery_id: int
    callback_id: bytes
    kind: Kind
    attempt: int
    timeout_ms: int
    requester: str
    requester_layer: str
    content_type: str


_DELIVER_FIXED = struct.Struct(">3sQ16sBBI")
_DELIVER_PREFIX = bytes((SIGNATURE, PROTOCOL_VERSION, Command.DELIVER))
_RESULT = struct.Struct(">3s16sBB")
_RESULT_PREFIX = bytes((SIGNATURE, PROTOCOL_VERSION, Command.RESULT))
_REQUEST_FIXED = struct.Struct(">3s16sBI")
_REQUEST_PREFIX = bytes((SIGNATURE, PROTOCOL_VERSION, Command.REQUEST))
_REPLY = struct.Struct(">3sQB")
_REPLY_PREFIX = bytes((SIGNATURE, PROTOCOL_VERSION, Command.REPLY))
_LENGTHS = [bytes((n,)) for n in range(256)]


def command_code(frame: bytes) -> int:
    """The command byte of a frame that starts as a version-1 header; -1 otherwise."""
    if len(frame) >= 3 and frame[0] == SIGNATURE and frame[1] == PROTOCOL_VERSION:
        return frame[2]
    return -1


def _deliver_strings(tail: bytes) -> Optional[Tuple[str, str, str]]:
    """DELIVER's three strings (requester, requester layer, content type) filling ``tail`` exactly, or None."""
    try:
        end = 1 + tail[0]
        requester = tail[1:end].decode("utf-8")
        start, end = end + 1, end + 1 + tail[end]
        requester_layer = tail[start:end].decode("utf-8")
        start, end = end + 1, end + 1 + tail[end]
        content_type = tail[start:end].decode("utf-8")
    except (IndexError, UnicodeDecodeError):
        return None
    return (requester, requester_layer, content_type) if end == len(tail) else None


_DELIVER_TAILS: Dict[bytes, Tuple[str, str, str]] = {}  # the few requesters' strings, decoded once
_new_deliver = functools.partial(tuple.__new__, Deliver)  # a Deliver from a tuple, without NamedTuple's __new__


def decode_deliver(frame: bytes) -> Optional[Deliver]:
    """A well-formed DELIVER's fields, or None (then ``decode`` says what is wrong with the frame)."""
    try:
        prefix, delivery_id, callback_id, kind, attempt, timeout_ms = _DELIVER_FIXED.unpack_from(frame)
    except struct.error:
        return None
    if prefix != _DELIVER_PREFIX or kind not in _KIND_BY_CODE:
        return None
    tail = frame[33:]
    strings = _DELIVER_TAILS.get(tail)
    if strings is None:
        strings = _deliver_strings(tail)
        if strings is None:
            return None
        if len(_DELIVER_TAILS) >= 256:
            _DELIVER_TAILS.clear()
        _DELIVER_TAILS[tail] = strings
    return _new_deliver((delivery_id, callback_id, _KIND_BY_CODE[kind], attempt, timeout_ms) + strings)


def decode_result(frame: bytes) -> Optional[Tuple[bytes, Status, int]]:
    """A well-formed RESULT's callback id, status and attempts, or None (then ``decode`` says why)."""
    if len(frame) != 21:
        return None
    prefix, callback_id, status, attempts = _RESULT.unpack(frame)
    if prefix != _RESULT_PREFIX or status not in _STATUS_BY_CODE:
        return None
    return callback_id, _STATUS_BY_CODE[status], attempts


def request_frame(callback_id: bytes, kind: Kind, timeout_ms: int, target: str, content_type: str) -> bytes:
    """``encode(Command.REQUEST, ...)``, faster."""
    target_bytes, type_bytes = target.encode("utf-8"), content_type.encode("utf-8")
    if len(callback_id) != 16 or len(target_bytes) > 255 or len(type_bytes) > 255:
        return encode(Command.REQUEST, callback_id=callback_id, kind=kind, timeout_ms=timeout_ms, target=target,
                      content_type=content_type)  # raises as it does
    return b"".join((_REQUEST_FIXED.pack(_REQUEST_PREFIX, callback_id, kind, timeout_ms), _LENGTHS[len(target_bytes)],
                     target_bytes, _LENGTHS[len(type_bytes)], type_bytes))


def reply_frame(delivery_id: int, status: Status) -> bytes:
    """``encode(Command.REPLY, delivery_id=..., status=...)``, faster."""
    return _REPLY.pack(_REPLY_PREFIX, delivery_id, status)


# --------------------------------------------------------------------------------------------------
# Encoding


def _put_string(out: bytearray, text: str, wire: str) -> None:
    data = text.encode("utf-8")
    if len(data) > 255:
        raise ValueError(f"{wire} is {len(data)} bytes long; a str8 holds at most 255")
    out.append(len(data))
    out += data


def _write(out: bytearray, value: Any, attribute: str, wire: str, kind: str) -> None:
    if kind == "features":
        if value is not None:
            out.append(int(value) & 0xFF)
    elif kind == "event_ids":
        ids = [bytes.fromhex(item) if isinstance(item, str) else bytes(item) for item in value]
        if not 1 <= len(ids) <= MAX_CONFIRMS or any(len(item) != 16 for item in ids):
            raise ValueError(f"{wire}s: 1 to {MAX_CONFIRMS} ids of 16 bytes")
        out += struct.pack(">H", len(ids))
        for item in ids:
            out += item
    elif kind == "first_sequence":
        out += struct.pack(">Q", int(value))
    elif kind in ("u8", "flag"):
        out.append(int(value) & 0xFF if kind == "u8" else (1 if value else 0))
    elif kind in ("u32", "timeout"):
        out += struct.pack(">I", int(value))
    elif kind == "u64":
        out += struct.pack(">Q", int(value))
    elif kind == "id16":
        raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
        if len(raw) != 16:
            raise ValueError(f"{wire} must be 16 bytes, not {len(raw)}")
        out += raw
    elif kind == "capabilities":
        names = list(value)
        if len(names) > 255:
            raise ValueError("too many capabilities")
        out.append(len(names))
        for name in names:
            _put_string(out, name, "capability")
    elif kind == "kind":
        out.append(int(Kind.parse(value)))
    elif kind == "admin_action":
        out.append(int(AdminAction[value.upper()] if isinstance(value, str) else value))
    elif kind in ("status", "handler_status"):
        out.append(int(Status[value] if isinstance(value, str) else value))
    else:
        _put_string(out, value, wire)


def encode(command: "Command | int", /, **fields: Any) -> bytes:
    """Encodes a header. Fields are named as in ``LAYOUTS`` (``from_`` for ``from``, ``refused_command`` for
    ERROR's ``command``). Names and values are not validated beyond what the encoding needs: the broker
    refuses what breaks the rules."""
    command = Command(command)
    out = bytearray((SIGNATURE, PROTOCOL_VERSION, int(command)))
    for attribute, wire, kind in LAYOUTS[command]:
        if attribute not in fields and kind != "features":
            raise TypeError(f"{command.name} needs the field {attribute!r}")
        _write(out, fields.get(attribute), attribute, wire, kind)
    extra = set(fields) - {attribute for attribute, _, _ in LAYOUTS[command]}
    if extra:
        raise TypeError(f"{command.name} has no field(s) {', '.join(sorted(extra))}")
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# The conformance vectors' JSON form (docs/conformance/vectors.json)

_U64_FIELDS = {"instance", "delivery_id", "sequence", "timestamp", "from_", "to", "latest", "first_sequence"}
_JSON_KEYS = {"from_": "from", "refused_command": "command"}


def to_json_fields(header: Header) -> Dict[str, Any]:
    """The header's fields as docs/conformance/vectors.json writes them."""
    result: Dict[str, Any] = {}
    for attribute, value in header.fields.items():
        key = _JSON_KEYS.get(attribute, attribute)
        if attribute in _U64_FIELDS:
            result[key] = str(value)
        elif isinstance(value, bytes):
            result[key] = value.hex()
        elif attribute == "event_ids":
            result[key] = [item.hex() for item in value]
        elif isinstance(value, Status):
            result[key] = value.name
        elif isinstance(value, (Kind, AdminAction)):
            result[key] = value.label
        else:
            result[key] = value
    return result


def from_json_fields(command: str, fields: Dict[str, Any]) -> Header:
    """The header docs/conformance/vectors.json describes (the inverse of ``to_json_fields``)."""
    cmd = Command[command]
    values: Dict[str, Any] = {}
    for attribute, _, kind in LAYOUTS[cmd]:
        if kind == "features" and "features" not in fields:
            continue  # a protocol 1.0 HELLO or WELCOME
        value = fields[_JSON_KEYS.get(attribute, attribute)]
        if kind == "event_ids":
            value = [bytes.fromhex(item) for item in value]
        elif attribute in _U64_FIELDS:
            value = int(value)
        elif kind == "id16":
            value = bytes.fromhex(value)
        elif kind in ("status", "handler_status"):
            value = Status[value]
        elif kind == "kind":
            value = Kind.parse(value)
        elif kind == "admin_action":
            value = AdminAction[value.upper()]
        values[attribute] = value
    return Header(cmd, **values)


def describe(frames: Sequence[bytes]) -> str:
    """A short human description of a message, for logs."""
    try:
        return repr(decode(frames[0]))
    except DecodeError as error:
        return f"<undecodable: {error}>"
