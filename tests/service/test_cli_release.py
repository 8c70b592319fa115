"""``likeness pki init`` / ``generate`` / ``verify`` as an operator and a verifier use them: real
model, real watermark, real C2PA signing with a development PKI, real MP4s."""

from __future__ import annotations

import json
import struct
import wave
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from service.cli import main
from service.media.audio import load_audio

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "assets" / "samples"
FACES = ROOT / "tests" / "fixtures" / "faces"


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("likeness-data")
    code, output = _run("--data-dir", str(directory), "pki", "init")
    assert code == 0, output
    code, output = _run("--data-dir", str(directory), "db", "upgrade")
    assert code == 0, output
    return directory


PURPOSE = "education"
SAID = "Please bring me the blue map. Who will go with Bob and Pam?"  # the first 4.2 s


@pytest.fixture(scope="module")
def subject_id(data_dir) -> str:
    """The sample portrait's subject, with consent approved by an officer for PURPOSE."""
    from service.auth.organisations import accept_aup, create_organisation, vet_organisation
    from service.auth.users import create_user, grant_role
    from service.db import make_engine
    from service.db.audit import AuditContext
    from service.db.engine import make_session_factory, session_scope
    from service.db.models import Role
    from service.db.types import utcnow
    from service.domain.assets import Owner, store_asset
    from service.domain.consents import approve_consent
    from service.domain.face_templates import TemplateBox
    from service.domain.subjects import SubjectRequest, register_subject
    from service.domain.uploads import UploadLimits, validate_evidence, validate_portrait
    from service.settings import Settings
    from service.storage import LocalBlobStore

    settings = Settings(data_dir=data_dir)
    limits, store = UploadLimits.from_settings(settings), LocalBlobStore(settings.blob_root)
    context, expires = AuditContext(actor="test"), utcnow() + timedelta(days=10)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as session:
        officer = create_user(session, context, email="officer@test.example", display_name="O")
        grant_role(session, context, user_id=officer.id, role=Role.COMPLIANCE_OFFICER)
        organisation = create_organisation(session, context, name="Studio",
                                           declared_use_case="explainer videos")
        partner = create_user(session, context, email="partner@test.example", display_name="P")
        grant_role(session, context, user_id=partner.id, role=Role.PARTNER,
                   organisation_id=organisation.id)
        accept_aup(session, context, organisation_id=organisation.id, user_id=partner.id,
                   aup_version="1")
        operator = create_user(session, context, email="op@test.example", display_name="Op")
        grant_role(session, context, user_id=operator.id, role=Role.OPERATOR)
        vet_organisation(session, context, organisation_id=organisation.id,
                         operator_id=operator.id)
        owner = Owner(organisation.id, is_test=False)
        reference = store_asset(session, context, store, owner=owner,
                                upload=validate_portrait((SAMPLES / "portrait.png").read_bytes(),
                                                         limits),
                                box=TemplateBox.from_settings(settings),
                                face_threshold=settings.face_match_threshold)
        subject, consent = register_subject(
            session, context, store, owner=owner,
            request=SubjectRequest("Sample presenter", None, (reference.id,),
                                   frozenset({PURPOSE}), expires),
            evidence=validate_evidence((SAMPLES / "speech.wav").read_bytes(), limits),
            vocabulary=settings.consent_purposes, face_threshold=settings.face_match_threshold,
            box=TemplateBox.from_settings(settings))
        approve_consent(session, context, consent_id=consent.id, officer_id=officer.id,
                        purposes=[PURPOSE], expires_at=expires,
                        vocabulary=settings.consent_purposes)
        subject_id = str(subject.id)
    engine.dispose()
    return subject_id


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory) -> Path:
    samples, rate = load_audio(SAMPLES / "speech.wav")
    return _wav(tmp_path_factory.mktemp("audio") / "short.wav", samples[: int(4.2 * rate)], rate)


