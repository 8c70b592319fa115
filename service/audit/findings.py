"""What verification of the audit log can find: a reason, and where (``LogBreak``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why an entry is bad; stable values (JSON, CLI output)."""

    SEQUENCE_GAP = "sequence_gap"  # an event is missing, duplicated or out of order
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # relinked onto something else (reorder, insert)
    HASH_MISMATCH = "hash_mismatch"  # the event was changed after it was hashed
    EVENT_MALFORMED = "event_malformed"  # a stored row is not a valid event at all
    TRUNCATED = "truncated"  # the head names events that are gone
    HEAD_MISMATCH = "head_mismatch"  # the head row disagrees with the events (hash, frontier)
    TREE_NODE_MISSING = "tree_node_missing"
    TREE_NODE_MISMATCH = "tree_node_mismatch"
    CHECKPOINT_INVALID = "checkpoint_invalid"  # bad signature, or a row unlike its note
    CHECKPOINT_UNSTORED = "checkpoint_unstored"  # exported, but its row is gone
    CHECKPOINT_CONFLICT = "checkpoint_conflict"  # a row and a file for one size disagree
    CHECKPOINT_ROOT_MISMATCH = "checkpoint_root_mismatch"  # events rewritten after signing
    CHECKPOINT_INCONSISTENT = "checkpoint_inconsistent"  # consistency proof fails
    ROLLED_BACK = "rolled_back"  # a checkpoint covers more events than the log holds


@dataclass(frozen=True)
class LogBreak:
    """A bad entry: event ``seq`` (or the first event a bad checkpoint covers), and why."""

    seq: int
    reason: Reason
    detail: str
