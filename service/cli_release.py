"""``likeness pki init``, ``likeness generate`` and ``likeness verify``: the operator's release tools.

``verify`` exits 0 when the file is one of ours with an intact, trusted signature
(verdict ``signed_intact``), 1 for any other verdict, and 2 for errors (unreadable file, ...).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from service.cli_common import build_controls, controls_options, reports_errors
from service.errors import KeysMissing
from service.settings import Settings


@click.group()
def pki() -> None:
    """Development keys: C2PA signing PKI and watermark key."""


@pki.command("init")
@click.option("--force", is_flag=True, help="Replace existing keys (old videos stop verifying).")
@click.option("--exist-ok", is_flag=True, help="Succeed without changes if the keys exist.")
@click.pass_obj
@reports_errors
def pki_init(settings: Settings, force: bool, exist_ok: bool) -> None:
    """Create a development PKI (root -> intermediate -> P-256 signer) and a watermark key in the
    data directory. Production configures LIKENESS_SIGNING_CHAIN/_KEY and LIKENESS_WATERMARK_KEY."""
    from service import keys

    if exist_ok and not force and keys.development_keys_exist(settings):
        click.echo(f"development keys already in {settings.data_dir} (kept)")
        _ensure_audit_log_key(settings)
        return
    created = keys.init_development_keys(settings, overwrite=force)
    _audit_pki_init(settings, created, force)
    click.echo(f"development PKI in {created.pki.directory}")
    click.echo(f"  trust anchor (root): {created.pki.root_cert}")
    click.echo(f"  signing chain:       {created.pki.chain}")
    click.echo(f"  signing key:         {created.pki.signing_key}")
    click.echo(f"watermark key {created.watermark_key_id} in {created.watermark_key_file}")
    click.echo(f"audit log checkpoint key in {created.audit_log_key_file}")


def _ensure_audit_log_key(settings: Settings) -> None:
    """Data directories made before the audit log had checkpoints get their key too."""
    from service.audit.log_keys import create_log_key

    path, created = create_log_key(settings)
    if created:
        click.echo(f"audit log checkpoint key in {path}")


@click.command()
@click.argument("portrait", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("audio", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the signed MP4.")
@click.option("--subject", "subject_id", type=click.UUID, required=True,
              help="The person depicted: a subject with approved consent (see the partner API).")
@click.option("--purpose", required=True, help="What the video is for; the consent must cover it.")
@click.option("--operator", "email", default=None,
              help="Who is generating (recorded in the audit trail; default: the OS user).")
@click.option("--transcript", default=None,
              help="What AUDIO says, word for word (checked against it before rendering).")
@click.option("--transcript-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The transcript as a UTF-8 text file.")
@click.option("--language", default="en", show_default=True,
              help="The transcript's language (BCP 47); the aligner checks English.")
@controls_options
@click.pass_obj
@reports_errors
def generate(settings: Settings, portrait: Path, audio: Path, output: Path, subject_id: Any,
             purpose: str, email: str | None, transcript: str | None,
             transcript_file: Path | None, language: str, **control_values: Any) -> None:
    """Animate PORTRAIT speaking AUDIO into a watermarked, C2PA-signed MP4 — only for a subject
    whose approved consent covers PURPOSE, whose references match the portrait's face, and
    when AUDIO says the declared transcript (its hash goes into the manifest)."""
    import getpass

    from tqdm import tqdm

    from policy.provenance import TranscriptRecord
    from service.db.audit import AuditContext
    from service.domain.transcripts import declare_transcript
    from service.release import GenerationRequest
    from service.release.gated import ConsentedUse, GatedRelease

    controls = build_controls(**control_values)  # bad controls fail before the model loads
    declared = declare_transcript(_transcript_text(transcript, transcript_file), language)
    use = ConsentedUse(subject_id, purpose, declared)
    context = AuditContext(actor=f"cli:{email or getpass.getuser()}")
    gated = GatedRelease(settings, context)
    request = GenerationRequest(portrait, audio, output, controls,
                                TranscriptRecord(declared.sha256, declared.language))
    with tqdm(unit="frame", desc="generate", disable=None, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        video = gated.generate(request, use, progress)
    s = video.seconds
    click.echo(f"wrote {video.path} ({video.frames} frames, {video.duration_s:.1f} s, "
               f"asset {video.asset_id}, registered for subject {subject_id})")
    click.echo(f"stages: model {s.model:.2f} s, watermark {s.watermark:.2f} s, encode "
               f"{s.encode:.2f} s, sign {s.sign:.2f} s, verify {s.verify:.2f} s; "
               f"{video.frames / max(s.total, 1e-9):.1f} frames/s end to end")
    click.echo(f"verify: {video.verification.verdict}")


def _transcript_text(text: str | None, path: Path | None) -> str:
    from service.errors import RequestInvalid

    if (text is None) == (path is None):
        raise RequestInvalid("declare what the audio says with exactly one of --transcript "
                             "TEXT or --transcript-file PATH", field="transcript")
    if text is not None:
        return text
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"cannot read the transcript file {path}: {exc}",
                             field="transcript_file", path=str(path)) from exc


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the likeness.verify/1 JSON document.")
@click.option("--frames", type=click.IntRange(1, 5000), default=250, show_default=True,
              help="Frames to pool for the watermark check.")
@click.pass_obj
@reports_errors
def verify(settings: Settings, file: Path, as_json: bool, frames: int) -> None:
    """Check FILE's C2PA manifest and watermark, and the provenance registry when this machine
    has the service's database; print one verdict (exit 0 only if signed_intact and its
    consent still stands)."""
    from service import keys
    from service.domain.registry import annotate_verdict
    from service.release import verify_video
    from service.release.verify import SIGNED_INTACT

    try:
        key = keys.watermark_key(settings)
    except KeysMissing:
        key = None  # a public verifier has no key: report the manifest, say the mark wasn't checked
    report = verify_video(file, key, keys.trust_anchors(settings), max_frames=frames)
    _audit_verification(settings, report)
    document = report.to_json()
    document["registry"], found = _registry(settings, report)
    annotate_verdict(document, found)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        _print_report(document)
    intact = report.verdict_code == SIGNED_INTACT and document["verdict"]["consent_notice"] is None
    sys.exit(0 if intact else 1)


def _registry(settings: Settings, report: Any) -> tuple[dict[str, Any] | None, Any]:
    """The registry record of the file (by the asset id it names, else its exact hash) from
    the operator's database; (None, None) where there is no database or no record."""
    from service.audit.events import database_configured
    from service.db import make_engine
    from service.db.engine import make_session_factory, session_scope
    from service.domain.registry import lookup_artifact

    if not database_configured(settings):
        return None, None
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            found = lookup_artifact(session, asset_id=report.asset_id,
                                    sha256=report.file.sha256)
            if found is None:
                return None, None
            artifact = found.artifact
            block = {"asset_id": artifact.asset_id, "matched_by": found.matched_by.value,
                     "created_at": artifact.created_at.isoformat(),
                     "environment": "test" if artifact.is_test else "live",
                     "consent_id": None if artifact.consent_id is None
                     else str(artifact.consent_id),
                     "consent_status": found.standing.value,
                     "consent_revoked_at": None if found.revoked_at is None
                     else found.revoked_at.isoformat(),
                     "consent_notice": found.notice,
                     "is_original_file": artifact.sha256 == report.file.sha256,
                     "file_purged_at": None if artifact.purged_at is None
                     else artifact.purged_at.isoformat()}
            return block, found
    finally:
        engine.dispose()


