"""The judge's wire format carries plain data only, and refuses anything else."""
import numpy as np
import pytest

from autograder.judge import codec


def roundtrip(value):
    frame = codec.encode(value)
    length = codec.frame_length(frame[:codec.HEADER_SIZE])
    return codec.decode(frame[codec.HEADER_SIZE:codec.HEADER_SIZE + length])


def test_plain_values_survive_the_trip():
    value = {"cost": 0.5, "cache": (np.arange(6.0).reshape(2, 3), np.array([[True, False]])), "n": 3,
             "keys": ["W1", "b1"], "none": None, "nan": float("nan"), "__init__": 1}
    back = roundtrip(value)
    assert isinstance(back["cache"], tuple)
    np.testing.assert_array_equal(back["cache"][0], value["cache"][0])
    assert back["cache"][0].dtype == np.float64 and back["cache"][1].dtype == bool
    assert np.isnan(back["nan"]) and back["__init__"] == 1 and back["keys"] == ["W1", "b1"]


@pytest.mark.parametrize("value", [object(), lambda: 1, np.array([object()]), {1: 2}, np.array(["a"])])
def test_what_is_not_plain_data_is_refused(value):
    with pytest.raises(codec.CodecError):
        codec.encode(value)


@pytest.mark.parametrize("body", [b"not json", b'{"__ndarray__": "AAAA", "dtype": "|O", "shape": [1]}',
                                  b'{"__ndarray__": "AAAA", "dtype": "<f8", "shape": [5]}',
                                  b'{"__float__": "__import__(\'os\')"}'])
def test_forged_frames_are_refused(body):
    with pytest.raises(codec.CodecError):
        codec.decode(body)


def test_an_oversized_frame_is_refused_before_reading_it():
    with pytest.raises(codec.CodecError):
        codec.frame_length((2 ** 40).to_bytes(8, "big"))


def test_numpy_strings_travel_as_plain_text():
    assert roundtrip({"block": np.str_("dW2")}) == {"block": "dW2"}
