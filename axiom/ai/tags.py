"""Standardize free-text descriptions to a site vocabulary with a language model, asked once per text.

Only the description being standardized and the vocabulary go out: ``standardize_dataset`` sends
StudyDescription, SeriesDescription, BodyPartExamined and ProtocolName and nothing else of the
dataset, and first cuts out of each text every identifying value found elsewhere in the instance
(names, IDs, dates, UIDs: ``axiom.ai.scrub``), since descriptions carry them in real life. Answers
are cached by (model, vocabulary, tag, scrubbed text): in Redis when a cache URL is set (shared by
every worker), else in-process.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import yaml
from pydicom import Dataset

from axiom.ai.llm import CallHook, ChatModel
from axiom.ai.scrub import identifying_values, scrub
from rules.actions import STANDARDIZED_TAGS

# Cached answer meaning "no term fits": such texts are not asked again either.
NO_TERM = ""

SYSTEM_PROMPT = (
    "You map free-text DICOM descriptions to a site vocabulary. You get a JSON object with the DICOM "
    "attribute name ('tag'), its text ('text') and the allowed terms ('vocabulary'). Answer with a JSON "
    'object {"term": T} where T is exactly one of the allowed terms, or null when none fits.'
)


class TextCache(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class MemoryCache:
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def set(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class RedisCache:
    def __init__(self, url: str, ttl_seconds: float = 30 * 86400.0) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.ttl = int(ttl_seconds)

    def get(self, key: str) -> str | None:
        value = self._client.get(key)
        return None if value is None else bytes(value).decode()  # type: ignore[arg-type]

    def set(self, key: str, value: str) -> None:
        self._client.set(key, value, ex=self.ttl)


def make_cache(cache_url: str) -> TextCache:
    return RedisCache(cache_url) if cache_url else MemoryCache()


def load_vocabulary(path: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the vocabulary is a mapping of tag keyword to a list of terms")
    unknown = sorted(set(data) - set(STANDARDIZED_TAGS))
    if unknown:
        raise ValueError(f"{path}: not standardized tags: {', '.join(unknown)}")
    return {str(tag): [str(term) for term in terms] for tag, terms in data.items()}


class TagStandardizer:
    def __init__(self, model: ChatModel, vocabulary: dict[str, list[str]], cache: TextCache) -> None:
        self.model = model
        self.vocabulary = vocabulary
        self.cache = cache
        digest = hashlib.sha256(json.dumps(vocabulary, sort_keys=True).encode()).hexdigest()[:16]
        self._prefix = f"axiom:ai:tags:{model.model}:{digest}:"

    def _key(self, tag: str, text: str) -> str:
        return self._prefix + hashlib.sha256(f"{tag}\0{text}".encode()).hexdigest()

    def standardize(self, tag: str, text: str, on_call: CallHook | None = None) -> str | None:
        """The vocabulary term for ``text`` in ``tag``, or None when no term fits (or none is defined)."""
        terms = self.vocabulary.get(tag)
        text = text.strip()
        if not terms or not text:
            return None
        key = self._key(tag, text)
        cached = self.cache.get(key)
        if cached is not None:
            return cached or None
        answer = self.model.ask_json(
            SYSTEM_PROMPT,
            json.dumps({"tag": tag, "text": text, "vocabulary": terms}),
            purpose="standardize",
            on_call=on_call,
        )
        term = answer.get("term")
        # Only a term of the vocabulary is kept: a model's invention is treated as "none fits".
        result = term if isinstance(term, str) and term in terms else NO_TERM
        self.cache.set(key, result)
        return result or None

    def standardize_dataset(
        self, ds: Dataset, tags: Iterable[str] = STANDARDIZED_TAGS, on_call: CallHook | None = None
    ) -> dict[str, str]:
        """Tag keyword -> term for those of ``tags`` the dataset has and the vocabulary covers.

        Each text is scrubbed of the instance's identifying values before it is looked up or sent.
        """
        found: dict[str, str] = {}
        identifying: set[str] | None = None
        for tag in tags:
            value = ds.get(tag)
            if value is None or tag not in self.vocabulary:
                continue
            if identifying is None:
                identifying = identifying_values(ds, exclude=STANDARDIZED_TAGS)
            term = self.standardize(tag, scrub(str(value), identifying), on_call)
            if term is not None:
                found[tag] = term
        return found
