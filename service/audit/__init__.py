"""The service's audit log beyond single writes (``service.db.audit.record``).

- ``sequencer``: chains committed inbox events and grows the Merkle tree (one lock, batches);
- ``tree_store``: the tree's perfect nodes in SQL, roots and proofs read from them;
- ``checkpoints``: signed checkpoints, stored and exported to write-once storage;
- ``verify``: recomputes chain, tree and checkpoints and names the first bad entry;
- ``runner``: where the sequencer and checkpoints run (maintenance loop, API thread).
"""
