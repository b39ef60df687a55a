"""The routing text classifier: TF-IDF (words + character n-grams) and a linear model.

Small and explainable: every prediction names the terms that pushed it there. Character
n-grams make it work for Chinese without a word segmenter. The model is stored as plain JSON
(no pickle) at settings.CIVICDESK["ROUTER_MODEL_PATH"]; without one, it is trained on first
use. The bilingual seed set shipped in services/data/router_seed.json is labelled with the demo
city's department codes, so only the demo (CIVICDESK_DEMO, the default) trains on it; a real
city's model learns from its own staff-confirmed, consented requests, and until it has
examples of two departments there is no model: the classifier abstains (Triage decides).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from consent import policy
from services.models import Category, ServiceRequest, Status

if TYPE_CHECKING:
    from core.users import User

logger = logging.getLogger(__name__)

SEED_PATH = Path(__file__).resolve().parent / "data" / "router_seed.json"
PURPOSE_ROUTING_TRAINING = "routing-model-training"
MODEL_FORMAT = 1

# Latin-script words for the word features; CJK text is covered by the character n-grams.
WORD_PATTERN = r"(?u)[A-Za-z\u00C0-\u024F]{2,}"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

VECTORIZERS: list[dict[str, Any]] = [
    {
        "name": "word",
        "analyzer": "word",
        "ngram_range": [1, 1],
        "token_pattern": WORD_PATTERN,
        "stop_words": "english",
    },
    {"name": "char", "analyzer": "char_wb", "ngram_range": [1, 3]},
]


@dataclass(frozen=True)
class Prediction:
    label: str  # a department code
    score: float  # the model's probability for that label
    top_terms: tuple[tuple[str, float], ...]  # readable terms and their contribution
    model_version: str


def _vectorizer(spec: dict[str, Any], vocabulary: dict[str, int] | None = None) -> Any:
    # scikit-learn is imported where a model is built or loaded (routing and training
    # workers), so web processes that import this module never load it.
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    kwargs: dict[str, Any] = {
        "analyzer": spec["analyzer"],
        "ngram_range": tuple(spec["ngram_range"]),
        "lowercase": True,
    }
    if spec["analyzer"] == "word":
        kwargs["token_pattern"] = spec["token_pattern"]
        kwargs["stop_words"] = spec.get("stop_words")
    if vocabulary is None:
        return TfidfVectorizer(sublinear_tf=True, **kwargs)
    return CountVectorizer(vocabulary=vocabulary, **kwargs)


class RouterModel:
    """A trained model loaded from its JSON form; `predict` needs numpy only."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError("unknown router model format")
        self.data = data
        self.version: str = data["version"]
        self.classes: list[str] = data["classes"]
        self.coef = np.asarray(data["coef"], dtype=float)
        self.intercept = np.asarray(data["intercept"], dtype=float)
        self.parts = []
        for part in data["vectorizers"]:
            vocabulary = part["vocabulary"]
            counter = _vectorizer(part["spec"], vocabulary=vocabulary)
            terms = [""] * len(vocabulary)
            for term, index in vocabulary.items():
                terms[index] = term
            self.parts.append((part["spec"], counter, np.asarray(part["idf"]), terms))

    def _features(self, text: str) -> tuple[np.ndarray, list[tuple[str, str]]]:
        vectors: list[np.ndarray] = []
        names: list[tuple[str, str]] = []
        for spec, counter, idf, terms in self.parts:
            counts = counter.transform([text]).toarray()[0].astype(float)
            tf = np.where(counts > 0, 1.0 + np.log(np.maximum(counts, 1.0)), 0.0)
            weights = tf * idf
            norm = np.linalg.norm(weights)
            vectors.append(weights / norm if norm else weights)
            names.extend((spec["name"], term) for term in terms)
        return np.concatenate(vectors), names

    def _class_weights(self) -> np.ndarray:
        if len(self.classes) == 2 and self.coef.shape[0] == 1:
            return np.vstack([-self.coef[0], self.coef[0]])
        return self.coef

    def _intercepts(self) -> np.ndarray:
        if len(self.classes) == 2 and self.intercept.shape[0] == 1:
            return np.array([-self.intercept[0], self.intercept[0]])
        return self.intercept

    def predict(
        self, text: str, *, allowed: Collection[str] | None = None, n_terms: int = 5
    ) -> Prediction | None:
        """The most likely label among `allowed` (all if None), with its top terms."""
        x, names = self._features(text)
        weights = self._class_weights()
        logits = weights @ x + self._intercepts()
        if len(self.classes) == 2 and self.coef.shape[0] == 1:
            # Binary logistic regression: the probability is the sigmoid of one logit.
            p1 = 1.0 / (1.0 + math.exp(-(self.coef[0] @ x + self.intercept[0])))
            probabilities = np.array([1.0 - p1, p1])
        else:
            shifted = np.exp(logits - logits.max())
            probabilities = shifted / shifted.sum()
        order = np.argsort(-probabilities)
        for index in order:
            label = self.classes[index]
            if allowed is not None and label not in allowed:
                continue
            contributions = x * weights[index]
            return Prediction(
                label=label,
                score=round(float(probabilities[index]), 4),
                top_terms=_readable_terms(contributions, names, n_terms),
                model_version=self.version,
            )
        return None


