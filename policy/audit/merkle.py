"""The audit log's RFC 6962 / RFC 9162 Merkle tree: roots, proofs and their verification.

Leaves are the events' canonical bytes (``AuditEvent.canonical_bytes``); leaf and interior
hashes are domain-separated (``0x00`` / ``0x01``) so a leaf can never pass for a node.

Storage keeps only *perfect* subtrees, addressed ``(level, index)``: the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``. Every hash the RFC's recursive definitions need
is either such a node or a fold of the tree's right edge, so roots and proofs cost O(log n)
node reads whatever the tree's size (``NodeSource``). ``TreeFrontier`` is the sequencer's side:
it appends leaves, names the perfect nodes each append completes (to be stored), and keeps the
right edge that gives the current root. ``nodes_for_*`` list the nodes a computation reads, so a
database can fetch them in one query into ``FetchedNodes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from policy.errors import (
    AuditError,
    AuditProofInvalid,
    AuditTreeNodeMissing,
    AuditTreeRangeInvalid,
)

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
NodeKey = tuple[int, int]  # (level, index)
Node = tuple[int, int, bytes]  # (level, index, hash)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1 (the reference the fast paths are tested against)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


class NodeSource(Protocol):
    def perfect_node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree over leaves ``[index*2**level, (index+1)*2**level)``.

        Raise ``AuditTreeNodeMissing`` when it is not stored.
        """
        ...


class MemoryNodes:
    """Every perfect node of a tree, level by level, in memory (tests, exports, benchmarks)."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MemoryNodes:
        nodes = cls()
        nodes.levels[0] = [_checked_hash(h, "leaf hash") for h in leaf_hashes]
        below = nodes.levels[0]
        while len(below) >= 2:
            above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            nodes.levels.append(above)
            below = above
        return nodes

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        """Add one leaf and every perfect node it completes."""
        self.levels[0].append(_checked_hash(leaf, "leaf hash"))
        level = 0
        while len(self.levels[level]) % 2 == 0:
            row = self.levels[level]
            if level + 1 == len(self.levels):
                self.levels.append([])
            self.levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def perfect_node(self, level: int, index: int) -> bytes:
        if 0 <= level < len(self.levels) and 0 <= index < len(self.levels[level]):
            return self.levels[level][index]
        raise AuditTreeNodeMissing(f"no perfect node at level {level}, index {index}",
                                   level=level, index=index)


class FetchedNodes:
    """A sparse set of perfect nodes, e.g. those a ``nodes_for_*`` list named, read in one query."""

    def __init__(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self._nodes = {key: _checked_hash(value, "node hash") for key, value in nodes.items()}

    def perfect_node(self, level: int, index: int) -> bytes:
        found = self._nodes.get((level, index))
        if found is None:
            raise AuditTreeNodeMissing(f"perfect node at level {level}, index {index} was not "
                                       "fetched", level=level, index=index)
        return found


# -- roots and proofs from perfect nodes --------------------------------------------------------


def _range_hash(source: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC recursion visits, from perfect nodes.

    Such a range starts at a multiple of the largest power of two below its length, so it is
    one perfect node or a perfect left part beside a smaller such range. A proof meets at most
    one range that is not perfect (where it leaves the tree's right edge), so the whole proof
    reads O(log n) nodes.
    """
    n = end - start
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return source.perfect_node(level, start >> level)
    k = _split(n)
    return node_hash(_range_hash(source, start, start + k), _range_hash(source, start + k, end))


