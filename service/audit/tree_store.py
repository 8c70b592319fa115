"""The Merkle tree's perfect nodes in ``audit_tree_nodes``, and what is read from them.

Every perfect subtree hash is stored once, when the sequencer completes it, so a root or a
proof for any tree size is O(log n) node reads: ``policy.audit.merkle`` names the nodes a
computation needs (``nodes_for_*``) and they are fetched in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from policy.audit.merkle import (
    FetchedNodes,
    Node,
    NodeKey,
    consistency_proof,
    inclusion_proof,
    nodes_for_consistency,
    nodes_for_inclusion,
    nodes_for_root,
    tree_root,
)
from policy.errors import AuditTreeNodeMissing
from service.db.models.audit import AuditTreeNode

_NODES = AuditTreeNode.__table__
_FETCH_CHUNK = 500  # keys per IN (...) list


def store_nodes(session: Session, nodes: Sequence[Node]) -> None:
    """Insert newly completed perfect nodes (``TreeFrontier.append``'s output)."""
    if nodes:
        session.execute(insert(AuditTreeNode), [
            {"level": level, "node_index": index, "hash": digest}
            for level, index, digest in nodes])


def fetch_nodes(session: Session, keys: Iterable[NodeKey]) -> FetchedNodes:
    """The named perfect nodes, read in one query per chunk; absent ones stay absent."""
    wanted = list(dict.fromkeys(keys))
    found: dict[NodeKey, bytes] = {}
    for start in range(0, len(wanted), _FETCH_CHUNK):
        chunk = wanted[start:start + _FETCH_CHUNK]
        rows = session.execute(
            select(_NODES.c.level, _NODES.c.node_index, _NODES.c.hash)
            .where(tuple_(_NODES.c.level, _NODES.c.node_index).in_(chunk))).all()
        found.update({(row.level, row.node_index): bytes(row.hash) for row in rows})
    return FetchedNodes(found)


class SqlNodes:
    """A ``NodeSource`` reading one node per query (for occasional lookups)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def perfect_node(self, level: int, index: int) -> bytes:
        digest = self._session.execute(
            select(_NODES.c.hash).where(_NODES.c.level == level, _NODES.c.node_index == index)
        ).scalar_one_or_none()
        if digest is None:
            raise AuditTreeNodeMissing(f"no stored tree node at level {level}, index {index}",
                                       level=level, index=index)
        return bytes(digest)


@dataclass(frozen=True)
class InclusionProof:
    """``path`` puts the leaf of event ``seq`` (leaf index ``seq - 1``) under the root of the
    first ``tree_size`` events."""

    seq: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]


def stored_root(session: Session, size: int) -> bytes:
    """The root of the first ``size`` leaves, from the stored nodes."""
    return tree_root(fetch_nodes(session, nodes_for_root(size)), size)


def stored_inclusion(session: Session, seq: int, size: int) -> InclusionProof:
    """The inclusion proof of event ``seq`` in the tree of ``size`` events."""
    index = seq - 1
    keys = nodes_for_inclusion(index, size)
    nodes = fetch_nodes(session, [*keys, (0, index)])
    return InclusionProof(seq=seq, tree_size=size, leaf_hash=nodes.perfect_node(0, index),
                          path=tuple(inclusion_proof(nodes, index, size)))


def stored_consistency(session: Session, old_size: int, new_size: int) -> tuple[bytes, ...]:
    """The consistency proof from the ``old_size`` tree to the ``new_size`` tree."""
    nodes = fetch_nodes(session, nodes_for_consistency(old_size, new_size))
    return tuple(consistency_proof(nodes, old_size, new_size))
