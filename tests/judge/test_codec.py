"""The judge's wire format carries plain data only, and refuses anything else."""
import struct

import msgpack
import numpy as np
import pytest

from autograder.judge.assembly import load_part

codec = load_part("codec")  # the one copy, in program/: the same file the child runs


def roundtrip(value):
    frame = codec.encode(value)
    length = codec.frame_length(frame[:codec.HEADER_SIZE])
    return codec.decode(frame[codec.HEADER_SIZE:codec.HEADER_SIZE + length])


def test_plain_values_survive_the_trip():
    value = {"cost": 0.5, "cache": (np.arange(6.0).reshape(2, 3), np.array([[True, False]])), "n": 3,
             "keys": ["W1", "b1"], "none": None, "nan": float("nan"), "inf": float("-inf"), "__init__": 1,
             "scalar": np.float64(2.5), "big-endian": np.arange(3, dtype=">i4"), "empty": np.zeros((0, 3)),
             "nested": ((1, [2.0, (3,)]),), "unicode": "θ³ — ε"}
    back = roundtrip(value)
    assert isinstance(back["cache"], tuple) and isinstance(back["nested"][0][1][1], tuple)
    np.testing.assert_array_equal(back["cache"][0], value["cache"][0])
    assert back["cache"][0].dtype == np.float64 and back["cache"][1].dtype == bool
    assert back["cache"][0].flags.writeable  # a student may update what it is given in place
    assert np.isnan(back["nan"]) and back["inf"] == float("-inf") and back["__init__"] == 1
    assert back["keys"] == ["W1", "b1"] and back["scalar"] == 2.5 and type(back["scalar"]) is float
    assert back["big-endian"].dtype == np.dtype(">i4") and back["empty"].shape == (0, 3)
    assert back["nested"] == ((1, [2.0, (3,)]),) and back["unicode"] == "θ³ — ε"


def test_non_contiguous_and_subclassed_arrays_travel_as_their_values():
    class Tagged(np.ndarray):
        pass
    a = np.arange(12.0).reshape(3, 4)
    back = roundtrip([a.T, a[:, ::2], a.view(Tagged)])
    np.testing.assert_array_equal(back[0], a.T)
    np.testing.assert_array_equal(back[1], a[:, ::2])
    assert type(back[2]) is np.ndarray


def _deep(levels):
    value = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("value", [object(), lambda: 1, np.array([object()]), {1: 2}, np.array(["a"]),
                                   b"raw bytes", {"a": {2.0: 1}}, _deep(40), 2 ** 70, [{1}],
                                   np.array([1 + 2j])])
def test_what_is_not_plain_data_is_refused(value):
    with pytest.raises(codec.CodecError):
        codec.encode(value)


def _array_ext(dtype: str, shape: tuple, raw: bytes) -> msgpack.ExtType:
    header = struct.pack(f">B{len(dtype)}sB{len(shape)}Q", len(dtype), dtype.encode(), len(shape), *shape)
    return msgpack.ExtType(1, header + raw)


def _deep_tuples(levels: int) -> bytes:
    payload = msgpack.packb([])
    for _ in range(levels):
        payload = msgpack.packb([msgpack.ExtType(2, payload)])
    return payload


@pytest.mark.parametrize("body", [
    b"not msgpack \xc1",
    msgpack.packb(_array_ext("|O", (1,), b"\0" * 8)),           # object array: pointers
    msgpack.packb(_array_ext("<f8", (5,), b"\0" * 8)),          # fewer bytes than its shape
    msgpack.packb(_array_ext("(2,)f8", (1,), b"\0" * 16)),      # a subarray dtype
    msgpack.packb(_array_ext("M8[s]", (1,), b"\0" * 8)),        # datetimes
    msgpack.packb(_array_ext("<f8", (2 ** 62, 4), b"")),        # a shape that overflows
    msgpack.packb(msgpack.ExtType(7, b"")),                     # an extension this codec never writes
    msgpack.packb({"a": b"bytes"}, use_bin_type=True),
    msgpack.packb({1: 2}),
    msgpack.packb(_deep(100)),
    _deep_tuples(5_000),                                        # would overflow the C stack if followed
    msgpack.packb(1) + msgpack.packb(2),                        # trailing data
    b"\xa3\xff\xfe\xfd",                                        # a str that is not UTF-8
])
def test_forged_frames_are_refused(body):
    with pytest.raises(codec.CodecError):
        codec.decode(body)


def test_an_oversized_frame_is_refused_before_reading_it():
    with pytest.raises(codec.CodecError):
        codec.frame_length((2 ** 40).to_bytes(8, "big"))


def test_numpy_strings_travel_as_plain_text():
    assert roundtrip({"block": np.str_("dW2")}) == {"block": "dW2"}

