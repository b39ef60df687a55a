"""The configured witnesses of the transparency log and how to talk to them (settings, the
HTTP client, cosignature lines); consent/witnessing.py submits heads to them.

No dependency on consent.ledger, so the ledger's verification can read the witnesses' state.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from consent import verify as v
from consent.models import TreeHead, TreeHeadCosignature


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


def http_request(method: str, url: str, body: bytes | None = None) -> tuple[int, str, str]:
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


def witness_latest(witness: Witness, origin: str) -> str | None:
    """The last checkpoint `witness` cosigned for `origin` (CivicDesk extension GET /latest),
    None if it cosigned nothing. Raises WitnessError if unreachable."""
    status, _, text = http_request("GET", f"{witness.url}/latest?origin={quote(origin, safe='')}")
    if status == 404:
        return None
    if status != 200:
        raise WitnessError(f"HTTP {status}", refused=False)
    return text
