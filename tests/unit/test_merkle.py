"""Merkle heads and inclusion proofs agree with RFC 9162 and with its published test vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    Tree,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_inclusion,
)

# --- A deliberately naive reference, written straight from RFC 9162 §2.1.1 and §2.1.3.1 ---


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + d[0])
    k = _split(n)
    return _sha(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:]))


def naive_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_sides(m: int, n: int) -> list[bool]:
    """For each element of PATH(m, D[n]), whether it is the left neighbour."""
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*naive_sides(m, k), False]
    return [*naive_sides(m - k, n - k), True]


def leaves_of(n: int) -> list[bytes]:
    # Shaped like the real leaves: 32-byte event digests.
    return [_sha(f"event {i}".encode()) for i in range(n)]


def flip(data: bytes, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- The RFC 6962 reference tree -------------------------------------------------------------
# Confirmed in google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc
# (kInputs, kSHA256Roots, kSHA256Paths; that file counts leaves from 1, we count from 0).

CT_INPUTS = [
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
CT_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# (index from 0, tree size) -> PATH
CT_PATHS = {
    (0, 1): [],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


@pytest.mark.parametrize("n", sorted(CT_ROOTS))
def test_rfc6962_reference_roots(n: int) -> None:
    assert root(CT_INPUTS[:n]).hex() == CT_ROOTS[n]
    assert Tree(CT_INPUTS[:n]).root.hex() == CT_ROOTS[n]
    # The naive reference is checked against the published vector too, so it can be trusted.
    assert naive_mth(CT_INPUTS[:n]).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size"), sorted(CT_PATHS))
def test_rfc6962_reference_paths(index: int, size: int) -> None:
    proof = inclusion_proof(CT_INPUTS[:size], index)
    assert [p.hex() for p in proof] == CT_PATHS[(index, size)]
    assert verify_inclusion(CT_INPUTS[index], index, size, proof, bytes.fromhex(CT_ROOTS[size]))


def test_hash_primitives() -> None:
    assert EMPTY_ROOT == root([]) == _sha(b"")
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha(b"\x01" + b"L" * 32 + b"R" * 32)


def test_known_small_trees_by_hand() -> None:
    a, b, c, d, e = (leaf_hash(x) for x in leaves_of(5))
    leaves = leaves_of(5)
    assert root(leaves[:1]) == a
    assert root(leaves[:2]) == node_hash(a, b)
    assert root(leaves[:3]) == node_hash(node_hash(a, b), c)
    assert root(leaves[:4]) == node_hash(node_hash(a, b), node_hash(c, d))
    assert root(leaves) == node_hash(node_hash(node_hash(a, b), node_hash(c, d)), e)


@pytest.mark.parametrize("n", range(71))
def test_root_matches_naive(n: int) -> None:
    leaves = leaves_of(n)
    assert root(leaves) == naive_mth(leaves)
    assert Tree(leaves).root == root(leaves)
    assert Tree(leaves).size == n


@pytest.mark.parametrize("n", range(1, 41))
def test_every_proof_matches_naive_and_verifies(n: int) -> None:
    leaves = leaves_of(n)
    tree = Tree(leaves)
    head = naive_mth(leaves)
    for m in range(n):
        proof = tree.inclusion_proof(m)
        assert proof == naive_path(m, leaves)
        assert proof == inclusion_proof(leaves, m)
        assert verify_inclusion(leaves[m], m, n, proof, head)


def test_root_is_order_sensitive_and_not_padded() -> None:
    a, b, c = leaves_of(3)
    assert root([a, b]) != root([b, a])
    # A tree that duplicates its odd node (Bitcoin's way) would make these two equal.
    assert root([a, b, c]) != root([a, b, c, c])


# --- Rejections --------------------------------------------------------------------------------

NEGATIVE_SIZES = [1, 2, 3, 5, 7, 8, 13, 16, 21]


def _cases() -> list[tuple[int, int]]:
    return [(n, m) for n in NEGATIVE_SIZES for m in range(n)]


@pytest.mark.parametrize(("n", "m"), _cases())
def test_tampering_is_rejected(n: int, m: int) -> None:
    leaves = leaves_of(n)
    tree = Tree(leaves)
    proof, head, leaf = tree.inclusion_proof(m), tree.root, leaves[m]
    assert verify_inclusion(leaf, m, n, proof, head)

    for bit in (0, 7, 100, 255):
        assert not verify_inclusion(flip(leaf, bit), m, n, proof, head)
        assert not verify_inclusion(leaf, m, n, proof, flip(head, bit))
        for j in range(len(proof)):
            bad = [*proof]
            bad[j] = flip(bad[j], bit)
            assert not verify_inclusion(leaf, m, n, bad, head)

    for other in {m - 1, m + 1, m ^ 1, m ^ 2, -1, n, n + 1}:
        if other != m:
            assert not verify_inclusion(leaf, other, n, proof, head)
    for size in {n - 1, n + 1, n * 2, n // 2, 0, -1}:
        if size != n:
            # A wrong size is caught exactly when it changes the left/right pattern; the rest
            # is why the size must come from the published checkpoint (next test).
            same_shape = m < size and naive_sides(m, size) == naive_sides(m, n)
            assert verify_inclusion(leaf, m, size, proof, head) is same_shape

    assert not verify_inclusion(leaf, m, n, [*proof, head], head)
    assert not verify_inclusion(leaf, m, n, [*proof, EMPTY_ROOT], head)
    assert not verify_inclusion(leaf, m, n, [head, *proof], head)
    if proof:
        assert not verify_inclusion(leaf, m, n, proof[:-1], head)
        assert not verify_inclusion(leaf, m, n, proof[1:], head)
    if len(proof) > 1:
        assert not verify_inclusion(leaf, m, n, proof[::-1], head)


def test_tree_size_is_bound_by_the_checkpoint_not_by_the_proof() -> None:
    # Pinned on purpose: RFC 9162 verification cannot tell size 3 from size 4 for leaf 0
    # (both are "right neighbour, right neighbour"), so n must be taken from the published
    # (size, head) pair. The heads of the two sizes differ, which is what makes that safe.
    leaves = leaves_of(4)
    proof, head = inclusion_proof(leaves[:3], 0), root(leaves[:3])
    assert verify_inclusion(leaves[0], 0, 3, proof, head)
    assert verify_inclusion(leaves[0], 0, 4, proof, head)
    assert root(leaves[:4]) != head
    assert not verify_inclusion(leaves[0], 0, 2, proof, head)
    assert not verify_inclusion(leaves[0], 0, 5, proof, head)


@pytest.mark.parametrize(
    ("index", "size", "proof", "head"),
    [
        (0, 0, [], EMPTY_ROOT),
        (0, 1, [], b""),
        (0, 1, [], b"x" * 33),
        (0, 2, [b""], EMPTY_ROOT),
        (0, 2, [b"x" * 31], EMPTY_ROOT),
        (-5, 3, [EMPTY_ROOT], EMPTY_ROOT),
        (3, 2**200, [EMPTY_ROOT] * 300, EMPTY_ROOT),
        (0, 2**64, [], EMPTY_ROOT),
    ],
)
def test_malformed_input_returns_false(
    index: int, size: int, proof: list[bytes], head: bytes
) -> None:
    assert verify_inclusion(b"leaf", index, size, proof, head) is False


def test_single_leaf_tree_needs_an_empty_proof() -> None:
    (leaf,) = leaves_of(1)
    head = root([leaf])
    assert inclusion_proof([leaf], 0) == []
    assert verify_inclusion(leaf, 0, 1, [], head)
    assert not verify_inclusion(leaf, 0, 1, [head], head)


@pytest.mark.parametrize(("n", "index"), [(0, 0), (3, 3), (3, -1), (1, 5)])
def test_proof_for_missing_leaf_is_an_error(n: int, index: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(leaves_of(n), index)


# --- Properties ----------------------------------------------------------------------------------


@given(
    leaves=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=150),
    data=st.data(),
)
def test_proofs_verify_only_their_own_leaf(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1), label="index")
    other = data.draw(st.binary(min_size=0, max_size=40).filter(lambda b: b != leaves[index]))
    tree = Tree(leaves)
    proof = tree.inclusion_proof(index)
    assert tree.root == root(leaves)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, tree.root)
    assert not verify_inclusion(other, index, len(leaves), proof, tree.root)


def test_a_days_worth_of_events() -> None:
    # No timing assertion: this only shows a realistic day (100,000 events) is handled at all.
    leaves = leaves_of(100_000)
    tree = Tree(leaves)
    assert tree.root == root(leaves)
    for index in (0, 1, 65_535, 65_536, 99_998, 99_999):
        proof = tree.inclusion_proof(index)
        assert len(proof) <= 17
        assert verify_inclusion(leaves[index], index, 100_000, proof, tree.root)


@given(st.lists(st.binary(min_size=0, max_size=40), max_size=300))
def test_a_root_built_leaf_by_leaf_is_the_trees(leaves: list[bytes]) -> None:
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert (frontier.size, frontier.root) == (len(leaves), root(leaves))
