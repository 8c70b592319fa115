import numpy as np

from policy.watermark import WatermarkKey
from policy.watermark.ecc import encode_message
from policy.watermark.pattern import DEFAULT_LAYOUT, KeyedTile, TileLayout


def test_layout_shares_chips_between_sync_and_every_coded_bit():
    layout = DEFAULT_LAYOUT
    keyed = KeyedTile.build(WatermarkKey(bytes(range(32))), layout)
    assert layout.sync_chips + layout.data_chips == layout.grid**2
    assert int(np.count_nonzero(keyed.sync_sign)) == layout.sync_chips
    assert int(np.count_nonzero(keyed.data_sign)) == layout.data_chips
    assert not np.any((keyed.sync_sign != 0) & (keyed.data_sign != 0))
    per_bit = np.bincount(keyed.bit_index[keyed.bit_index >= 0], minlength=layout.coded_bits)
    assert per_bit.min() >= layout.data_chips // layout.coded_bits and per_bit.max() - per_bit.min() <= 1


def test_placement_is_keyed_and_chip_values_carry_the_code():
    layout = TileLayout(sync=100)
    a = KeyedTile.build(WatermarkKey(bytes(range(32))), layout)
    b = KeyedTile.build(WatermarkKey(bytes(range(1, 33))), layout)
    assert not np.array_equal(a.bit_index, b.bit_index)
    code = encode_message(bytes(8))
    chips = a.chip_values(code)
    data = a.bit_index >= 0
    expected = a.data_sign[data] * (1.0 - 2.0 * code[a.bit_index[data]])
    assert np.array_equal(chips[data], expected) and np.array_equal(chips[~data], a.sync_sign[~data])