def tree_root(source: NodeSource, size: int) -> bytes:
    """MTH of the first ``size`` leaves (``popcount(size)`` node reads)."""
    _check_size(size)
    return EMPTY_ROOT if size == 0 else _range_hash(source, 0, size)


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1: sibling hashes, leaf end first."""
    _check_size(size)
    _check_size(index)
    if not 0 <= index < size:
        raise AuditTreeRangeInvalid(f"leaf index {index} is outside a tree of {size} leaves",
                                    index=index, size=size)
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # walk down from the root; siblings are collected top first
        k = _split(end - start)
        if index < start + k:
            proof.append(_range_hash(source, start + k, end))
            end = start + k
        else:
            proof.append(_range_hash(source, start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(source: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty when either size is 0 or equal)."""
    _check_size(old_size)
    _check_size(new_size)
    if old_size > new_size:
        raise AuditTreeRangeInvalid(f"old tree size {old_size} exceeds new size {new_size}",
                                    old_size=old_size, new_size=new_size)
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, complete = 0, new_size, True  # complete: the old tree is [start, end)'s prefix
    while old_size != end:
        k = _split(end - start)
        if old_size <= start + k:
            proof.append(_range_hash(source, start + k, end))
            end = start + k
        else:
            proof.append(_range_hash(source, start, start + k))
            start, complete = start + k, False
    if not complete:
        proof.append(_range_hash(source, start, end))
    proof.reverse()
    return proof


def _recorded(compute: Callable[[NodeSource], object]) -> list[NodeKey]:
    class Recorder:
        def __init__(self) -> None:
            self.keys: dict[NodeKey, None] = {}

        def perfect_node(self, level: int, index: int) -> bytes:
            self.keys[(level, index)] = None
            return bytes(HASH_SIZE)

    recorder = Recorder()
    compute(recorder)
    return list(recorder.keys)


def nodes_for_root(size: int) -> list[NodeKey]:
    """The perfect nodes ``tree_root(source, size)`` reads."""
    return _recorded(lambda source: tree_root(source, size))


def nodes_for_inclusion(index: int, size: int) -> list[NodeKey]:
    """The perfect nodes ``inclusion_proof(source, index, size)`` reads."""
    return _recorded(lambda source: inclusion_proof(source, index, size))


def nodes_for_consistency(old_size: int, new_size: int) -> list[NodeKey]:
    """The perfect nodes ``consistency_proof(source, old_size, new_size)`` reads."""
    return _recorded(lambda source: consistency_proof(source, old_size, new_size))


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------------


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Raise ``AuditProofInvalid`` unless ``proof`` puts ``leaf`` at ``index`` under ``root``."""
    _check_size(size, AuditProofInvalid)
    _check_size(index, AuditProofInvalid)
    _check_proof_hashes(proof, leaf, root)
    if not index < size:
        raise AuditProofInvalid(f"leaf index {index} is outside a tree of {size} leaves",
                                kind="inclusion", index=index, size=size)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise AuditProofInvalid(f"inclusion proof is longer than a tree of {size} leaves "
                                    "allows", kind="inclusion", index=index, size=size)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise AuditProofInvalid(f"inclusion proof is too short for a tree of {size} leaves",
                                kind="inclusion", index=index, size=size)
    if r != root:
        raise AuditProofInvalid(f"inclusion proof for leaf {index} does not lead to the root "
                                f"of the {size}-leaf tree", kind="inclusion", index=index,
                                size=size)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise ``AuditProofInvalid`` unless the ``old_size`` tree is a prefix of the new one."""
    _check_size(old_size, AuditProofInvalid)
    _check_size(new_size, AuditProofInvalid)
    _check_proof_hashes(proof, old_root, new_root)
    context = {"kind": "consistency", "old_size": old_size, "new_size": new_size}
    if old_size > new_size:
        raise AuditProofInvalid(f"old tree size {old_size} exceeds new size {new_size}",
                                **context)
    if old_size in (0, new_size):
        _check_trivial_consistency(old_size, new_size, old_root, new_root, proof)
        return
    path = list(proof)
    if not path:
        raise AuditProofInvalid("consistency proof is empty", **context)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise AuditProofInvalid("consistency proof is longer than the trees allow", **context)
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise AuditProofInvalid("consistency proof is too short for the trees", **context)
    if fr != old_root:
        raise AuditProofInvalid(f"consistency proof does not rebuild the old root of "
                                f"{old_size} leaves", **context)
    if sr != new_root:
        raise AuditProofInvalid(f"consistency proof does not rebuild the new root of "
                                f"{new_size} leaves", **context)