def _operator() -> Any:
    import getpass

    from service.db.audit import AuditContext

    return AuditContext(actor=f"cli:{getpass.getuser()}")


def _audit_pki_init(settings: Settings, created: Any, force: bool) -> None:
    """Key changes are audited where the installation has a database."""
    import hashlib

    from service.audit.events import record_local

    root = hashlib.sha256(created.pki.root_cert.read_bytes()).hexdigest()
    record_local(settings, _operator(), "ops:pki:init", "pki:development",
                 {"replaced": force, "root_cert_sha256": root,
                  "watermark_key_id": created.watermark_key_id})


def _audit_verification(settings: Settings, report: Any) -> None:
    from service.audit.events import record_local, verification_event

    resource, payload = verification_event(report.to_json(), registered=None)
    record_local(settings, _operator(), "release:artifact:verify", resource, payload)


def _print_report(doc: dict[str, Any]) -> None:
    c2pa, mark, video = doc["c2pa"], doc["watermark"], doc["file"]
    click.echo(f"verdict:   {doc['verdict']['text']}")
    click.echo(f"file:      {video['path']} ({video['width']}x{video['height']}, "
               f"{video['duration_s']} s, {video['codec']}{', truncated' if video['truncated'] else ''})")
    if c2pa["state"] is None:
        click.echo(f"c2pa:      no manifest{' (' + c2pa['note'] + ')' if c2pa['note'] else ''}")
    else:
        click.echo(f"c2pa:      {c2pa['state']}, signed by {c2pa['signer']} (issuer {c2pa['issuer']}), "
                   f"AI-generated: {'yes' if c2pa['ai_generated'] else 'no'}, asset {c2pa['asset_id']}")
        click.echo(f"           assertions: {', '.join(c2pa['assertions'])}")
        if c2pa["failures"]:
            click.echo(f"           failures: {', '.join(c2pa['failures'])}")
    if not mark["checked"]:
        click.echo("watermark: not checked (no watermark key configured)")
    elif mark["found"]:
        click.echo(f"watermark: asset {mark['asset_id']} (version {mark['version']}), confidence "
                   f"{mark['confidence']:.3f}, false-positive probability "
                   f"{mark['false_positive_probability']:.1e}, {mark['frames_used']} frames")
    else:
        click.echo(f"watermark: none found in {mark['frames_used']} frames "
                   f"(confidence {mark['confidence']:.3f})")
    if c2pa.get("transcript"):
        click.echo(f"transcript: sha256 {c2pa['transcript']['sha256']} "
                   f"({c2pa['transcript']['language']})")
    registry = doc.get("registry")
    if registry is None:
        click.echo("registry:  no record in this machine's database (or no database here)")
    else:
        purged = registry.get("file_purged_at")
        click.echo(f"registry:  asset {registry['asset_id']} made {registry['created_at']}, "
                   f"consent {registry['consent_notice'] or registry['consent_status']}"
                   + (f", service's copy deleted {purged[:10]}" if purged else ""))


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out/quickstart"), show_default=True,
              help="Sandbox data (fresh database, kept keys) and the downloaded video.")
