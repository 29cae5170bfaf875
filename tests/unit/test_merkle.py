"""The Merkle tree against the RFC 6962/9162 vectors, and every proof against the verifiers."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from adapters import merkle

# The Certificate Transparency test inputs (transparency-dev/merkle, testonly/reference_test.go).
INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
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
INCLUSION = {
    (0, 1): "",
    (0, 2): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (1, 2): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (2, 3): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 5): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 8): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (5, 8): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
}
CONSISTENCY = {
    (1, 1): "",
    (1, 8): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (2, 5): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (6, 8): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
}


def mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursively: the reference the tree is checked with."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def stored(leaves: list[bytes]) -> dict[merkle.Node, bytes]:
    """Every completed subtree of a tree, built by appending to a frontier as the router does."""
    frontier, nodes = merkle.Frontier(), {}
    for i, leaf in enumerate(leaves):
        nodes[(0, i)] = leaf
        nodes.update({(level, index): h for level, index, h in frontier.append(leaf)})
    return nodes


def chunks(joined: str) -> list[bytes]:
    return [bytes.fromhex(joined[i : i + 64]) for i in range(0, len(joined), 64)]


VECTOR_LEAVES = [merkle.leaf_hash(d) for d in INPUTS]
VECTOR_NODES = stored(VECTOR_LEAVES)


def test_roots_of_the_ct_vectors_match_at_every_size() -> None:
    for size, want in enumerate(ROOTS):
        assert merkle.root(size, VECTOR_NODES).hex() == want
        assert mth(VECTOR_LEAVES[:size]).hex() == want


def test_a_frontier_gives_the_root_of_every_prefix() -> None:
    frontier = merkle.Frontier()
    assert frontier.root().hex() == ROOTS[0]
    for size, leaf in enumerate(VECTOR_LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.root().hex() == ROOTS[size]
        restarted = merkle.Frontier(size, [VECTOR_NODES[p] for p in merkle.pieces(0, size)])
        assert restarted.root() == frontier.root()


def test_inclusion_proofs_match_the_ct_vectors() -> None:
    for (index, size), want in INCLUSION.items():
        path = merkle.hashes(merkle.inclusion_ranges(index, size), VECTOR_NODES)
        assert b"".join(path).hex() == want
        root = bytes.fromhex(ROOTS[size])
        assert merkle.verify_inclusion(index, size, VECTOR_LEAVES[index], chunks(want), root)


def test_consistency_proofs_match_the_ct_vectors() -> None:
    for (first, second), want in CONSISTENCY.items():
        path = merkle.hashes(merkle.consistency_ranges(first, second), VECTOR_NODES)
        assert b"".join(path).hex() == want
        assert merkle.verify_consistency(
            first, second, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]), chunks(want)
        )


def _flip(path: list[bytes], which: int, byte: int) -> list[bytes]:
    altered = bytearray(path[which])
    altered[byte] ^= 0x01
    return [*path[:which], bytes(altered), *path[which + 1 :]]


@given(st.lists(st.integers(0, 40), max_size=8))
def test_extending_in_batches_gives_the_roots_of_appending_one_by_one(batches: list[int]) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(sum(batches))]
    one, many, done = merkle.Frontier(), merkle.Frontier(), 0
    for count in batches:
        for leaf in leaves[done : done + count]:
            one.append(leaf)
        many.extend(leaves[done : done + count])
        done += count
        assert (many.size, many.root(), many.edge) == (one.size, one.root(), one.edge)


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(1, 300))
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    return leaves, draw(st.integers(0, size - 1))


@given(tree_and_index(), st.data())
def test_every_inclusion_proof_verifies_and_fails_when_any_byte_changes(
    tree: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = tree
    size, nodes, root = len(leaves), stored(leaves), mth(leaves)
    ranges = merkle.inclusion_ranges(index, size)
    assert merkle.needed(ranges) <= nodes.keys()
    path = merkle.hashes(ranges, nodes)
    assert merkle.root(size, nodes) == root
    assert merkle.verify_inclusion(index, size, leaves[index], path, root)
    if path:
        which = data.draw(st.integers(0, len(path) - 1))
        bad = _flip(path, which, data.draw(st.integers(0, 31)))
        assert not merkle.verify_inclusion(index, size, leaves[index], bad, root)
        assert not merkle.verify_inclusion(index, size, leaves[index], path[:-1], root)
    other = data.draw(st.integers(0, size - 1))
    if other != index:
        assert not merkle.verify_inclusion(other, size, leaves[index], path, root)
    assert not merkle.verify_inclusion(index, size, _flip([leaves[index]], 0, 0)[0], path, root)


@given(tree_and_index(), st.data())
def test_every_consistency_proof_verifies_and_fails_when_any_byte_changes(
    tree: tuple[list[bytes], int], data: st.DataObject
) -> None:
    leaves, index = tree
    second, first = len(leaves), index + 1
    nodes = stored(leaves)
    first_root, second_root = mth(leaves[:first]), mth(leaves)
    path = merkle.hashes(merkle.consistency_ranges(first, second), nodes)
    assert merkle.verify_consistency(first, second, first_root, second_root, path)
    if path:
        which = data.draw(st.integers(0, len(path) - 1))
        bad = _flip(path, which, data.draw(st.integers(0, 31)))
        assert not merkle.verify_consistency(first, second, first_root, second_root, bad)
    if first < second:
        wrong = _flip([first_root], 0, data.draw(st.integers(0, 31)))[0]
        assert not merkle.verify_consistency(first, second, wrong, second_root, path)
        assert not merkle.verify_consistency(first, second, first_root, wrong, path)
