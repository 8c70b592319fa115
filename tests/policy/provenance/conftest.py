"""Shared fixtures: one development PKI, one tiny real MP4 and one signed copy per session.

Everything is real: certificates from ``service.pki``, H.264 + AAC from PyAV, the C2PA SDK.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from policy.provenance import (
    IngredientRecord, ProvenanceClaim, SigningIdentity, SoftBinding, sign_video,
)
from service.pki import PkiPaths, create_development_pki

PAYLOAD = bytes.fromhex("0123456789abcdef")
ALG = "org.likeness.watermark.tiled-ss.1"


def write_mp4(path: Path, frames: int = 10, size: int = 64, audio_seconds: float = 0.4,
              faststart: bool = True, seed: int = 0) -> Path:
    """A small real MP4: H.264 yuv420p noise frames at 25 fps and a 440 Hz AAC tone."""
    options = {"movflags": "faststart"} if faststart else {}
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream("libx264", rate=25)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=48_000, layout="mono")
        for _ in range(frames):
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        t = np.arange(int(48_000 * audio_seconds)) / 48_000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48_000, 0, Fraction(1, 48_000)
        container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def make_claim(**changes: object) -> ProvenanceClaim:
    fields: dict[str, object] = dict(
        asset_id="0123456789abcd", title="take-1.mp4", model_name="likeness-motion-dit",
        model_version="0.3.0", weights_sha256="e3" * 32, generator="likeness/0.3.0",
        ingredients=(IngredientRecord("portrait", "image/png", "a1" * 32),
                     IngredientRecord("speech", "audio/wav", "b2" * 32)),
        soft_binding=SoftBinding(ALG, PAYLOAD),
    )
    fields.update(changes)
    return ProvenanceClaim(**fields)  # type: ignore[arg-type]


def issue_leaf(pki: PkiPaths, tmp: Path, *, ekus: tuple[x509.ObjectIdentifier, ...] = (
        ExtendedKeyUsageOID.EMAIL_PROTECTION,), days: tuple[int, int] = (-1, 30),
        self_signed: bool = False) -> tuple[Path, Path]:
    """A leaf from the dev intermediate (or self-signed); returns (chain file, key file)."""
    issuer_key = serialization.load_pem_private_key(pki.intermediate_key.read_bytes(), None)
    issuer = x509.load_pem_x509_certificate(pki.intermediate_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    if self_signed:
        issuer_key = key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test leaf")])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(name)
        .issuer_name(name if self_signed else issuer.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                     False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    leaf = builder.sign(issuer_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + (b"" if self_signed else issuer.public_bytes(pem))
    chain_path, key_path = tmp / "leaf-chain.pem", tmp / "leaf.key"
    chain_path.write_bytes(chain)
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain_path, key_path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    return create_development_pki(tmp_path_factory.mktemp("pki") / "pki")


@pytest.fixture(scope="session")
def root_pem(pki: PkiPaths) -> bytes:
    return pki.root_cert.read_bytes()


@pytest.fixture(scope="session")
def identity(pki: PkiPaths) -> SigningIdentity:
    return SigningIdentity.from_files(pki.chain, pki.signing_key)


@pytest.fixture(scope="session")
def source_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("media") / "source.mp4")


@pytest.fixture(scope="session")
def signed_mp4(tmp_path_factory: pytest.TempPathFactory, source_mp4: Path,
               identity: SigningIdentity) -> Path:
    destination = tmp_path_factory.mktemp("signed") / "signed.mp4"
    sign_video(source_mp4, destination, make_claim(), identity)
    return destination
