"""The log's side of witnessing: submit each new tree head to the configured witnesses
(C2SP tlog-witness `add-checkpoint`), keep their cosignatures and mirror the cosigned head.

Runs in the publish task (beat, every minute) or the embedded publisher loop, never on a
consent request. Settings: CIVICDESK["WITNESS_URLS"], ["WITNESS_KEYS"], ["WITNESS_QUORUM"].
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max
from django.utils import timezone

from consent import anchor, ledger
from consent import verify as v
from consent.models import TreeHead, TreeHeadCosignature
from core.security_log import security_event


class WitnessError(Exception):
    """A witness refused a head or could not be reached."""

    def __init__(self, detail: str, *, refused: bool) -> None:
        super().__init__(detail)
        self.refused = refused


@dataclass(frozen=True)
class Witness:
    url: str
    key: v.VerifierKey

    @property
    def name(self) -> str:
        return self.key.name


def configured_witnesses() -> list[Witness]:
    conf = settings.CIVICDESK
    urls, keys = conf.get("WITNESS_URLS", []), conf.get("WITNESS_KEYS", [])
    if len(urls) != len(keys):
        raise ImproperlyConfigured(
            "CIVICDESK_WITNESS_URLS and CIVICDESK_WITNESS_KEYS must list the same witnesses")
    try:
        return [Witness(url=u.rstrip("/"), key=v.VerifierKey.parse(k))
                for u, k in zip(urls, keys, strict=True)]
    except v.VerificationError as exc:
        raise ImproperlyConfigured(f"CIVICDESK_WITNESS_KEYS: {exc}") from exc


def quorum() -> int:
    """How many witness cosignatures make a head witnessed (0 with no witnesses)."""
    configured = len(configured_witnesses())
    wanted = int(settings.CIVICDESK.get("WITNESS_QUORUM", -1))
    if wanted < 0:
        return min(1, configured)
    if wanted > configured:
        raise ImproperlyConfigured("CIVICDESK_WITNESS_QUORUM is larger than the witness list")
    return wanted


def cosignature_lines(tree_size: int) -> list[str]:
    return [line.rstrip("\n") + "\n" for line in TreeHeadCosignature.objects.filter(
        tree_size=tree_size).order_by("witness").values_list("line", flat=True)]


def checkpoint_note(head: TreeHead) -> str:
    """The head's checkpoint with every witness cosignature appended (a signed note)."""
    return head.checkpoint + "".join(cosignature_lines(head.tree_size))


def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, str, str]:
    timeout = float(settings.CIVICDESK.get("WITNESS_TIMEOUT_SECONDS", 5.0))
    request = urllib.request.Request(url, data=body, method=method,  # noqa: S310 - configured
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), \
                response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), \
            exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WitnessError(f"unreachable: {exc}", refused=False) from exc


def add_checkpoint_body(*, old: int, proof: list[bytes], checkpoint: str) -> str:
    return f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + \
        "\n" + checkpoint


def submit(witness: Witness, head: TreeHead) -> str:
    """Ask one witness to cosign `head`; returns its verified cosignature line."""
    body_text = head.checkpoint.partition("\n\n")[0] + "\n"
    last = TreeHeadCosignature.objects.filter(
        witness=witness.name, tree_size__lte=head.tree_size).aggregate(m=Max("tree_size"))["m"]
    old = last or 0
    for _ in range(3):
        proof = (ledger.consistency_proof(first=old, second=head.tree_size)
                 if 0 < old < head.tree_size else [])
        status, ctype, text = _http(
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


def witness_latest(witness: Witness, origin: str) -> str | None:
    """The last checkpoint `witness` cosigned for `origin` (CivicDesk extension GET /latest),
    None if it cosigned nothing. Raises WitnessError if unreachable."""
    status, _, text = _http("GET", f"{witness.url}/latest?origin={quote(origin, safe='')}")
    if status == 404:
        return None
    if status != 200:
        raise WitnessError(f"HTTP {status}", refused=False)
    return text
