"""Audit Merkle tree speed: proof generation and verification, roots, frontier appends.

    .venv/bin/python benchmarks/audit_proofs.py [--leaves 1000000] [--samples 2000]

Builds an in-memory tree of ``--leaves`` leaves (every perfect node, as the database keeps
them), then times inclusion and consistency proofs for random leaves and size pairs, their
verification, roots at random sizes, the sequencer's frontier appends, and rebuilding the
frontier from stored nodes. Also counts the node reads each proof needs (what a database
query fetches). Prints medians and p95 in microseconds; no assertions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policy.audit.merkle import (  # noqa: E402
    MemoryNodes,
    TreeFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    tree_root,
    verify_consistency,
    verify_inclusion,
)


def timed(samples: list[tuple[int, ...]], call: Callable[..., object]) -> tuple[float, float]:
    """Median and p95 of ``call(*sample)`` in microseconds."""
    spent = []
    for sample in samples:
        start = time.perf_counter()
        call(*sample)
        spent.append((time.perf_counter() - start) * 1e6)
    spent.sort()
    return statistics.median(spent), spent[int(0.95 * (len(spent) - 1))]


def row(name: str, figures: tuple[float, float], extra: str = "") -> None:
    print(f"| {name:<44} | {figures[0]:>9.1f} | {figures[1]:>9.1f} | {extra} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    n, rng = args.leaves, random.Random(0)

    start = time.perf_counter()
    leaves = [leaf_hash(i.to_bytes(8, "big") * 40) for i in range(n)]  # ~320-byte events
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    frontier = TreeFrontier()
    stored = 0
    for leaf in leaves:
        stored += len(frontier.append(leaf))
    appended = time.perf_counter() - start
    start = time.perf_counter()
    nodes = MemoryNodes.from_leaf_hashes(leaves)
    built = time.perf_counter() - start
    root = frontier.root()
    assert root == tree_root(nodes, n)

    print(f"tree of {n:,} leaves; {args.samples} samples per row; Python "
          f"{sys.version.split()[0]}\n")
    print(f"- leaf hashing (320-byte events): {n / hashed:,.0f} leaves/s")
    print(f"- TreeFrontier.append: {n / appended:,.0f} appends/s "
          f"({stored / n:.2f} perfect nodes stored per leaf)")
    print(f"- MemoryNodes.from_leaf_hashes: {built:.2f} s\n")
    print(f"| {'operation':<44} | {'median µs':>9} | {'p95 µs':>9} | notes |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 11}|-------|")

    sizes = [(rng.randint(1, n),) for _ in range(args.samples)]
    row("tree_root(random size)", timed(sizes, lambda s: tree_root(nodes, s)))
    row("TreeFrontier.root() at full size", timed([()] * args.samples, frontier.root))
    row("TreeFrontier.from_source(random size)",
        timed(sizes, lambda s: TreeFrontier.from_source(nodes, s)))

    indices = [(rng.randrange(n),) for _ in range(args.samples)]
    proofs = {i: inclusion_proof(nodes, i, n) for (i,) in indices}
    reads = statistics.mean(len(nodes_for_inclusion(i, n)) for (i,) in indices[:200])
    row("inclusion_proof(random leaf, full size)",
        timed(indices, lambda i: inclusion_proof(nodes, i, n)),
        f"{statistics.mean(map(len, proofs.values())):.1f} hashes, {reads:.1f} node reads")
    row("verify_inclusion",
        timed(indices, lambda i: verify_inclusion(leaves[i], i, n, proofs[i], root)))
    row("nodes_for_inclusion (keys for one query)",
        timed(indices, lambda i: nodes_for_inclusion(i, n)))

    pairs = [tuple(sorted((rng.randint(1, n), rng.randint(1, n)))) for _ in range(args.samples)]
    roots = {s: tree_root(nodes, s) for pair in pairs for s in pair}
    consistency = {p: consistency_proof(nodes, *p) for p in pairs}
    reads = statistics.mean(len(nodes_for_consistency(*p)) for p in pairs[:200])
    row("consistency_proof(random old < new)",
        timed(pairs, lambda old, new: consistency_proof(nodes, old, new)),
        f"{statistics.mean(map(len, consistency.values())):.1f} hashes, "
        f"{reads:.1f} node reads")
    row("verify_consistency",
        timed(pairs, lambda old, new: verify_consistency(old, new, roots[old], roots[new],
                                                         consistency[(old, new)])))


if __name__ == "__main__":
    main()
