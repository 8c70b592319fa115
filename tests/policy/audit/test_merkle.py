"""The Merkle tree against RFC 9162's definitions: hand-derived and published known answers,
proofs over many tree sizes (and every kind of damage to them refused), the sequencer's
frontier, and proofs computed from only the nodes a database would fetch."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.audit.merkle import (
    EMPTY_ROOT,
    FetchedNodes,
    MemoryNodes,
    TreeFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    nodes_for_root,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from policy.errors import AuditProofInvalid, AuditTreeNodeMissing, AuditTreeRangeInvalid

MAX_SIZE = 4100
LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(MAX_SIZE)]
NODES = MemoryNodes.from_leaf_hashes(LEAVES)  # a prefix's perfect nodes are the tree's own
ROOTS = [TreeFrontier().root()]
_frontier = TreeFrontier()
for _leaf in LEAVES[:400]:
    _frontier.append(_leaf)
    ROOTS.append(_frontier.root())

FAST = settings(max_examples=150, deadline=None, database=None)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def root(size: int) -> bytes:
    return ROOTS[size] if size < len(ROOTS) else root_of(LEAVES[:size])


def flip_bit(proof: list[bytes], item: int, bit: int) -> list[bytes]:
    damaged = list(proof)
    value = bytearray(damaged[item])
    value[bit // 8] ^= 1 << (bit % 8)
    damaged[item] = bytes(value)
    return damaged


# -- known answers -------------------------------------------------------------------------------


def test_hashes_are_rfc_6962s_domain_separated_sha256() -> None:
    assert EMPTY_ROOT == sha(b"") == root_of([]) == tree_root(MemoryNodes(), 0)
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)


def test_tiny_trees_match_the_rfc_definitions_worked_by_hand() -> None:
    # RFC 9162 §2.1.5's seven-leaf example: a..f, j are leaves, g..l interior nodes.
    a, b, c, d, e, f, j = (leaf_hash(bytes([i])) for i in range(7))
    g, h, i = node_hash(a, b), node_hash(c, d), node_hash(e, f)
    k, lnode = node_hash(g, h), node_hash(i, j)
    tree = MemoryNodes.from_leaf_hashes([a, b, c, d, e, f, j])
    assert tree_root(tree, 1) == a and inclusion_proof(tree, 0, 1) == []
    assert tree_root(tree, 2) == g
    assert inclusion_proof(tree, 0, 2) == [b] and inclusion_proof(tree, 1, 2) == [a]
    assert tree_root(tree, 3) == node_hash(g, c)
    assert inclusion_proof(tree, 0, 3) == [b, c] and inclusion_proof(tree, 2, 3) == [g]
    assert consistency_proof(tree, 1, 3) == [b, c] and consistency_proof(tree, 2, 3) == [c]
    assert tree_root(tree, 7) == node_hash(k, lnode) == root_of([a, b, c, d, e, f, j])
    # The RFC's audit paths and consistency proofs, verbatim.
    assert inclusion_proof(tree, 0, 7) == [b, h, lnode]
    assert inclusion_proof(tree, 3, 7) == [c, g, lnode]
    assert inclusion_proof(tree, 4, 7) == [f, j, k]
    assert inclusion_proof(tree, 6, 7) == [i, k]
    assert consistency_proof(tree, 3, 7) == [c, d, g, lnode]
    assert consistency_proof(tree, 4, 7) == [lnode]
    assert consistency_proof(tree, 6, 7) == [i, j, k]


# Certificate Transparency's published reference vectors (RFC 6962 test data).
CT_DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
           "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_certificate_transparency_reference_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(data)) for data in CT_DATA]
    tree = MemoryNodes.from_leaf_hashes(leaves)
    assert [tree_root(tree, n).hex() for n in range(9)] == CT_ROOTS
    assert [p.hex()[:8] for p in inclusion_proof(tree, 0, 8)] == ["96a296d2", "5f083f0a",
                                                                   "6b47aaf2"]
    assert [p.hex()[:8] for p in inclusion_proof(tree, 5, 8)] == ["bc1a0643", "ca854ea1",
                                                                   "d37ee418"]
    assert [p.hex()[:8] for p in consistency_proof(tree, 6, 8)] == ["0ebc5d34", "ca854ea1",
                                                                     "d37ee418"]
    assert [p.hex()[:8] for p in consistency_proof(tree, 2, 5)] == ["5f083f0a", "bc1a0643"]


# -- proofs over many sizes ----------------------------------------------------------------------


def test_every_proof_of_every_small_tree_verifies() -> None:
    for size in range(1, 65):
        assert tree_root(NODES, size) == root_of(LEAVES[:size]) == root(size)
        for index in range(size):
            proof = inclusion_proof(NODES, index, size)
            verify_inclusion(LEAVES[index], index, size, proof, root(size))
        for old in range(size + 1):
            verify_consistency(old, size, root(old), root(size),
                               consistency_proof(NODES, old, size))


@pytest.mark.parametrize("size", [1000, 1023, 1024, 1025, 4097])
def test_proofs_of_larger_trees_verify(size: int) -> None:
    full = root_of(LEAVES[:size])
    assert tree_root(NODES, size) == full
    for index in (0, 1, size // 3, size - 2, size - 1):
        verify_inclusion(LEAVES[index], index, size, inclusion_proof(NODES, index, size), full)
    for old in (1, 2, 511, 512, 513, size - 1, size):
        verify_consistency(old, size, root_of(LEAVES[:old]), full,
                           consistency_proof(NODES, old, size))


sizes = st.integers(min_value=1, max_value=300)


@FAST
@given(data=st.data(), size=sizes)
def test_inclusion_proofs_verify_and_any_damage_is_refused(data: st.DataObject,
                                                           size: int) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(NODES, index, size)
    verify_inclusion(LEAVES[index], index, size, proof, root(size))
    damaged: list[tuple[int, int, list[bytes], bytes]] = []
    if proof:
        item = data.draw(st.integers(0, len(proof) - 1), label="item")
        bit = data.draw(st.integers(0, 255), label="bit")
        damaged += [(index, size, flip_bit(proof, item, bit), root(size)),
                    (index, size, proof[:-1], root(size))]
    damaged.append((index, size, [*proof, LEAVES[0]], root(size)))  # extended
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index) if size > 1
                      else st.just(index + 1), label="other index")
    damaged.append((other, size, proof, root(size)))
    for wrong_size in (size - 1, size + 1):
        if wrong_size >= 1:
            damaged.append((index, wrong_size, proof, root(wrong_size)))
    for claimed_index, claimed_size, bad_proof, claimed_root in damaged:
        with pytest.raises(AuditProofInvalid):
            verify_inclusion(LEAVES[index], claimed_index, claimed_size, bad_proof, claimed_root)
    with pytest.raises(AuditProofInvalid):  # another leaf with this leaf's proof
        verify_inclusion(LEAVES[index + 1], index, size, proof, root(size))


@FAST
@given(data=st.data(), new=sizes)
def test_consistency_proofs_verify_and_any_damage_is_refused(data: st.DataObject,
                                                             new: int) -> None:
    old = data.draw(st.integers(0, new), label="old")
    proof = consistency_proof(NODES, old, new)
    verify_consistency(old, new, root(old), root(new), proof)
    damaged: list[tuple[int, int, list[bytes]]] = [(old, new, [*proof, LEAVES[0]])]
    if proof:
        item = data.draw(st.integers(0, len(proof) - 1), label="item")
        bit = data.draw(st.integers(0, 255), label="bit")
        damaged += [(old, new, flip_bit(proof, item, bit)), (old, new, proof[:-1]),
                    (old, new, proof[1:])]
    for wrong_old in (old - 1, old + 1):
        if 0 <= wrong_old <= new and wrong_old != old:
            damaged.append((wrong_old, new, proof))
    if new + 1 <= 300:
        damaged.append((old, new + 1, proof))
    if new - 1 >= old and new - 1 >= 1:
        damaged.append((old, new - 1, proof))
    for claimed_old, claimed_new, bad_proof in damaged:
        if bad_proof == consistency_proof(NODES, claimed_old, claimed_new):
            continue  # e.g. 0 -> 1 claimed as 1 -> 1: both take the empty proof, both true
        with pytest.raises(AuditProofInvalid):
            verify_consistency(claimed_old, claimed_new, root(claimed_old), root(claimed_new),
                               bad_proof)
    if 0 < old < new:  # the new tree is not an extension of some other old tree
        with pytest.raises(AuditProofInvalid):
            verify_consistency(old, new, LEAVES[MAX_SIZE - 1], root(new), proof)


def test_degenerate_consistency_and_argument_errors() -> None:
    verify_consistency(0, 5, EMPTY_ROOT, root(5), [])
    verify_consistency(5, 5, root(5), root(5), [])
    for old, new, old_root, new_root in [(0, 5, root(1), root(5)), (5, 5, root(5), root(4)),
                                         (6, 5, root(6), root(5))]:
        with pytest.raises(AuditProofInvalid):
            verify_consistency(old, new, old_root, new_root, [])
    with pytest.raises(AuditProofInvalid):
        verify_consistency(3, 5, root(3), root(5), [])
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0], -1, 5, [], root(5))
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0], 0, True, [], root(1))  # type: ignore[arg-type]
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0][:31], 0, 1, [], LEAVES[0])
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0], 0, 2, ["x" * 32], root(2))  # type: ignore[list-item]
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    # A subtree's hash passed off as the root of a bigger tree: the path is too short.
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0], 0, 2, [], LEAVES[0])
    with pytest.raises(AuditProofInvalid):
        verify_inclusion(LEAVES[0], 0, 3, [LEAVES[1]], root(2))
    with pytest.raises(AuditTreeRangeInvalid):
        inclusion_proof(NODES, 5, 5)
    with pytest.raises(AuditTreeRangeInvalid):
        consistency_proof(NODES, 6, 5)
    with pytest.raises(AuditTreeRangeInvalid):
        tree_root(NODES, -1)
    with pytest.raises(AuditTreeNodeMissing):
        tree_root(NODES, MAX_SIZE + 1)


# -- reading only what a database would fetch ----------------------------------------------------


@FAST
@given(data=st.data(), size=st.integers(1, MAX_SIZE))
def test_proofs_read_logarithmically_many_nodes(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old")
    bound = 2 * size.bit_length()
    keys = {"root": nodes_for_root(size), "inclusion": nodes_for_inclusion(index, size),
            "consistency": nodes_for_consistency(old, size)}
    assert len(keys["root"]) == size.bit_count()
    assert all(len(found) <= bound for found in keys.values()), {k: len(v) for k, v in keys.items()}
    fetched = {name: FetchedNodes({key: NODES.perfect_node(*key) for key in found})
               for name, found in keys.items()}
    assert tree_root(fetched["root"], size) == tree_root(NODES, size)
    assert (inclusion_proof(fetched["inclusion"], index, size)
            == inclusion_proof(NODES, index, size))
    assert (consistency_proof(fetched["consistency"], old, size)
            == consistency_proof(NODES, old, size))
    if keys["inclusion"]:
        short = FetchedNodes({key: NODES.perfect_node(*key) for key in keys["inclusion"][1:]})
        with pytest.raises(AuditTreeNodeMissing):
            inclusion_proof(short, index, size)


# -- the sequencer's frontier --------------------------------------------------------------------


def test_frontier_matches_the_reference_root_at_every_size_and_names_every_node() -> None:
    frontier, completed = TreeFrontier(), []
    assert frontier.root() == EMPTY_ROOT and frontier.to_bytes() == b""
    for size in range(1, 301):
        new = frontier.append(LEAVES[size - 1])
        assert new[0] == (0, size - 1, LEAVES[size - 1])
        completed += new
        assert frontier.size == size and frontier.root() == root_of(LEAVES[:size])
        restored = TreeFrontier.from_source(NODES, size)
        assert restored.frontier == frontier.frontier
        assert TreeFrontier.from_bytes(size, frontier.to_bytes()).root() == frontier.root()
    tree = MemoryNodes.from_leaf_hashes(LEAVES[:300])
    assert sorted(completed) == sorted((level, index, digest)
                                       for level, row in enumerate(tree.levels)
                                       for index, digest in enumerate(row))
    assert [(level, index) for level, index, _ in frontier.frontier] == [  # 300 = 256 + 32 + 8 + 4
        (8, 0), (5, 8), (3, 36), (2, 74)]


def test_frontier_restored_from_storage_carries_on_identically() -> None:
    grown = TreeFrontier()
    grown.extend(LEAVES[:1000])
    expected = grown.extend(LEAVES[1000:1300])
    restored = TreeFrontier.from_source(NODES, 1000)
    assert restored.root() == root_of(LEAVES[:1000])
    assert restored.extend(LEAVES[1000:1300]) == expected
    assert restored.to_bytes() == grown.to_bytes() and restored.root() == root_of(LEAVES[:1300])
    incremental = MemoryNodes()
    for leaf in LEAVES[:1000]:
        incremental.append(leaf)
    assert incremental.levels == MemoryNodes.from_leaf_hashes(LEAVES[:1000]).levels


def test_malformed_frontiers_are_refused() -> None:
    with pytest.raises(AuditTreeRangeInvalid):
        TreeFrontier.from_bytes(3, b"\x00" * 32)
    with pytest.raises(AuditTreeRangeInvalid):
        TreeFrontier(1, [b"short"])
    with pytest.raises(AuditTreeRangeInvalid):
        TreeFrontier().append(b"\x00" * 31)
    with pytest.raises(AuditTreeNodeMissing):
        TreeFrontier.from_source(MemoryNodes(), 1)
