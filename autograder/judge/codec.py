"""Plain data over a pipe: length-prefixed JSON, numpy arrays as typed bytes.

Nothing decoded here can run code: only None, bool, int, float, str, lists, tuples, str-keyed
dicts and numpy arrays of numeric dtypes. This file imports nothing from the kit, because the
judge's child process runs it without the kit on its path.
"""
import base64
import json
import struct

import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a reply larger than this is refused, not read
_ALLOWED_KINDS = "fiub"
_HEADER = struct.Struct(">Q")


class CodecError(Exception):
    """A message that is not plain data, or a malformed frame."""


def _pack(value, depth=0):
    if depth > 16:
        raise CodecError("value nested too deeply")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _ALLOWED_KINDS + "U":
        return _pack(value.item(), depth + 1)
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(np.array(value, copy=True, subok=False))
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise CodecError(f"array of dtype {array.dtype} is not plain data")
        return {"__ndarray__": base64.b64encode(array.tobytes()).decode("ascii"),
                "dtype": array.dtype.str, "shape": list(array.shape)}
    if type(value) is list:
        return [_pack(v, depth + 1) for v in value]
    if type(value) is tuple:
        return {"__tuple__": [_pack(v, depth + 1) for v in value]}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise CodecError("dict keys must be strings")
        if any(k.startswith("__") and k.endswith("__") for k in value):
            return {"__dict__": [[k, _pack(v, depth + 1)] for k, v in value.items()]}
        return {k: _pack(v, depth + 1) for k, v in value.items()}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _pack(float(value), depth)
    raise CodecError(f"a {type(value).__name__} is not plain data")


def _unpack(value, depth=0):
    if depth > 18:
        raise CodecError("value nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_unpack(v, depth + 1) for v in value]
    if type(value) is not dict:
        raise CodecError(f"unexpected {type(value).__name__}")
    if "__ndarray__" in value:
        dtype = np.dtype(str(value["dtype"]))
        if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject:
            raise CodecError(f"dtype {dtype} is not allowed")
        shape = tuple(int(n) for n in value["shape"])
        if any(n < 0 for n in shape):
            raise CodecError("negative dimension")
        raw = base64.b64decode(value["__ndarray__"], validate=True)
        count = 1
        for n in shape:
            count *= n
        if len(raw) != count * dtype.itemsize:
            raise CodecError("array bytes do not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if "__tuple__" in value:
        return tuple(_unpack(v, depth + 1) for v in value["__tuple__"])
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise CodecError("bad float")
        return float(text)
    if "__dict__" in value:
        return {str(k): _unpack(v, depth + 1) for k, v in value["__dict__"]}
    return {k: _unpack(v, depth + 1) for k, v in value.items()}


def encode(message) -> bytes:
    """One frame: 8-byte big-endian length, then the JSON text."""
    body = json.dumps(_pack(message), allow_nan=False, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes):
    """The message in one frame's body."""
    try:
        return _unpack(json.loads(body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise CodecError(f"malformed message: {exc}") from None


def frame_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise CodecError(f"message of {length} bytes is larger than {MAX_MESSAGE_BYTES}")
    return length


HEADER_SIZE = _HEADER.size
