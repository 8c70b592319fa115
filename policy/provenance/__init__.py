"""C2PA provenance for released videos: what every manifest says, signing, and verifying.

Every MP4 likeness releases is signed last (after watermarking and encoding) with c2pa-python.
Its manifest holds, and why:

- ``c2pa.actions``: first ``c2pa.created`` with digitalSourceType ``trainedAlgorithmicMedia`` —
  the flag C2PA readers use to label AI-generated media — and a softwareAgent naming the model,
  its version and its weights' SHA-256 (which network made this, exactly); then
  ``c2pa.watermarked`` by the generator, since an invisible watermark was embedded.
- Two ``inputTo`` ingredients, the portrait and the speech, recorded by title, media type and
  SHA-256 only (as ``instanceID = "sha256:<hex>"``). No thumbnails, no content: the subject's
  face must not travel inside every file, yet whoever holds the uploads can prove which they were.
- ``c2pa.soft-binding``: the watermark payload under our own algorithm id, so a copy whose
  manifest was stripped (re-encoded) can be matched back to this manifest through the watermark.
- ``cawg.training-mining``: AI training, generative training, inference and data mining all
  ``notAllowed`` — a likeness is not training data.
- ``org.likeness.asset``: the asset id (the key into the audit trail, also in the watermark) and
  the model and weights hash again, for readers that ignore softwareAgent details.
- ``org.likeness.transcript``: the SHA-256 and language of the transcript the partner declared
  for the speech (checked against the audio before rendering), never the text: whoever holds
  the text can prove which words the subject was made to say.
- The SDK adds the hard binding (``c2pa.hash.bmff.v3``) over the whole file but its own box.

Keys: ``SigningIdentity`` (chain + key file, or chain + KMS/HSM callback, optional timestamp
authority), validated when built. Development keys come from ``service.pki``. Reading trusts the
operator's root when passed as ``trust_anchors_pem`` (``Trusted``), otherwise ``Valid``.

Modules: ``claim`` (typed claim, manifest definition), ``identity`` (certificate checks),
``media`` (MP4 structure checks), ``signing`` (``sign_video``), ``reading`` (``read_manifest``).
"""

from policy.provenance.claim import (
    ASSET_LABEL,
    SOFT_BINDING_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    TRAINING_MINING_LABEL,
    TRANSCRIPT_LABEL,
    IngredientRecord,
    ProvenanceClaim,
    SoftBinding,
    TranscriptRecord,
)
from policy.provenance.identity import ACCEPTED_EKUS, SigningIdentity
from policy.provenance.media import Box, top_level_boxes
from policy.provenance.reading import ManifestReport, read_manifest
from policy.provenance.signing import sign_video

__all__ = [
    "ACCEPTED_EKUS",
    "ASSET_LABEL",
    "SOFT_BINDING_LABEL",
    "TRAINED_ALGORITHMIC_MEDIA",
    "TRAINING_MINING_LABEL",
    "TRANSCRIPT_LABEL",
    "Box",
    "IngredientRecord",
    "ManifestReport",
    "ProvenanceClaim",
    "SigningIdentity",
    "SoftBinding",
    "TranscriptRecord",
    "read_manifest",
    "sign_video",
    "top_level_boxes",
]
