"""RFC 9162 §2.1 Merkle trees: leaf and node hashes, roots, inclusion and consistency proofs.

The tree is kept as its completed perfect subtrees, each named by (level, index): the subtree of
2**level leaves starting at leaf index * 2**level; level 0 is the leaf hashes themselves. Every
hash a root or a proof needs is the hash of a range [lo, hi) of leaves whose start is aligned to
its largest power of two, so it is a right fold over at most log2(n) stored subtrees
(`pieces`). The functions here say which ranges a proof consists of (no hashes), which stored
subtrees those need, and how to combine them; the caller fetches the subtrees it needs in one go.
The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 and share no code with the generators.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # leaves [lo, hi)

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Returns SHA-256(0x00 ‖ data), the hash of a leaf."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Returns SHA-256(0x01 ‖ left ‖ right), the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Returns the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def pieces(lo: int, hi: int) -> list[Node]:
    """Returns the perfect subtrees, largest first, whose right fold is the hash of [lo, hi)."""
    out = []
    for level in range((hi - lo).bit_length() - 1, -1, -1):
        if (hi - lo) >> level & 1:
            out.append((level, lo >> level))
            lo += 1 << level
    return out


def range_hash(lo: int, hi: int, nodes: Mapping[Node, bytes]) -> bytes:
    """Returns MTH(D[lo:hi]) from the stored subtrees that cover it."""
    covering = [nodes[p] for p in pieces(lo, hi)]
    result = covering[-1]
    for left in reversed(covering[:-1]):
        result = node_hash(left, result)
    return result


def root(size: int, nodes: Mapping[Node, bytes]) -> bytes:
    """Returns the root of the tree of the first size leaves (SHA-256 of nothing when empty)."""
    return range_hash(0, size, nodes) if size else _sha256(b"").digest()


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Returns the ranges whose hashes make PATH(index, D[0:size]), bottom first."""
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """Returns the ranges whose hashes make PROOF(first, D[0:second]) (0 < first <= second)."""
    out: list[Range] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            m -= k
            lo += k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def needed(ranges: Iterable[Range]) -> set[Node]:
    """Returns the stored subtrees the hashes of these ranges need."""
    return {p for lo, hi in ranges for p in pieces(lo, hi)}


def hashes(ranges: Sequence[Range], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """Returns the hash of each range."""
    return [range_hash(lo, hi, nodes) for lo, hi in ranges]


class Frontier:
    """The right edge of a growing tree: the perfect subtrees that cover its leaves so far."""

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        self.size = size
        # Hashes of pieces(0, size), largest first.
        self.edge = list(edge)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Adds a leaf hash; returns the subtrees above level 0 it completes (level, index,
        hash)."""
        completed = []
        self.edge.append(leaf)
        index, level = self.size, 0
        while index & 1:
            right = self.edge.pop()
            merged = node_hash(self.edge.pop(), right)
            self.edge.append(merged)
            index >>= 1
            level += 1
            completed.append((level, index, merged))
        self.size += 1
        return completed

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Adds many leaf hashes, hashing whole aligned subtrees level by level (the fast path
        of a verifier, which needs the roots but not the subtrees)."""
        i, n = 0, len(leaves)
        while i < n:
            aligned = (self.size & -self.size).bit_length() - 1 if self.size else 64
            level = min(aligned, (n - i).bit_length() - 1)
            block = leaves[i : i + (1 << level)]
            while len(block) > 1:
                block = [
                    _sha256(b"\x01" + a + b).digest()
                    for a, b in zip(block[::2], block[1::2], strict=True)
                ]
            merged, height = block[0], level
            while self.size >> height & 1:  # a piece of this height ends the edge: carry
                merged = node_hash(self.edge.pop(), merged)
                height += 1
            self.edge.append(merged)
            self.size += 1 << level
            i += 1 << level

    def root(self) -> bytes:
        """Returns the root of the tree so far."""
        if not self.edge:
            return _sha256(b"").digest()
        result = self.edge[-1]
        for left in reversed(self.edge[:-1]):
            result = node_hash(left, result)
        return result


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Checks an inclusion proof the way RFC 9162 §2.1.3.2 says."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Checks a consistency proof the way RFC 9162 §2.1.4.2 says."""
    if first < 1 or first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    proof = list(path)
    if first & (first - 1) == 0:
        proof.insert(0, first_root)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