def _check_trivial_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                               proof: Sequence[bytes]) -> None:
    context = {"kind": "consistency", "old_size": old_size, "new_size": new_size}
    if proof:
        raise AuditProofInvalid(f"a consistency proof from size {old_size} to {new_size} must "
                                "be empty", **context)
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise AuditProofInvalid("the root of an empty tree is SHA-256 of nothing", **context)
    if old_size == new_size and old_root != new_root:
        raise AuditProofInvalid(f"two trees of {old_size} leaves have different roots",
                                **context)


# -- the sequencer's incremental tree -----------------------------------------------------------


class TreeFrontier:
    """The right edge of a growing tree: one perfect subtree per set bit of ``size``.

    ``append`` costs O(1) amortised hashes and returns the nodes it completed; ``root`` folds
    the edge (popcount(size) hashes). ``to_bytes``/``from_bytes`` keep it in a head row.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_size(size)
        if len(hashes) != size.bit_count():
            raise AuditTreeRangeInvalid(f"a frontier of {size} leaves has {size.bit_count()} "
                                        f"hashes, not {len(hashes)}", size=size)
        self._size = size
        self._hashes = [_checked_hash(h, "frontier hash") for h in hashes]  # largest first

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[Node, ...]:
        """The right-edge perfect subtrees ``(level, index, hash)``, largest (leftmost) first."""
        nodes, start = [], 0
        for level, digest in zip(_edge_levels(self._size), self._hashes, strict=True):
            nodes.append((level, start >> level, digest))
            start += 1 << level
        return tuple(nodes)

    def append(self, leaf: bytes) -> list[Node]:
        """Add a leaf; return every perfect node it completes, the leaf (level 0) first."""
        carry = _checked_hash(leaf, "leaf hash")
        new_size = self._size + 1
        completed: list[Node] = [(0, self._size, carry)]
        level, size = 0, self._size
        while size & 1:  # the smallest edge subtree has ``level`` height: merge with it
            carry = node_hash(self._hashes.pop(), carry)
            level, size = level + 1, size >> 1
            completed.append((level, (new_size >> level) - 1, carry))
        self._hashes.append(carry)
        self._size = new_size
        return completed

    def extend(self, leaves: Iterable[bytes]) -> list[Node]:
        return [node for leaf in leaves for node in self.append(leaf)]

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        root = self._hashes[-1]
        for digest in reversed(self._hashes[:-1]):
            root = node_hash(digest, root)
        return root

    def to_bytes(self) -> bytes:
        return b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> TreeFrontier:
        _check_size(size)
        if len(data) != HASH_SIZE * size.bit_count():
            raise AuditTreeRangeInvalid(f"a frontier of {size} leaves is "
                                        f"{HASH_SIZE * size.bit_count()} bytes, not {len(data)}",
                                        size=size)
        hashes = [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        return cls(size, hashes)

    @classmethod
    def from_source(cls, source: NodeSource, size: int) -> TreeFrontier:
        """Rebuild the right edge of the ``size``-leaf tree from its stored perfect nodes."""
        _check_size(size)
        hashes, start = [], 0
        for level in _edge_levels(size):
            hashes.append(source.perfect_node(level, start >> level))
            start += 1 << level
        return cls(size, hashes)


# -- helpers ------------------------------------------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _edge_levels(size: int) -> list[int]:
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def _check_size(size: int, error: type[AuditError] = AuditTreeRangeInvalid) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise error(f"tree size/index {size!r} is not a non-negative integer", value=repr(size))


def _checked_hash(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise AuditTreeRangeInvalid(f"{what} must be {HASH_SIZE} bytes", what=what)
    return value


def _check_proof_hashes(proof: Sequence[bytes], *hashes: bytes) -> None:
    for value in (*hashes, *proof):
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise AuditProofInvalid(f"proof and root hashes must be {HASH_SIZE} bytes",
                                    kind="format")
