"""The Signal contract: a named, typed, budgeted, cacheable function of a request.

- `RequestView` wraps one OpenAI chat-completions body plus who sent it (`Caller`). Everything a signal
  reads is derived from it lazily and at most once (last user text, all text, turns, modalities, tools,
  requested model, token estimate, the request embedding).
- `Signal` is what every signal implements (heuristic, embedding-similarity, learned, PII): `name`, the
  `kind` of value it returns, `budget_ms`, `needs_embedding`, `cache_key(view)` and `compute(view)`.
- `SignalResult` is what the runner hands to the rules engine: value + confidence + latency (+ error).
"""

from __future__ import annotations

import enum
import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

# Rough tokens per message of chat framing (role markers, separators), as OpenAI documents for its models.
_TOKENS_PER_MESSAGE = 4
# Longer texts are keyed by a digest instead of themselves, so the result caches do not pin huge prompts.
_KEY_INLINE_CHARS = 2048


class RequestError(ValueError):
    """A request body a signal cannot read; the message names the field (e.g. `messages[2].content[0]`)."""


class ValueKind(str, enum.Enum):
    """The type of a signal's value, so a rule can be checked against it when the config is loaded."""

    BOOL = "bool"  # value: bool
    NUMBER = "number"  # value: int | float
    LABEL = "label"  # value: str | None (None: no label applies, e.g. no route above its threshold)
    LABELS = "labels"  # value: tuple[str, ...] (e.g. which keyword sets matched, which PII types)
    SPANS = "spans"  # value: tuple[Span, ...] (PII, secrets)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request, as the gateway authenticated it. Never holds a secret itself."""

    tenant: str | None = None
    api_key_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    budget_remaining: float | None = None  # the smallest remaining share of its USD budgets (0..1)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of text in the request: `messages[message].content` (part None) or `.content[part].text`."""

    message: int
    part: int | None
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class Span:
    """A typed stretch of one segment's text, `text[start:end]` (e.g. an e-mail address)."""

    type: str
    start: int
    end: int
    score: float
    message: int = 0
    part: int | None = None


@dataclass(frozen=True, slots=True)
class SignalResult:
    """A signal's answer for one request.

    `confidence` in [0, 1] (1.0 for exact heuristics); `scores` optionally carries per-label scores (class
    probabilities, per-route similarities) for explanations and finer rules. `ms` is the wall time the
    runner measured; `error` is set (and `value` is None) when the signal failed or overran its budget.
    """

    value: Any
    confidence: float = 1.0
    scores: Mapping[str, float] | None = None
    ms: float = 0.0
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, error: str, ms: float = 0.0) -> SignalResult:
        return cls(value=None, confidence=0.0, ms=ms, error=error)


class RequestView:
    """A read-only view of one chat request, with derived facts computed once, on first use.

    Thread-safe for reading: the runner may compute signals for one view from several threads (cached
    properties may then be computed twice, with the same result; the embedding is guarded by a lock).
    """

    def __init__(
        self,
        body: Mapping[str, Any],
        caller: Caller | None = None,
        *,
        embedding: np.ndarray | None = None,
    ) -> None:
        if not isinstance(body, Mapping):
            raise RequestError(f"request body: expected a JSON object, got {type(body).__name__}")
        self.body = body
        self.caller = caller or Caller()
        self.segments, self.roles, self.image_parts, self.audio_parts = _read_messages(body)
        self._embedding = embedding
        self._embedding_lock = threading.Lock()

    @classmethod
    def from_prompt(cls, prompt: str, caller: Caller | None = None, **body: Any) -> RequestView:
        """A one-message user request (tools, offline evaluation, `pointsman explain "prompt"`)."""
        return cls({"messages": [{"role": "user", "content": prompt}], **body}, caller)

    # -- text ----------------------------------------------------------------------------------------
    @cached_property
    def last_user_text(self) -> str:
        """The text of the last user message (all its text parts, newline-joined); "" when there is none."""
        last = max((s.message for s in self.segments if s.role == "user"), default=None)
        return "\n".join(s.text for s in self.segments if s.message == last)

    @cached_property
    def user_text(self) -> str:
        return "\n".join(s.text for s in self.segments if s.role == "user")

    @cached_property
    def system_text(self) -> str:
        return "\n".join(s.text for s in self.segments if s.role in ("system", "developer"))

    @cached_property
    def all_text(self) -> str:
        """Every message's text, in order, newline-joined (the whole context the model will read)."""
        return "\n".join(s.text for s in self.segments)

    @property
    def embedding_text(self) -> str:
        """What the request embedding (shared with the router and the cache) is computed from."""
        return self.last_user_text

    # -- structure -----------------------------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return len(self.roles)

    @cached_property
    def turn_count(self) -> int:
        """User turns in the conversation (1 for a single prompt)."""
        return sum(1 for r in self.roles if r == "user")

    @cached_property
    def has_tools(self) -> bool:
        """Tools offered to the model, or tool calls/results already in the conversation."""
        if self.body.get("tools") or self.body.get("functions"):
            return True
        return any(r in ("tool", "function") for r in self.roles) or any(
            isinstance(m, Mapping) and m.get("tool_calls") for m in self.body.get("messages", ())
        )

    @property
    def has_images(self) -> bool:
        return self.image_parts > 0

    @property
    def has_audio(self) -> bool:
        return self.audio_parts > 0

    @property
    def requested_model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @cached_property
    def prompt_tokens(self) -> int:
        """Estimated prompt tokens: message text + chat framing + tool schemas (see `estimate_tokens`)."""
        tokens = sum(estimate_tokens(s.text) for s in self.segments)
        tokens += _TOKENS_PER_MESSAGE * len(self.roles)
        tools = self.body.get("tools") or self.body.get("functions")
        if tools:
            tokens += estimate_tokens(repr(tools))
        return tokens

    @cached_property
    def last_user_tokens(self) -> int:
        return estimate_tokens(self.last_user_text)

    # -- cache keys ----------------------------------------------------------------------------------
    @cached_property
    def text_key(self) -> Hashable:
        """Identifies the whole conversation's text (roles included) for per-signal result caches."""
        return text_key("\x1e".join(f"{s.role}\x1f{s.text}" for s in self.segments))

    @cached_property
    def last_user_key(self) -> Hashable:
        return text_key(self.last_user_text)

    # -- the embedding -------------------------------------------------------------------------------
    @property
    def embedding(self) -> np.ndarray | None:
        """The request embedding if it was computed (by the runner, the cache or the router), else None."""
        return self._embedding

    def ensure_embedding(self, encoder: Any) -> np.ndarray:
        """Embed `embedding_text` with `encoder` (a `pointsman.text.Encoder`) once; later calls reuse it."""
        if self._embedding is None:
            with self._embedding_lock:
                if self._embedding is None:
                    self._embedding = np.asarray(encoder.encode([self.embedding_text])[0], dtype=np.float32)
        return self._embedding


