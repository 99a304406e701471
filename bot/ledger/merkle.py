"""Merkle tree heads and inclusion proofs, exactly as in RFC 6962 / RFC 9162 §2.1.

Each day the bot publishes the tree head over that day's audit events (the leaves are the
events' 32-byte SHA-256 digests, in order). An evidence file carries, for each event, its
index i (from 0), the day's tree size n, the published head R and the proof p1..pk.

Checking a proof by hand needs nothing but SHA-256 over raw bytes (not over hex text). With
E the event's hash, start from r = SHA-256(0x00 || E), fn = i, sn = n - 1, and for each p in
the proof, in the order given:

- if sn is 0, the proof is too long: reject;
- if fn is odd or fn == sn, p is the left neighbour: r = SHA-256(0x01 || p || r); then, if
  fn was even, halve fn and sn (dropping remainders) until fn is odd or 0;
- otherwise p is the right neighbour: r = SHA-256(0x01 || r || p);
- then halve fn and sn once more.

The proof holds only if, at the end, sn is 0 and r equals R. In a shell, with hex strings in
$E, $p and $r, the first step is  printf '00%s' "$E" | xxd -r -p | sha256sum  and a left
neighbour step is  printf '01%s%s' "$p" "$r" | xxd -r -p | sha256sum  ("$r" "$p" for a right).

Take n from the published checkpoint, never from the evidence file: a proof does not bind the
tree size by itself (leaf 0 of a 3-leaf tree checks equally well against that head as "size
4"), so the head is only meaningful as the published pair (n, R).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

HASH_SIZE = 32
# Domain-separation prefixes (RFC 6962 §2.1): a leaf can never be passed off as an inner node.
_LEAF = b"\x00"
_NODE = b"\x01"
EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an inner node."""
    return sha256(_NODE + left + right).digest()


def _parent_level(level: Sequence[bytes]) -> list[bytes]:
    """Pair neighbours; an odd last node moves up unchanged.

    Carrying the odd node up (rather than duplicating it, as Bitcoin does) builds exactly the
    RFC's tree, whose left subtree is always the largest power of two: the full subtrees form
    from the left and the short right edge is joined last.
    """
    parents = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        parents.append(level[-1])
    return parents


class Tree:
    """A tree whose levels are hashed once, so that many proofs from one day cost no rehashing.

    Holds about two hashes per leaf: some 15 MB for 100,000 leaves.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = [leaf_hash(data) for data in leaves]
        self._levels: list[list[bytes]] = [level] if level else []
        while len(level) > 1:
            level = _parent_level(level)
            self._levels.append(level)

    @property
    def size(self) -> int:
        return len(self._levels[0]) if self._levels else 0

    @property
    def root(self) -> bytes:
        """MTH(D[n]) of RFC 9162 §2.1.1."""
        return self._levels[-1][0] if self._levels else EMPTY_ROOT

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[n]) of RFC 9162 §2.1.3.1: the neighbours from the leaf up to the root."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of {self.size} leaves")
        proof = []
        for level in self._levels[:-1]:
            neighbour = index ^ 1
            # No neighbour means the node is the odd one carried up: the RFC adds nothing here.
            if neighbour < len(level):
                proof.append(level[neighbour])
            index //= 2
        return proof


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, in O(n) time; the empty tree's head is SHA-256("")."""
    level = [leaf_hash(data) for data in leaves]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]); hashes the whole tree, so build one `Tree` for several proofs."""
    return Tree(leaves).inclusion_proof(index)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows `leaf` (the raw leaf, not its hash) at `index` in the tree `root`.

    RFC 9162 §2.1.3.2, step by step. The bit tricks also pin the proof's length: a path that
    is too long runs sn down to 0 early, one too short leaves sn above 0, and the left/right
    order they dictate is what makes a wrong index fail. A wrong `tree_size` fails only when it
    changes that order (RFC behaviour, not a gap here): `tree_size` must be the one published
    with `root`.
    """
    if not 0 <= index < tree_size or len(root) != HASH_SIZE:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash(leaf)
    for p in proof:
        # Every element must be a node hash; anything else could only be an attempt to forge.
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # fn == sn with fn even: this node was carried up through levels without a
            # neighbour, so skip those levels.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


class Frontier:
    """A tree's root built leaf by leaf, keeping only the roots of its full subtrees: memory
    grows with the logarithm of the number of leaves, and the root is the same as `root`'s."""

    def __init__(self) -> None:
        self._full: list[tuple[int, bytes]] = []  # (leaves under it, its hash), largest first
        self.size = 0

    def append(self, data: bytes) -> None:
        node, leaves = leaf_hash(data), 1
        while self._full and self._full[-1][0] == leaves:
            node, leaves = node_hash(self._full.pop()[1], node), leaves * 2
        self._full.append((leaves, node))
        self.size += 1

    @property
    def root(self) -> bytes:
        if not self._full:
            return EMPTY_ROOT
        node = self._full[-1][1]
        for _, left in reversed(self._full[:-1]):
            node = node_hash(left, node)
        return node
