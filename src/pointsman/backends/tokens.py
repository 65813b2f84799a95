"""A cheap token estimate for the context-window check (no tokenizer in the hot path).

About 4 characters per token for English prose (OpenAI's rule of thumb); images count a fixed 765 tokens (a
1024x1024 image at high detail in OpenAI's accounting). An underestimate is caught later: an upstream's
context-length error makes the dispatcher fall back to the next model.
"""

from __future__ import annotations

from typing import Any

import orjson

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 765
MESSAGE_OVERHEAD = 4  # role and separators


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = 0
    tokens = 0
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        tokens += MESSAGE_OVERHEAD
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text":
                    chars += len(str(part.get("text", "")))
                elif part.get("type") in ("image_url", "input_audio", "file"):
                    tokens += IMAGE_TOKENS
        for call in message.get("tool_calls") or ():
            chars += len(str((call.get("function") or {}).get("arguments", "")))
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    return tokens + chars // CHARS_PER_TOKEN


def requested_output_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return value if isinstance(value, int) else 0