def _readable_terms(
    contributions: np.ndarray, names: list[tuple[str, str]], n_terms: int
) -> tuple[tuple[str, float], ...]:
    """The strongest positive features a person can read: English words and CJK n-grams.

    Overlapping CJK n-grams collapse into the bigram ("路灯" rather than "灯"), and
    terms contributing under a sixth of the strongest one are left out.
    """
    chosen: list[tuple[str, float]] = []
    top = float(contributions.max()) if contributions.size else 0.0
    for index in np.argsort(-contributions)[: n_terms * 20]:
        value = float(contributions[index])
        if value <= 0 or value < top / 6:
            break
        kind, term = names[index]
        term = term.strip()
        # Most Chinese words are one or two characters; longer n-grams straddle words.
        if not term or (
            kind == "char" and (len(term) > 2 or not all(_CJK.match(ch) for ch in term))
        ):
            continue
        if any(term in seen for seen, _ in chosen):
            continue
        overlapping = [i for i, (seen, _) in enumerate(chosen) if seen in term]
        if overlapping:
            weight = max(chosen[i][1] for i in overlapping)
            if value >= weight / 2:
                chosen = [c for i, c in enumerate(chosen) if i not in overlapping]
                chosen.append((term, weight))
        elif len(chosen) < n_terms:
            chosen.append((term, round(value, 4)))
    return tuple(sorted(chosen, key=lambda c: -c[1]))


# --- Training --------------------------------------------------------------------------------


def seed_rows() -> list[tuple[str, str]]:
    """The demo city's examples; none for a real city (their labels are the demo's codes)."""
    if not settings.CIVICDESK.get("DEMO", True):
        return []
    with SEED_PATH.open(encoding="utf-8") as fh:
        return [(text, label) for text, label in json.load(fh)["rows"]]


def _consent_permits(*, subject: User | None, purpose: str) -> bool:
    """Ask consent.policy (the one upward edge from services)."""
    return bool(policy.permits(subject=subject, purpose=purpose).allowed)


def training_rows_select(*, limit: int = 50_000) -> list[tuple[str, str]]:
    """THE selection of real requests used to train the router (text, department code).

    Only requests whose department staff confirmed by working on them (in progress,
    resolved, closed; returned and reassigned items end up here under the department that
    kept them, so corrections count), outside Triage, and only where the reporter consented
    to `routing-model-training` at this moment. The consent check is per row's reporter.
    """
    candidates = (
        ServiceRequest.objects.filter(
            status__in=[Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED],
            department__isnull=False,
            department__is_triage=False,
            reporter__isnull=False,
        )
        .exclude(outcome__in=["duplicate", "not_city_responsibility"])
        .select_related("department", "reporter")
        .order_by("-id")[:limit]
    )
    decisions: dict[int, bool] = {}
    rows = []
    for request in candidates:
        reporter_id, department = request.reporter_id, request.department
        if reporter_id is None or department is None:
            continue
        if reporter_id not in decisions:
            decisions[reporter_id] = _consent_permits(
                subject=request.reporter, purpose=PURPOSE_ROUTING_TRAINING
            )
        if decisions[reporter_id]:
            rows.append((request.description, department.code))
    return rows


def model_train(rows: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Fit the model on (text, label) rows; returns its JSON-ready form."""
    texts, labels = [], []
    for text, label in rows:
        if text and text.strip() and label:
            texts.append(text)
            labels.append(label)
    if len(set(labels)) < 2:
        raise ValueError("the router needs examples of at least two departments")
    blocks, parts = [], []
    for spec in VECTORIZERS:
        vectorizer = _vectorizer(spec)
        blocks.append(vectorizer.fit_transform(texts))
        parts.append(
            {
                "spec": spec,
                "vocabulary": {t: int(i) for t, i in vectorizer.vocabulary_.items()},
                "idf": [round(float(v), 6) for v in vectorizer.idf_],
            }
        )
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    features = hstack(blocks).tocsr()
    model = LogisticRegression(C=20.0, max_iter=3000)
    model.fit(features, labels)
    body = {
        "format": MODEL_FORMAT,
        "classes": [str(c) for c in model.classes_],
        "vectorizers": parts,
        "coef": [[round(float(v), 6) for v in row] for row in model.coef_],
        "intercept": [round(float(v), 6) for v in model.intercept_],
        "n_samples": len(texts),
        "trained_at": timezone.now().isoformat(),
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
    body["version"] = f"{timezone.now():%Y%m%d}-{digest}"
    return body


def model_path() -> Path:
    return Path(settings.CIVICDESK["ROUTER_MODEL_PATH"])


def model_save(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write atomically: a worker reading the model never sees half a file."""
    path = path or model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".router-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
    os.replace(tmp, path)
    return path


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "model": None}


