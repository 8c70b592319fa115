import pytest

from policy.errors import PayloadOutOfRange, WatermarkKeyInvalid
from policy.watermark import ALGORITHM_ID, WatermarkKey, WatermarkPayload


def test_key_round_trips_through_hex_and_hides_secret():
    key = WatermarkKey.generate()
    again = WatermarkKey.from_hex(key.to_hex())
    assert again == key
    assert len(key.key_id) == 16 and key.key_id == again.key_id
    assert key.to_hex() not in repr(key) and key.key_id in repr(key)
    assert WatermarkKey.generate().key_id != key.key_id


@pytest.mark.parametrize("text", ["", "zz" * 32, "ab" * 31, "ab" * 33, 12])
def test_bad_key_text_is_rejected(text):
    with pytest.raises(WatermarkKeyInvalid) as err:
        WatermarkKey.from_hex(text)
    assert err.value.code == "watermark_key_invalid"


def test_key_must_be_32_bytes():
    with pytest.raises(WatermarkKeyInvalid):
        WatermarkKey(b"short")


def test_payload_bytes_layout_and_hex():
    payload = WatermarkPayload(asset_id=0x0102030405060A, version=7)
    assert payload.to_bytes() == bytes([7, 1, 2, 3, 4, 5, 6, 10])
    assert WatermarkPayload.from_bytes(payload.to_bytes()) == payload
    assert payload.asset_hex == "0102030405060a"
    assert WatermarkPayload(5).version == 1


@pytest.mark.parametrize("asset_id, version", [(-1, 1), (2**56, 1), (0, 256), (0, -1), (1.5, 1), (True, 1)])
def test_payload_out_of_range(asset_id, version):
    with pytest.raises(PayloadOutOfRange) as err:
        WatermarkPayload(asset_id, version)
    assert err.value.code == "watermark_payload_out_of_range"


def test_payload_from_wrong_length():
    with pytest.raises(PayloadOutOfRange):
        WatermarkPayload.from_bytes(b"\x00" * 7)


def test_algorithm_id_is_stable():
    assert ALGORITHM_ID == "org.likeness.watermark.tiled-ss.2"
