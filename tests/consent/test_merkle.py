"""The log's Merkle tree agrees with RFC 6962 and with a naive implementation, sizes 1–64."""

from __future__ import annotations

import hashlib

import pytest
from django.db import transaction

from consent import ledger
from consent import verify as v

# --- An independent, naive RFC 6962 implementation (straight from §2.1, list slicing) ------


def naive_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def naive_node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = split(n)
    return naive_node(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return naive_path(m, leaves[:k]) + [naive_mth(leaves[k:])]
    return naive_path(m - k, leaves[k:]) + [naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [naive_mth(leaves)]
    k = split(n)
    if m <= k:
        return naive_subproof(m, leaves[:k], b) + [naive_mth(leaves[k:])]
    return naive_subproof(m - k, leaves[k:], False) + [naive_mth(leaves[:k])]


def naive_consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    return naive_subproof(m, leaves, True)


# --- RFC 6962 reference data (the Certificate Transparency test vectors) --------------------

CT_LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def test_naive_tree_reproduces_the_rfc_6962_reference_roots() -> None:
    hashes = [naive_leaf(x) for x in CT_LEAVES]
    assert naive_mth([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for n in range(1, 9):
        assert naive_mth(hashes[:n]).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_reference_inclusion_proofs_verify_and_match_the_naive_path(index, size, proof) -> None:
    hashes = [naive_leaf(x) for x in CT_LEAVES]
    assert [p.hex() for p in naive_path(index, hashes[:size])] == proof
    v.verify_inclusion(index=index, tree_size=size, leaf=hashes[index],
                       proof=[bytes.fromhex(p) for p in proof],
                       root=bytes.fromhex(CT_ROOTS[size - 1]))


def test_verifier_rejects_a_proof_for_the_wrong_leaf() -> None:
    hashes = [naive_leaf(x) for x in CT_LEAVES]
    index, size, proof = CT_INCLUSION[0]
    with pytest.raises(v.VerificationError):
        v.verify_inclusion(index=index, tree_size=size, leaf=hashes[1],
                           proof=[bytes.fromhex(p) for p in proof],
                           root=bytes.fromhex(CT_ROOTS[size - 1]))


def test_verifier_accepts_every_naive_proof_and_rejects_tampered_ones_up_to_64() -> None:
    leaves = [naive_leaf(bytes([i, i * 7 % 256])) for i in range(64)]
    for n in range(1, 65):
        root = naive_mth(leaves[:n])
        for m in range(n):
            proof = naive_path(m, leaves[:n])
            v.verify_inclusion(index=m, tree_size=n, leaf=leaves[m], proof=proof, root=root)
            if proof:
                bad = [*proof[:-1], bytes(32)]
                with pytest.raises(v.VerificationError):
                    v.verify_inclusion(index=m, tree_size=n, leaf=leaves[m], proof=bad, root=root)
        for m in range(1, n + 1):
            proof = naive_consistency(m, leaves[:n]) if m < n else []
            v.verify_consistency(first=m, second=n, first_root=naive_mth(leaves[:m]),
                                 second_root=root, proof=proof)
            if m < n:
                with pytest.raises(v.VerificationError):
                    v.verify_consistency(first=m, second=n, first_root=naive_mth(leaves[:m]),
                                         second_root=bytes(32), proof=proof)


# --- The database-backed log against the naive implementation -------------------------------


@pytest.fixture
def log64(db):
    """64 entries, tree heads published at irregular batch sizes (every integration shape)."""
    batches = {1, 2, 3, 5, 8, 13, 16, 21, 31, 32, 34, 55, 63, 64}
    for i in range(64):
        with transaction.atomic():
            ledger.ledger_append(kind="test", body={"n": i})
        if i + 1 in batches:
            ledger.publish_tree_head()
    from consent.models import LogEntry

    return [bytes.fromhex(h) for h in LogEntry.objects.order_by("index")
            .values_list("leaf_hash", flat=True)]


def test_log_roots_match_naive_roots_for_every_size_1_to_64(log64) -> None:
    for n in range(1, 65):
        assert ledger.root_hash(n) == naive_mth(log64[:n]), n


def test_log_inclusion_proofs_match_naive_for_every_index_of_every_size(log64) -> None:
    for n in range(1, 65):
        for m in range(n):
            assert ledger.inclusion_proof(index=m, tree_size=n) == naive_path(m, log64[:n]), (m, n)


def test_log_consistency_proofs_match_naive_for_every_pair_of_sizes(log64) -> None:
    for n in range(1, 65):
        for m in range(1, n):
            got = ledger.consistency_proof(first=m, second=n)
            assert got == naive_consistency(m, log64[:n]), (m, n)
            v.verify_consistency(first=m, second=n, first_root=naive_mth(log64[:m]),
                                 second_root=naive_mth(log64[:n]), proof=got)


def test_stored_tree_heads_are_the_naive_roots_of_their_sizes(log64) -> None:
    from consent.models import TreeHead

    for head in TreeHead.objects.all():
        assert head.root_hash == naive_mth(log64[: head.tree_size]).hex()