@pytest.fixture(scope="module")
def released(data_dir, subject_id, short_speech, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("out") / "talking.mp4"
    code, output = _run("--data-dir", str(data_dir), "generate", str(SAMPLES / "portrait.png"),
                        str(short_speech), "--out", str(out), "--seed", "3", "--steps", "4",
                        "--subject", subject_id, "--purpose", PURPOSE, "--transcript", SAID)
    assert code == 0, output
    return out, output


def _verify(data_dir: Path, path: Path) -> tuple[int, dict]:
    code, output = _run("--data-dir", str(data_dir), "verify", str(path), "--json")
    return code, json.loads(output)


def test_pki_init_refuses_to_replace_keys(data_dir):
    assert (data_dir / "watermark.key").stat().st_mode & 0o777 == 0o600
    code, output = _run("--data-dir", str(data_dir), "pki", "init")
    assert code == 2 and "error [pki_exists]" in output


@pytest.mark.slow
def test_generate_writes_only_a_signed_verifiable_mp4(released, data_dir):
    path, output = released
    assert "asset" in output and "frames/s end to end" in output
    assert "verify: generated by this service" in output
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp or unsigned leftovers

    code, report = _verify(data_dir, path)
    assert code == 0
    assert report["schema"] == "likeness.verify/1"
    assert report["verdict"]["code"] == "signed_intact"
    assert report["c2pa"]["state"] == "Trusted" and report["c2pa"]["ai_generated"]
    assert report["watermark"]["found"]
    assert report["watermark"]["asset_id"] == report["c2pa"]["asset_id"] == report["verdict"]["asset_id"]
    assert report["watermark"]["false_positive_probability"] <= 1e-6
    assert (report["file"]["width"], report["file"]["height"]) == (512, 512)
    assert report["file"]["duration_s"] == pytest.approx(4.2, abs=0.1)


@pytest.mark.slow
def test_changed_media_bytes_read_invalid(released, data_dir, tmp_path):
    path, _ = released
    data = bytearray(path.read_bytes())
    offset = 0
    while offset < len(data):  # find mdat and flip 16 bytes in its middle
        size, kind = struct.unpack(">I4s", bytes(data[offset : offset + 8]))
        if kind == b"mdat":
            middle = offset + size // 2
            data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
            break
        offset += size
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))

    code, report = _verify(data_dir, tampered)
    assert code == 1
    assert report["c2pa"]["state"] == "Invalid"
    assert report["verdict"]["code"] == "manifest_invalid"


