"""Plain data over a pipe: length-prefixed msgpack, numpy arrays as typed bytes.

Nothing decoded here can run code: only None, bool, int, float, str, lists, tuples, str-keyed
dicts and numpy arrays of numeric dtypes, checked after unpacking. msgpack does the packing in C,
because a student's checker makes about 1,300 calls a notebook to the judge's trusted functions.
A part of the zygote's program (README.md), so it imports nothing from the kit: the child runs it
without the kit on its path. The trusted judge reads the child's replies with the same file
(assembly.load_part).
"""
import functools
import struct

import msgpack
import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a reply larger than this is refused, not read
MAX_DEPTH = 16                         # containers within containers; honest messages use 4
_ALLOWED_KINDS = "fiub"
_HEADER = struct.Struct(">Q")
_ARRAY, _TUPLE = 1, 2                  # msgpack extension codes
_LEAVES = (type(None), bool, int, float, str)


class CodecError(Exception):
    """A message that is not plain data, or a malformed frame."""


@functools.lru_cache(maxsize=256)
def _array_header(dtype: np.dtype, shape: tuple) -> bytes:
    text = dtype.str.encode("ascii")
    return struct.pack(f">B{len(text)}sB{len(shape)}Q", len(text), text, len(shape), *shape)


def _array_bytes(array) -> bytes:
    """dtype, shape and the raw bytes of a numeric array, in one extension payload."""
    if type(array) is not np.ndarray or not array.flags.c_contiguous:
        array = np.ascontiguousarray(np.asarray(array))
    if array.dtype.kind not in _ALLOWED_KINDS:
        raise CodecError(f"array of dtype {array.dtype} is not plain data")
    return _array_header(array.dtype, array.shape) + array.tobytes()


@functools.lru_cache(maxsize=256)
def _array_layout(header: bytes) -> tuple:
    """(dtype, shape, count) from a header; refused unless a plain numeric dtype."""
    size = header[0]
    dtype = np.dtype(header[1:1 + size].decode("ascii"))
    if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject:
        raise CodecError(f"dtype {dtype} is not allowed")
    ndim = header[1 + size]
    shape = struct.unpack_from(f">{ndim}Q", header, 2 + size)
    count = 1
    for n in shape:
        count *= n
    return dtype, shape, count * dtype.itemsize


def _array_from(payload: bytes):
    size = payload[0]
    start = 2 + size + 8 * payload[1 + size]
    dtype, shape, nbytes = _array_layout(payload[:start])
    if len(payload) - start != nbytes:
        raise CodecError("array bytes do not match its shape")
    # a bytearray of its own: the array is writable (a student may update it in place), one copy
    return np.frombuffer(bytearray(memoryview(payload)[start:]), dtype=dtype).reshape(shape)


def _new_ext(fields, _new=tuple.__new__, _ext=msgpack.ExtType):
    """msgpack.ExtType without its Python-level argument checks (the code and bytes are ours)."""
    return _new(_ext, fields)


#: A tuple travels as a list that starts with this mark, so packing never recurses through Python.
_TUPLE_MARK = msgpack.ExtType(_TUPLE, b"")


def _default(value):
    """What msgpack cannot pack by itself (strict types: subclasses come here too)."""
    if isinstance(value, np.ndarray):
        return _new_ext((_ARRAY, _array_bytes(value)))
    if isinstance(value, np.generic) and value.dtype.kind in _ALLOWED_KINDS + "U":
        return value.item()
    if type(value) is tuple:
        return [_TUPLE_MARK, *value]
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    raise CodecError(f"a {type(value).__name__} is not plain data")


class _Mark:
    """What the tuple mark unpacks to; anywhere but first in a list, _plain_in refuses it."""


_MARK = _Mark()


def _ext(code, payload):
    if code == _ARRAY:
        return _array_from(payload)
    if code == _TUPLE and not payload:
        return _MARK
    raise CodecError(f"extension {code} not allowed here")


def _list(items):
    return tuple(items[1:]) if items and items[0] is _MARK else items


def _plain_out(value, depth=0):
    """Before packing: str keys only, and no deeper than MAX_DEPTH (msgpack would take both)."""
    kind = type(value)
    if kind is bytes or kind is bytearray or kind is memoryview:
        raise CodecError("raw bytes are not plain data")
    if kind is dict or kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise CodecError("value nested too deeply")
        if kind is dict:
            if not all(type(k) is str for k in value):
                raise CodecError("dict keys must be strings")
            value = value.values()
        for item in value:
            _plain_out(item, depth + 1)


def _plain_in(value, depth=0):
    """After unpacking: refuse what is not plain data (bytes, say) or nests deeper than MAX_DEPTH."""
    if type(value) in _LEAVES or type(value) is np.ndarray:
        return
    if depth >= MAX_DEPTH:
        raise CodecError("value nested too deeply")
    if type(value) in (list, tuple):
        for item in value:
            _plain_in(item, depth + 1)
    elif type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise CodecError("dict keys must be strings")
            _plain_in(item, depth + 1)
    else:
        raise CodecError(f"unexpected {type(value).__name__}")


def encode(message) -> bytes:
    """One frame: 8-byte big-endian length, then the msgpack body."""
    _plain_out(message)
    try:
        body = msgpack.packb(message, default=_default, strict_types=True, use_bin_type=True)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise CodecError(f"not plain data: {exc}") from None
    return _HEADER.pack(len(body)) + body


def decode(body: bytes):
    """The message in one frame's body."""
    try:
        value = msgpack.unpackb(body, ext_hook=_ext, list_hook=_list, raw=False, strict_map_key=True)
    except CodecError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever msgpack or numpy refuses is a malformed frame
        raise CodecError(f"malformed message: {type(exc).__name__}: {exc}") from None
    _plain_in(value)
    return value


def frame_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise CodecError(f"message of {length} bytes is larger than {MAX_MESSAGE_BYTES}")
    return length


HEADER_SIZE = _HEADER.size
