import numpy as np

from policy.watermark.ecc import coded_length, crc16, decode_message, encode_message


def test_crc16_ccitt_check_value():
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE reference value


def test_code_length_and_clean_round_trip():
    data = bytes(range(8))
    code = encode_message(data)
    assert len(code) == coded_length(80) == 264
    assert decode_message(1.0 - 2.0 * code, 8) == (data, True)


def test_corrects_noise_and_flipped_bits():
    # Noise sd 0.8 plus 10 fully flipped coded bits: K=9 decodes ~98 % of such words (K=7: ~95 %),
    # so 20 deterministic trials may lose one to an unlucky cluster of flips, not more.
    rng = np.random.default_rng(3)
    decoded = 0
    for _ in range(20):
        data = rng.integers(0, 256, 8).astype(np.uint8).tobytes()
        soft = (1.0 - 2.0 * encode_message(data)) + rng.normal(0, 0.8, 264)
        flip = rng.choice(264, 10, replace=False)
        soft[flip] = -soft[flip]
        decoded += decode_message(soft, 8) == (data, True)
    assert decoded >= 19


def test_noisy_words_never_decode_to_a_wrong_payload_with_good_crc():
    # Weak soft values (raw accuracy ~0.79): many words fail, but a CRC pass means the right word.
    rng = np.random.default_rng(5)
    passes = 0
    for _ in range(40):
        data = rng.integers(0, 256, 8).astype(np.uint8).tobytes()
        decoded, ok = decode_message((1.0 - 2.0 * encode_message(data)) + rng.normal(0, 1.25, 264), 8)
        assert not ok or decoded == data
        passes += ok
    assert passes >= 20


def test_crc_rejects_random_soft_values():
    rng = np.random.default_rng(4)
    passes = sum(decode_message(rng.normal(size=264), 8)[1] for _ in range(200))
    assert passes == 0
