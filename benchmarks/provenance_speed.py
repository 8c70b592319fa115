"""C2PA sign and read+verify speed for a released-size MP4 (10 s, 512x512, 25 fps, AAC).

    .venv/bin/python benchmarks/provenance_speed.py [--seconds 10] [--repeats 20] [--grain 0]

Makes a development PKI and a synthetic H.264 + AAC faststart MP4 in a temporary directory,
then times ``sign_video`` (key file, and a ``cryptography`` callback like a KMS would be) and
``read_manifest`` (with the root as trust anchor). Prints median and p95 in ms; no assertions.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policy.provenance import (  # noqa: E402
    IngredientRecord, ProvenanceClaim, SigningIdentity, SoftBinding, read_manifest, sign_video,
    top_level_boxes,
)
from service.pki import create_development_pki  # noqa: E402


def write_video(path: Path, seconds: float, grain: float, size: int = 512, fps: int = 25) -> None:
    """Moving gradients plus ``grain`` (noise amplitude, sets the bitrate) and a tone."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "20"})
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=48_000, layout="mono")
        for i in range(int(seconds * fps)):
            phase = i / fps
            image = np.stack([np.sin(6 * xx + phase), np.cos(5 * yy - phase),
                              np.sin(4 * (xx + yy) + 2 * phase)], axis=-1)
            image += grain * rng.standard_normal(image.shape).astype(np.float32)
            frame = np.clip((image + 1) * 127.5, 0, 255).astype(np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        t = np.arange(int(48_000 * seconds)) / 48_000
        tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None]
        samples = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        samples.sample_rate, samples.pts, samples.time_base = 48_000, 0, Fraction(1, 48_000)
        container.mux(audio.encode(samples))
        container.mux(audio.encode())


def timed(call, repeats: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    call()  # warm-up
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call()
        times[i] = (time.perf_counter() - start) * 1e3
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--grain", type=float, default=0.0,
                        help="noise amplitude: 0 gives ~0.4 MB for 10 s, more noise gives bigger files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        pki = create_development_pki(work / "pki")
        source = work / "source.mp4"
        write_video(source, args.seconds, args.grain)
        claim = ProvenanceClaim(
            asset_id="0123456789abcd", title="bench.mp4", model_name="likeness-motion-dit",
            model_version="0.3.0", weights_sha256="e3" * 32, generator="likeness/0.3.0",
            ingredients=(IngredientRecord("portrait", "image/png", "a1" * 32),
                         IngredientRecord("speech", "audio/wav", "b2" * 32)),
            soft_binding=SoftBinding("org.likeness.watermark.tiled-ss.1", bytes(8)))
        key = serialization.load_pem_private_key(pki.signing_key.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        identities = {
            "key file": SigningIdentity.from_files(pki.chain, pki.signing_key),
            "callback": SigningIdentity.from_callback(
                pki.chain.read_bytes(), lambda data: key.sign(data, ec.ECDSA(hashes.SHA256()))),
        }
        signed = work / "signed.mp4"
        print(f"source: {source.stat().st_size / 1e6:.2f} MB, "
              f"boxes {[b.type for b in top_level_boxes(source)]}")
        for name, identity in identities.items():
            ms = timed(lambda: sign_video(source, signed, claim, identity), args.repeats)
            print(f"sign ({name}): median {np.median(ms):.1f} ms, p95 "
                  f"{np.percentile(ms, 95):.1f} ms")
        print(f"signed: {signed.stat().st_size / 1e6:.2f} MB, "
              f"boxes {[b.type for b in top_level_boxes(signed)]}")
        anchors = pki.root_cert.read_bytes()
        ms = timed(lambda: read_manifest(signed, anchors), args.repeats)
        print(f"read+verify: median {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms "
              f"-> {read_manifest(signed, anchors).state}")


if __name__ == "__main__":
    main()