@click.option("--portrait", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Portrait (default: the bundled sample).")
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Speech (default: the bundled sample).")
@click.option("--transcript", default=None,
              help="What --audio says, word for word (needed with --audio; the bundled "
                   "sample's text otherwise).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--steps", type=click.IntRange(1, 50), default=8, show_default=True)
@reports_errors
def quickstart(out_dir: Path, portrait: Path | None, audio: Path | None,
               transcript: str | None, seed: int, steps: int) -> None:
    """The whole gated path on the embedded default (SQLite, no servers): partner, officer,
    consent approval, a job through the HTTP API and a real worker, download, verification."""
    from service.demo import SAMPLE_PORTRAIT, SAMPLE_SPEECH
    from service.quickstart import run_quickstart

    if audio is not None and transcript is None:
        from service.errors import RequestInvalid

        raise RequestInvalid("with --audio, say what it says: --transcript TEXT",
                             field="transcript")
    result = run_quickstart(out_dir, portrait or SAMPLE_PORTRAIT, audio or SAMPLE_SPEECH,
                            {"seed": seed, "steps": steps}, say=click.echo,
                            transcript=transcript)
    click.echo(f"verify: {result.verdict}")
    click.echo(f"done in {result.seconds:.1f} s: {result.video} (asset {result.asset_id})")
    sys.exit(0 if result.verdict_code == "signed_intact" else 1)
