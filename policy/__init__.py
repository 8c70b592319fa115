"""likeness's rules: consent decisions, watermark embed/detect, C2PA manifests and the audit
hash chain, behind small storage interfaces (built by the release-path, consent and audit
issues). May import ``model``; never ``service``."""
