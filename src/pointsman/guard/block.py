"""Block: refuse a request with an OpenAI-style error naming why (`code`); no backend is called.

Status 400 by default: OpenAI and Azure OpenAI answer content-filtered prompts with 400
(`invalid_request_error`), so clients already treat it as "this request will not be served, do not retry".
403 (`permission_error`) is available per rule for operators who prefer "forbidden". A guard that could not
run (a signal it needs failed and the rule fails closed) answers 503 `guard_unavailable`: the request was not
judged, and a retry may succeed. Messages never repeat the request's content.
"""

from __future__ import annotations

from dataclasses import dataclass

from pointsman.config.gateway import BlockConfig

DEFAULT_MESSAGES = {
    "content_blocked": "This request was blocked by the gateway's content policy.",
    "out_of_domain": "This assistant only answers questions about the topics it is configured for.",
    "pii_blocked": "This request contains personal data that this gateway does not accept.",
    "jailbreak_blocked": "This request looks like an attempt to get around the assistant's rules.",
    "language_not_supported": "This assistant does not answer requests in this language.",
}


@dataclass(frozen=True, slots=True)
class Block:
    code: str
    status: int = 400
    message: str = DEFAULT_MESSAGES["content_blocked"]

    @classmethod
    def from_config(cls, config: BlockConfig) -> Block:
        message = config.message or DEFAULT_MESSAGES.get(
            config.code, f"This request was blocked by the gateway's policy ({config.code})."
        )
        return cls(config.code, config.status, message)


GUARD_UNAVAILABLE = Block(
    "guard_unavailable", 503, "A safety check this request needs could not run; it was not sent. Retry later."
)