def _reencode(source: Path, target: Path, crf: int = 28) -> None:
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream("libx264", rate=25, options={"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = 512, 512, "yuv420p"
        for index, frame in enumerate(src.decode(video=0)):
            fresh = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            fresh.pts, fresh.time_base = index, Fraction(1, 25)
            dst.mux(stream.encode(fresh))
        dst.mux(stream.encode(None))


@pytest.mark.slow
def test_reencoded_copy_has_no_manifest_but_still_names_the_asset(released, data_dir, tmp_path):
    path, _ = released
    copy = tmp_path / "copy.mp4"
    _reencode(path, copy)
    code, report = _verify(data_dir, copy)
    code_original, original = _verify(data_dir, path)
    assert code == 1
    assert report["c2pa"]["state"] is None
    assert report["verdict"]["code"] == "watermark_only"
    assert report["watermark"]["asset_id"] == original["watermark"]["asset_id"]
    assert "re-encoded" in report["verdict"]["text"]


@pytest.mark.slow
def test_verify_without_the_watermark_key_reports_the_manifest_only(released, data_dir, tmp_path):
    path, _ = released
    public = tmp_path / "public"
    (public / "pki").mkdir(parents=True)
    for item in (data_dir / "pki").iterdir():  # the same trust root, but no watermark key
        (public / "pki" / item.name).write_bytes(item.read_bytes())
    code, output = _run("--data-dir", str(public), "verify", str(path))
    assert code == 1
    assert "watermark: not checked" in output
    assert "c2pa:      Trusted" in output


def test_verify_rejects_non_videos_with_a_precise_error(data_dir, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    code, output = _run("--data-dir", str(data_dir), "verify", str(text))
    assert code == 2
    assert "error [video_unreadable]" in output and "Traceback" not in output

    code, output = _run("--data-dir", str(data_dir), "verify", str(tmp_path / "missing.mp4"))
    assert code == 2 and "error [video_unreadable]" in output


def test_verify_of_an_unmarked_video_says_no_mark(data_dir, tmp_path):
    clip = tmp_path / "camera.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(clip), "w") as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        base = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(np.roll(base, index, axis=1), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    code, report = _verify(data_dir, clip)
    assert code == 1
    assert report["verdict"]["code"] == "no_mark"
    assert report["watermark"]["checked"] and not report["watermark"]["found"]


@pytest.mark.parametrize(
    ("portrait", "audio", "out", "code_expected"),
    [
        ("landscape", "speech", "x.mp4", "no_face"),
        ("portrait", "silence", "x.mp4", "audio_silent"),
        ("portrait", "speech", "x.mov", "output_invalid"),
        ("missing", "speech", "x.mp4", "image_unreadable"),
    ],
)
def test_generate_validates_before_any_work_and_leaves_nothing(
    data_dir, subject_id, short_speech, tmp_path, portrait, audio, out, code_expected
):
    landscape = tmp_path / "landscape.png"
    from PIL import Image

    Image.fromarray(np.full((300, 400, 3), 120, np.uint8)).save(landscape)
    portraits = {"portrait": SAMPLES / "portrait.png", "landscape": landscape,
                 "missing": tmp_path / "nope.png"}
    audios = {"speech": short_speech,
              "silence": _wav(tmp_path / "silence.wav", np.zeros(32000, np.float32), 16000)}
    out_dir = tmp_path / "out"
    code, output = _run("--data-dir", str(data_dir), "generate", str(portraits[portrait]),
                        str(audios[audio]), "--out", str(out_dir / out), "--subject", subject_id,
                        "--purpose", PURPOSE, "--transcript", SAID)
    assert code == 2
    assert f"error [{code_expected}]" in output
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_generate_without_keys_says_how_to_create_them(short_speech, tmp_path):
    code, output = _run("--data-dir", str(tmp_path / "empty"), "generate",
                        str(SAMPLES / "portrait.png"), str(short_speech), "--out",
                        str(tmp_path / "x.mp4"), "--subject", "0" * 32, "--purpose", PURPOSE,
                        "--transcript", SAID)
    assert code == 2
    assert "error [keys_missing]" in output and "likeness pki init" in output
    assert not (tmp_path / "x.mp4").exists()


def test_pki_init_exist_ok_keeps_the_keys(data_dir):
    before = (data_dir / "watermark.key").read_bytes()
    code, output = _run("--data-dir", str(data_dir), "pki", "init", "--exist-ok")
    assert code == 0 and "kept" in output
    assert (data_dir / "watermark.key").read_bytes() == before


@pytest.mark.parametrize(
    ("portrait", "purpose", "code_expected"),
    [("portrait.png", "advertising", "purpose_not_covered"),
     ("obama.jpg", PURPOSE, "face_mismatch")],
)
def test_generate_refuses_what_the_consent_does_not_cover(
    data_dir, subject_id, short_speech, tmp_path, portrait, purpose, code_expected
):
    picture = SAMPLES / portrait if portrait == "portrait.png" else FACES / portrait
    out = tmp_path / "refused.mp4"
    code, output = _run("--data-dir", str(data_dir), "generate", str(picture), str(short_speech),
                        "--out", str(out), "--subject", subject_id, "--purpose", purpose,
                        "--transcript", SAID)
    assert code == 2 and f"error [{code_expected}]" in output
    assert not out.exists()


def test_generate_for_an_unknown_subject_or_unmigrated_database(data_dir, short_speech, tmp_path):
    args = [str(SAMPLES / "portrait.png"), str(short_speech), "--out", str(tmp_path / "x.mp4"),
            "--purpose", PURPOSE, "--transcript", SAID, "--subject"]
    code, output = _run("--data-dir", str(data_dir), "generate", *args, "0" * 32)
    assert code == 2 and "error [not_found]" in output

    fresh = tmp_path / "fresh"
    assert _run("--data-dir", str(fresh), "pki", "init")[0] == 0
    code, output = _run("--data-dir", str(fresh), "generate", *args, "0" * 32)
    assert code == 2 and "error [database_not_ready]" in output and "db upgrade" in output


@pytest.mark.slow
def test_generated_video_is_in_the_registry(released, data_dir, subject_id):
    from sqlalchemy import select

    from service.db import make_engine
    from service.db.models import Artifact

    _, output = released
    asset = output.split("asset ")[1].split(",")[0]
    engine = make_engine(f"sqlite:///{data_dir / 'likeness.db'}")
    with engine.connect() as connection:
        row = connection.execute(select(Artifact.subject_id, Artifact.consent_id)
                                 .where(Artifact.asset_id == asset)).one()
    engine.dispose()
    assert str(row.subject_id).replace("-", "") == subject_id.replace("-", "")
    assert row.consent_id is not None


@pytest.mark.parametrize(("extra", "code_expected"), [
    ((), "request_invalid"),  # no transcript declared
    (("--transcript", "Transfer all the money to my account today."), "transcript_mismatch"),
    (("--transcript", SAID, "--language", "fr"), "transcript_review_required"),
])
def test_generate_holds_the_audio_to_its_transcript(data_dir, subject_id, short_speech,
                                                    tmp_path, extra, code_expected):
    out = tmp_path / "said.mp4"
    code, output = _run("--data-dir", str(data_dir), "generate", str(SAMPLES / "portrait.png"),
                        str(short_speech), "--out", str(out), "--subject", subject_id,
                        "--purpose", PURPOSE, *extra)
    assert code == 2 and f"error [{code_expected}]" in output
    assert not out.exists()


@pytest.mark.slow
def test_the_released_file_carries_the_transcript_hash_and_its_registry_record(
        released, data_dir):
    import hashlib

    path, _ = released
    code, report = _verify(data_dir, path)
    assert code == 0
    assert report["c2pa"]["transcript"] == {"sha256": hashlib.sha256(SAID.encode()).hexdigest(),
                                            "language": "en"}
    assert report["registry"]["consent_status"] == "active"
    assert report["registry"]["file_purged_at"] is None  # retention has not deleted it
    assert report["verdict"]["consent_notice"] is None