class Signal(ABC):
    """One request feature. Subclasses set the class attributes (or pass them per instance) and `compute`.

    `compute` returns a `SignalResult` without timing (`ms`, `cached` are filled in by the runner); it may
    raise, and the runner turns the exception into an error result naming the signal. A signal with
    `needs_embedding` reads `view.embedding`, which the runner has computed before calling it.
    """

    kind: ClassVar[ValueKind]
    #: Time the runner waits for this signal before giving up on it (error result, request goes on).
    budget_ms: float = 5.0
    needs_embedding: bool = False
    #: Heuristics run inline in the caller's thread (they cost microseconds); others go to a thread pool.
    inline: bool = False

    def __init__(self, name: str) -> None:
        self.name = name

    def cache_key(self, view: RequestView) -> Hashable | None:
        """What the result depends on; equal keys give equal results. None: do not cache (cheap signals)."""
        return view.text_key

    @abstractmethod
    def compute(self, view: RequestView) -> SignalResult: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def estimate_tokens(text: str) -> int:
    """Tokens of `text` for a typical BPE tokenizer, without tokenizing (O(1) for ASCII text).

    About 3.5 characters per token for ASCII (English prose and code: measured against Gemma-2 and Llama-3.1
    counts), about 1 token per character beyond ASCII (CJK, emoji; accented Latin over-counts slightly,
    which is the safe side for context limits).
    """
    if not text:
        return 0
    if text.isascii():
        return (2 * len(text) + 6) // 7
    n_non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return (2 * (len(text) - n_non_ascii) + 6) // 7 + n_non_ascii


def text_key(text: str) -> Hashable:
    """A cache key for a text: the text itself when short, else a 128-bit digest (and length)."""
    if len(text) <= _KEY_INLINE_CHARS:
        return text
    return (len(text), hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())


_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})
_AUDIO_PARTS = frozenset({"input_audio", "audio"})


def _read_messages(body: Mapping[str, Any]) -> tuple[tuple[Segment, ...], tuple[str, ...], int, int]:
    """One pass over `messages`: text segments, roles, image and audio part counts; clear errors."""
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise RequestError("messages: expected a list of message objects")
    segments: list[Segment] = []
    roles: list[str] = []
    images = audio = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise RequestError(f"messages[{i}]: expected an object, got {type(msg).__name__}")
        role = msg.get("role")
        if not isinstance(role, str):
            raise RequestError(f"messages[{i}].role: expected a string")
        roles.append(role)
        content = msg.get("content")
        if content is None:
            continue
        if isinstance(content, str):
            segments.append(Segment(i, None, role, content))
            continue
        if not isinstance(content, Sequence):
            raise RequestError(f"messages[{i}].content: expected a string or a list of parts")
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                raise RequestError(f"messages[{i}].content[{j}]: expected an object with a string 'type'")
            kind = part["type"]
            if kind in ("text", "input_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise RequestError(f"messages[{i}].content[{j}].text: expected a string")
                segments.append(Segment(i, j, role, text))
            elif kind in _IMAGE_PARTS:
                images += 1
            elif kind in _AUDIO_PARTS:
                audio += 1
    return tuple(segments), tuple(roles), images, audio