def router_train(*, include_requests: bool = True) -> RouterModel:
    """Train on the seed set (demo only) plus consented, staff-confirmed requests; save; return
    it. ValueError when there are not examples of two departments yet."""
    rows = seed_rows()
    real = training_rows_select() if include_requests else []
    data = model_train(rows + real)
    data["n_requests"] = len(real)
    data["n_seed"] = len(rows)
    path = model_save(data)
    logger.info(
        "router model trained",
        extra={"model_version": data["version"], "n_samples": data["n_samples"]},
    )
    with _cache_lock:
        _cache["key"], _cache["model"] = _cache_key(path), RouterModel(data)
        return _cache["model"]


def _cache_key(path: Path) -> tuple[str, float] | None:
    try:
        return (str(path), path.stat().st_mtime)
    except FileNotFoundError:
        return None


def model_is_loaded() -> bool:
    """Whether this process already holds a model (it may still reload a newer file)."""
    return _cache["model"] is not None


# A real city with too few examples: how long a process waits before trying to train again.
NO_MODEL_RETRY_SECONDS = 600


def _usable(model: RouterModel) -> bool:
    """A real city never uses a model trained on the demo's seed set (e.g. a file left from
    running the demo on the same machine)."""
    return bool(settings.CIVICDESK.get("DEMO", True)) or not model.data.get("n_seed", 0)


def current_model() -> RouterModel | None:
    """The saved model (reloaded when the file changes); trained on first use if there is none.
    None for a real city that has no examples of two departments yet."""
    path = model_path()
    key = _cache_key(path)
    with _cache_lock:
        if key is not None and key == _cache["key"] and _cache["model"] is not None:
            return _cache["model"]
        if key is not None:
            try:
                with path.open(encoding="utf-8") as fh:
                    model = RouterModel(json.load(fh))
            except (OSError, ValueError, KeyError):
                logger.exception("router model unreadable; retraining")
            else:
                if _usable(model):
                    _cache["key"], _cache["model"] = key, model
                    return model
                logger.warning("router model was trained on the demo seed set; not used")
        waiting = _cache.get("no_model")
        if waiting and waiting[0] == str(path) and time.monotonic() < waiting[1]:
            return None
    demo = bool(settings.CIVICDESK.get("DEMO", True))
    logger.info("no router model yet; training", extra={"seed_set": demo})
    try:
        return router_train(include_requests=not demo)
    except ValueError:
        logger.warning("no router model: fewer than two departments have confirmed requests")
        with _cache_lock:
            _cache["no_model"] = (str(path), time.monotonic() + NO_MODEL_RETRY_SECONDS)
        return None


def classify(text: str, *, allowed: Collection[str] | None = None) -> Prediction | None:
    model = current_model()
    return model.predict(text, allowed=allowed) if model is not None else None


# --- Category suggestion for the report form ------------------------------------------------

SUGGEST_MIN_SCORE = 0.35


def category_suggest(*, text: str, categories: Iterable[Any]) -> Any | None:
    """The category a description most likely belongs to, as a suggestion the resident confirms.

    The routing classifier names the likely department (its labels are department codes);
    among that department's categories, the one whose keywords the text uses most wins. With a
    weak prediction, a category whose keywords the text uses still counts; otherwise None.
    """
    text = (text or "").strip()
    candidates = [c for c in categories if getattr(c, "department", None) is not None]
    if not text or not candidates:
        return None
    lowered = text.lower()

    def hits(category: Category) -> int:
        words = [w.strip().lower() for w in (category.keywords or "").split(",")]
        return sum(1 for w in words if w and w in lowered)

    prediction = classify(text, allowed={c.department.code for c in candidates})
    if prediction is not None and prediction.score >= SUGGEST_MIN_SCORE:
        mine = [c for c in candidates if c.department.code == prediction.label]
        if mine:
            return max(mine, key=lambda c: (hits(c), not c.uses_classifier, -len(c.name_en)))
    scored = [(hits(c), c) for c in candidates]
    best = max(scored, key=lambda pair: pair[0], default=(0, None))
    return best[1] if best[0] > 0 else None
