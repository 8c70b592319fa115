import numpy as np

from policy.watermark.ecc import coded_length, crc16, decode_message, encode_message


def test_crc16_ccitt_check_value():
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE reference value


def test_code_length_and_clean_round_trip():
    data = bytes(range(8))
    code = encode_message(data)
    assert len(code) == coded_length(80) == 258
    assert decode_message(1.0 - 2.0 * code, 8) == (data, True)


def test_corrects_noise_and_flipped_bits():
    rng = np.random.default_rng(3)
    for trial in range(20):
        data = rng.integers(0, 256, 8).astype(np.uint8).tobytes()
        soft = (1.0 - 2.0 * encode_message(data)) + rng.normal(0, 0.8, 258)
        flip = rng.choice(258, 10, replace=False)
        soft[flip] = -soft[flip]
        assert decode_message(soft, 8) == (data, True), trial


def test_crc_rejects_random_soft_values():
    rng = np.random.default_rng(4)
    passes = sum(decode_message(rng.normal(size=258), 8)[1] for _ in range(200))
    assert passes == 0
