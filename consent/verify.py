"""Verification of receipts, checkpoints and proofs: the project's view of the standalone
verifier `tools/civicdesk_verify.py` (one file, standard library only, that residents download).
"""

from tools.civicdesk_verify import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    DEV_ORIGIN_SUFFIX,
    EMPTY_ROOT,
    PROMISE_TYPE,
    Checkpoint,
    ReceiptResult,
    VerificationError,
    VerifierKey,
    canonical_json,
    cosignature_message,
    ed25519_verify,
    key_id,
    leaf_hash,
    node_hash,
    parse_checkpoint_body,
    receipt_body,
    sha256_hex,
    split_note,
    statement_message,
    subject_commitment,
    verify_checkpoint,
    verify_consistency,
    verify_cosignature,
    verify_inclusion,
    verify_receipt,
    verify_statement,
)

__all__ = [
    "ALG_COSIGNATURE_V1", "ALG_ED25519", "DEV_ORIGIN_SUFFIX", "EMPTY_ROOT", "PROMISE_TYPE",
    "Checkpoint", "ReceiptResult", "VerificationError", "VerifierKey", "canonical_json",
    "cosignature_message", "ed25519_verify", "key_id", "leaf_hash", "node_hash",
    "parse_checkpoint_body", "receipt_body", "sha256_hex", "split_note", "statement_message",
    "subject_commitment", "verify_checkpoint", "verify_consistency", "verify_cosignature",
    "verify_inclusion", "verify_receipt", "verify_statement",
]
