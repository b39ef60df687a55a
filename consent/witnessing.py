"""The log's side of witnessing: submit each new tree head to the configured witnesses
(C2SP tlog-witness `add-checkpoint`), keep their cosignatures and mirror the cosigned head.

Runs in the publish task (beat, every minute) or the embedded publisher loop, never on a
consent request. Settings: CIVICDESK["WITNESS_URLS"], ["WITNESS_KEYS"], ["WITNESS_QUORUM"].
"""

from __future__ import annotations

import base64

from django.db.models import Max
from django.utils import timezone

from consent import anchor, ledger
from consent import verify as v
from consent.models import TreeHead, TreeHeadCosignature
from consent.witnesses import (  # noqa: F401 - re-exported: the witnesses as seen from here
    Witness,
    WitnessError,
    add_checkpoint_body,
    checkpoint_note,
    configured_witnesses,
    cosignature_lines,
    http_request,
    quorum,
    witness_latest,
)
from core.security_log import security_event


def submit(witness: Witness, head: TreeHead) -> str:
    """Ask one witness to cosign `head`; returns its verified cosignature line."""
    body_text = head.checkpoint.partition("\n\n")[0] + "\n"
    last = TreeHeadCosignature.objects.filter(
        witness=witness.name, tree_size__lte=head.tree_size).aggregate(m=Max("tree_size"))["m"]
    old = last or 0
    for _ in range(3):
        proof = (ledger.consistency_proof(first=old, second=head.tree_size)
                 if 0 < old < head.tree_size else [])
        status, ctype, text = http_request(
            "POST", witness.url + "/add-checkpoint",
            add_checkpoint_body(old=old, proof=proof, checkpoint=head.checkpoint).encode())
        if status == 200:
            for line in text.splitlines():
                name, _, b64 = line.removeprefix("\u2014 ").rpartition(" ")
                if name != witness.name:
                    continue
                try:
                    raw = base64.b64decode(b64, validate=True)
                except ValueError:
                    continue
                if v.verify_cosignature(body_text, raw, witness.key) is not None:
                    return line + "\n"
            raise WitnessError("answered 200 without a valid cosignature", refused=True)
        if status == 409 and ctype.startswith("text/x.tlog.size"):
            try:
                known = int(text.strip())
            except ValueError as exc:
                raise WitnessError("409 with a malformed size", refused=True) from exc
            if known > head.tree_size:
                raise WitnessError(
                    f"the witness has cosigned a tree of size {known}, larger than this log's "
                    f"{head.tree_size}: the log was rolled back", refused=True)
            old = known
            continue
        raise WitnessError(f"refused with HTTP {status}: {text.strip()[:300]}",
                           refused=status != 503)
    raise WitnessError("the witness's size kept changing", refused=False)


def cosign_latest_head() -> dict[str, str]:
    """Submit the latest head to every witness that has not cosigned it; store and mirror the
    cosignatures. Returns an outcome per witness ("cosigned", "already" or the error)."""
    head = ledger.latest_head()
    witnesses = configured_witnesses()
    if head is None or not witnesses:
        return {}
    have = set(TreeHeadCosignature.objects.filter(tree_size=head.tree_size)
               .values_list("witness", flat=True))
    outcome: dict[str, str] = {}
    for witness in witnesses:
        if witness.name in have:
            outcome[witness.name] = "already"
            continue
        try:
            line = submit(witness, head)
        except WitnessError as exc:
            outcome[witness.name] = str(exc)
            security_event("tlog.witness.refused" if exc.refused else "tlog.witness.unreachable",
                           witness=witness.name, tree_size=head.tree_size, detail=str(exc))
            continue
        TreeHeadCosignature.objects.create(tree_size=head.tree_size, witness=witness.name,
                                           line=line, cosigned_at=timezone.now())
        outcome[witness.name] = "cosigned"
    if "cosigned" in outcome.values():
        anchor.mirror_note(origin=ledger.log_key().origin, tree_size=head.tree_size,
                           note=checkpoint_note(head))
    return outcome
