"""`POST /v1/responses`: the OpenAI Responses API, non-stateful subset, as a chat request.

In: `input` (a string, or message items with text and image parts, `function_call` and
`function_call_output` items), `instructions`, function `tools`, `tool_choice`, `max_output_tokens`,
`temperature`, `top_p`, `parallel_tool_calls`, `user`, `text.format` (JSON object / schema), `stream`.
Nothing is stored: `previous_response_id` and built-in tools (web search, files, ...) are refused with a 400.
Out: a `response` object with `message` and `function_call` output items and usage; streamed as Responses
events (response.created, output_item.added, content_part.added, output_text.delta,
function_call_arguments.delta, their .done events, response.completed).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from pointsman.gateway.chat import ChatEndpoint
from pointsman.gateway.errors import bad_request
from pointsman.gateway.translated import Protocol, StreamTranslator, TranslatedEndpoint, need

_RENAMED = {"max_output_tokens": "max_tokens"}
_KEEP = ("model", "temperature", "top_p", "parallel_tool_calls", "user", "stream")


class Responses(Protocol):
    def to_chat(self, body: dict[str, Any], headers: dict[bytes, bytes]) -> dict[str, Any]:
        if body.get("previous_response_id"):
            raise bad_request("previous_response_id: this gateway stores no responses; send the whole "
                              "conversation in 'input'", param="previous_response_id", code="unsupported_parameter")  # fmt: skip
        chat: dict[str, Any] = {k: body[k] for k in _KEEP if body.get(k) is not None}
        for theirs, ours in _RENAMED.items():
            if body.get(theirs) is not None:
                chat[ours] = body[theirs]
        messages: list[dict[str, Any]] = []
        if body.get("instructions"):
            need(isinstance(body["instructions"], str), "instructions", "a string")
            messages.append({"role": "system", "content": body["instructions"]})
        messages += _messages(body.get("input"))
        chat["messages"] = messages
        if body.get("tools"):
            chat["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(body["tools"])]
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif choice is not None:
            chat["tool_choice"] = choice
        fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
            chat["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
            chat["response_format"] = {"type": "json_object"}
        if chat.get("stream") is True:
            chat["stream_options"] = {"include_usage": True}  # usage goes in response.completed
        return chat

    def from_chat(self, response: dict[str, Any]) -> dict[str, Any]:
        choice = (response.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        output = []
        if message.get("content"):
            output.append(_message_item(_id("msg"), message["content"], "completed"))
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            output.append(
                _call_item(_id("fc"), call.get("id"), fn.get("name"), fn.get("arguments") or "", "completed")
            )
        return _response(response.get("model"), output, choice.get("finish_reason"), response.get("usage"))

    def stream(self) -> StreamTranslator:
        return ResponseEvents()


def responses_endpoint(chat: ChatEndpoint) -> TranslatedEndpoint:
    return TranslatedEndpoint(chat, Responses())


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _messages(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, str):
        need(bool(items), "input", "a non-empty string or list of items")
        return [{"role": "user", "content": items}]
    need(isinstance(items, list) and bool(items), "input", "a non-empty string or list of items")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        need(isinstance(item, dict), where, "an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            need(
                role in ("user", "assistant", "system", "developer"),
                f"{where}.role",
                "user, assistant, system or developer",
            )
            out.append({"role": role, "content": _content(item.get("content"), where)})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}  # fmt: skip
            if out and out[-1]["role"] == "assistant" and "tool_calls" in out[-1]:
                out[-1]["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"),
                        "content": output if isinstance(output, str) else orjson.dumps(output).decode()})  # fmt: skip
        else:
            raise bad_request(
                f"{where}.type: {kind!r} items are not supported", param=f"{where}.type", code="invalid_value"
            )
    return out


def _content(content: Any, where: str) -> Any:
    if isinstance(content, str):
        return content
    need(isinstance(content, list), f"{where}.content", "a string or a list of parts")
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            raise bad_request(
                f"{where}.content[{j}].type: unsupported part {kind!r}",
                param=f"{where}.content[{j}].type",
                code="invalid_value",
            )
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _tool(tool: Any, where: str) -> dict[str, Any]:
    need(isinstance(tool, dict), where, "an object")
    if tool.get("type") != "function":
        raise bad_request(f"{where}.type: only function tools are supported (no built-in tools here)",
                          param=f"{where}.type", code="unsupported_parameter")  # fmt: skip
    need(bool(tool.get("name")), f"{where}.name", "a function tool needs a name")
    function = {
        k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None
    }
    return {"type": "function", "function": function}


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip


def _call_item(item_id: str, call_id: Any, name: Any, arguments: str, status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id or _id("call"), "name": name,
            "arguments": arguments, "status": status}  # fmt: skip


def _response(
    model: Any, output: list, finish: str | None, usage: dict | None, rid: str | None = None
) -> dict[str, Any]:
    usage = usage or {}
    tokens_in, tokens_out = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    cut = finish == "length"
    return {
        "id": rid or _id("resp"), "object": "response", "created_at": int(time.time()),
        "status": "incomplete" if cut else "completed", "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "model": model, "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
    }  # fmt: skip


class ResponseEvents(StreamTranslator):
    def __init__(self) -> None:
        super().__init__()
        self.rid = _id("resp")
        self.seq = 0
        self.model: Any = None
        self.items: list[dict[str, Any]] = []  # output items so far, the last one open
        self.calls: dict[int, int] = {}  # chat tool_calls index -> output index
        self.finish: str | None = None
        self.usage: dict | None = None

    def _event(self, kind: str, **data: Any) -> bytes:
        self.seq += 1
        payload = {"type": kind, "sequence_number": self.seq, **data}
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = []
        if self.model is None:
            self.model = chunk.get("model")
            started = {
                **_response(self.model, [], None, None, self.rid),
                "status": "in_progress",
                "usage": None,
            }
            out.append(self._event("response.created", response=started))
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if not self.items or self.items[-1]["type"] != "message":
                    out.append(self._close())
                    out.append(self._open(_message_item(_id("msg"), "", "in_progress")))
                    out.append(self._event("response.content_part.added", item_id=self.items[-1]["id"],
                                           output_index=len(self.items) - 1, content_index=0,
                                           part={"type": "output_text", "text": "", "annotations": []}))  # fmt: skip
                self.items[-1]["content"][0]["text"] += text
                out.append(self._event("response.output_text.delta", item_id=self.items[-1]["id"],
                                       output_index=len(self.items) - 1, content_index=0, delta=text))  # fmt: skip
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                if call.get("index", 0) not in self.calls:
                    out.append(self._close())
                    self.calls[call.get("index", 0)] = len(self.items)
                    out.append(
                        self._open(_call_item(_id("fc"), call.get("id"), fn.get("name"), "", "in_progress"))
                    )
                if fn.get("arguments"):
                    item = self.items[self.calls[call.get("index", 0)]]
                    item["arguments"] += fn["arguments"]
                    out.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                           output_index=self.calls[call.get("index", 0)], delta=fn["arguments"]))  # fmt: skip
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return b"".join(out)

    def _open(self, item: dict[str, Any]) -> bytes:
        self.items.append(item)
        return self._event("response.output_item.added", output_index=len(self.items) - 1, item=item)

    def _close(self) -> bytes:
        if not self.items or self.items[-1]["status"] == "completed":
            return b""
        item, index = self.items[-1], len(self.items) - 1
        item["status"] = "completed"
        if item["type"] == "message":
            part = item["content"][0]
            out = self._event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=part["text"],
            )
            out += self._event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
        else:
            out = self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def end(self) -> bytes:
        head = self.chunk({}) if self.model is None else b""
        done = _response(self.model, self.items, self.finish, self.usage, self.rid)
        kind = "response.incomplete" if done["status"] == "incomplete" else "response.completed"
        return head + self._close() + self._event(kind, response=done)

    def error(self, message: str) -> bytes:
        return self._event("error", code="upstream_stream_error", message=message, param=None)
