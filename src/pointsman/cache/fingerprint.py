"""Normalised fingerprints of a chat request: what makes two requests the same for the cache.

`exact`: every message (text parts joined, surrounding whitespace stripped), the requested model or route,
the sampling parameters, tools, tool_choice, response_format and the request headers the policy reads.
`context`: the same without the last user message's text: requests that differ only in how the last
question is worded share a context, and the semantic level compares the question's embedding within it.
Fields that change nothing in the answer (stream, stream_options, user, metadata) are left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# Body fields that shape the answer (besides messages and model).
ANSWER_FIELDS = (
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "functions",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "modalities",
)


@dataclass(frozen=True, slots=True)
class Fingerprints:
    exact: str  # hex digest
    context: str  # hex digest of everything but the last user message's text
    question: str  # the last user message's text (normalised)


def fingerprints(
    body: Mapping[str, Any], headers: Mapping[str, str] | None = None, policy: str = ""
) -> Fingerprints:
    """The request's fingerprints (`headers`: those the policy reads, they can change the decision;
    `policy`: an id of the rules and signals, so that entries stored under other rules are never found)."""
    messages = [_message(m) for m in body.get("messages") or ()]
    last = max((i for i, m in enumerate(messages) if m[0] == "user"), default=None)
    question = messages[last][1] if last is not None and isinstance(messages[last][1], str) else ""
    rest = {k: body[k] for k in ANSWER_FIELDS if k in body}
    base = {
        "model": body.get("model"),
        "params": rest,
        "headers": dict(sorted((headers or {}).items())),
        "policy": policy,
    }
    exact = _digest({**base, "messages": messages})
    if last is not None:
        messages[last] = ("user", "\x00question")
    context = _digest({**base, "messages": messages})
    return Fingerprints(exact, context, question)


def _message(m: Any) -> tuple:
    if not isinstance(m, Mapping):
        return ("?", repr(m))
    content = m.get("content")
    if isinstance(content, list) and all(
        isinstance(p, Mapping) and p.get("type") in ("text", "input_text") for p in content
    ):
        content = "\n".join(str(p.get("text", "")) for p in content)
    if isinstance(content, str):
        content = content.strip()
    extra = {k: v for k, v in m.items() if k not in ("role", "content")}
    return (m.get("role"), content, extra) if extra else (m.get("role"), content)


def _digest(value: Any) -> str:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()
