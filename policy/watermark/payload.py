"""The 64-bit payload every frame carries: version (8 bits) then asset id (56 bits)."""

from __future__ import annotations

from dataclasses import dataclass

from policy.errors import PayloadOutOfRange

ASSET_BITS = 56
PAYLOAD_BYTES = 8


@dataclass(frozen=True)
class WatermarkPayload:
    """Asset id (0 <= id < 2**56) and version (0..255)."""

    asset_id: int
    version: int = 1

    def __post_init__(self) -> None:
        for name, value, limit in (("asset_id", self.asset_id, 2**ASSET_BITS), ("version", self.version, 256)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
                raise PayloadOutOfRange(
                    f"{name} must be an integer in [0, {limit})", field=name, value=value
                )

    def to_bytes(self) -> bytes:
        """8 bytes, big endian: version, then the 7-byte asset id."""
        return bytes([self.version]) + self.asset_id.to_bytes(7, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> "WatermarkPayload":
        if not isinstance(data, (bytes, bytearray)) or len(data) != PAYLOAD_BYTES:
            raise PayloadOutOfRange(f"payload must be {PAYLOAD_BYTES} bytes", got=len(data))
        return cls(asset_id=int.from_bytes(data[1:], "big"), version=data[0])

    @property
    def asset_hex(self) -> str:
        return f"{self.asset_id:014x}"
