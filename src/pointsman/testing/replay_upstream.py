"""A real local OpenAI-compatible upstream that answers with recorded responses (routing data).

`ReplayUpstream(recordings)` is an `UpstreamServer` whose chat-completions answer a known prompt (the last
user message, matched on its normalised text) with the response the requested `model` really gave, and
usage with that call's real token counts; an unknown prompt or model is a 404. Streams, faults, the
control API and request records work as on every test upstream. With it the whole gateway (HTTP client,
dispatcher, cascade) runs against the recorded answers the lab evaluated, over real HTTP.

In-process:    async with ReplayUpstream(load_recorded_responses(path)) as up: ... up.url + "/v1"
As a process:  python -m pointsman.testing.replay_upstream --data ../shared/data/routeprofile --port 8901
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from pointsman.data.routeprofile import RecordedResponses, load_recorded_responses
from pointsman.testing.faults import Fault
from pointsman.testing.replies import _WORD, Answer, BadRequest, OpenAIChat, _text_of
from pointsman.testing.upstreams import UpstreamServer

__all__ = ["ReplayUpstream"]


@dataclass
class _Recorded(Answer):
    completion_tokens: int = 0


class _RecordedChat(OpenAIChat):
    """OpenAI chat-completions whose answers come from recordings."""

    def __init__(self, recordings: RecordedResponses) -> None:
        self.recordings = recordings

    def answer(self, body: Any, reply: str | None) -> tuple[Answer, int]:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            raise BadRequest("'messages' must be a non-empty array")
        users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        prompt = _text_of(users[-1].get("content")) if users else ""
        model = str(body.get("model") or "")
        if (prompt, model) not in self.recordings:
            raise _Miss(f"no recorded response of {model!r} for this prompt")
        call = self.recordings[prompt, model]
        pieces = _WORD.findall(call.response) or [""]
        pieces[-1] += call.response[len("".join(pieces)) :]  # trailing whitespace too: the exact text
        return _Recorded(pieces, "stop", None, call.prompt_tokens, None, call.completion_tokens), 1

    @staticmethod
    def _usage(answer: Answer, n: int) -> dict[str, int]:
        out = getattr(answer, "completion_tokens", len(answer.pieces))
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": out,
            "total_tokens": answer.prompt_tokens + out,
        }


class _Miss(BadRequest):
    pass


class ReplayUpstream(UpstreamServer):
    def __init__(self, recordings: RecordedResponses, **kwargs: Any) -> None:
        super().__init__(models=tuple(recordings.models), **kwargs)
        self.recordings = recordings
        self._chat = _RecordedChat(recordings)

    def _answer(self, api, headers, body, seq, fault: Fault | None):  # type: ignore[override]
        if type(api) is not OpenAIChat:
            return super()._answer(api, headers, body, seq, fault)  # Anthropic, embeddings: as usual
        try:
            self._chat.answer(body, None)
        except _Miss as exc:
            return 404, None, api.error_body(404, str(exc)), ()
        except BadRequest:
            pass  # the usual 400, below
        return super()._answer(self._chat, headers, body, seq, fault)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pointsman.testing.replay_upstream",
        description="A local OpenAI-compatible upstream answering with recorded responses.",
    )
    parser.add_argument("--data", required=True, help="RouteProfile data (folder or routing_test_data.json)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8901, help="0 picks a free port (printed on start)")
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = ReplayUpstream(load_recorded_responses(args.data), host=args.host, port=args.port)
        await server.start()
        print(f"listening on {server.url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
