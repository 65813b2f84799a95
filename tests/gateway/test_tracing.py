"""OpenTelemetry traces: a real gateway exports its spans over OTLP/HTTP to a local receiver (protobuf, as a
collector gets them): one request span, signal, decision and attempt children, route/model/cost attributes."""

from __future__ import annotations

import http.server
import threading

import openai
import pytest

from .servers import backends_yaml

trace_pb2 = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason="the `tracing` extra is not installed"
)


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint keeping every span it is sent."""

    def __init__(self) -> None:
        self.spans: list = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = trace_pb2.ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        receiver.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def attrs(span) -> dict:
    out = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = (
            v.string_value or v.int_value or v.double_value or v.bool_value or list(v.array_value.values)
        )
    return out


def test_spans_per_request_over_otlp(ups, start_gateway) -> None:
    receiver = Receiver()
    try:
        gw = start_gateway(
            {
                "backends": backends_yaml(ups),
                "profiles": [{"name": "balanced", "candidates": ["m0", "m1"]}],
                "signals": {"topics": {"type": "keywords", "sets": {"greet": ["hello"]}}},
                "rules": [{"name": "greeting", "when": "topics contains greet", "profile": "balanced"}],
                "tracing": {
                    "enabled": True,
                    "otlp_endpoint": f"http://127.0.0.1:{receiver.server_port}/v1/traces",
                },
            }
        )
        ups[0].inject("500")  # m0 fails: two backend attempts
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "hello there"}]
        )
        gw.stop()  # shutting down flushes the exporter
    finally:
        receiver.shutdown()
    root = next(s for s in receiver.spans if s.name == "pointsman.request")
    a = attrs(root)
    assert a["pointsman.request_id"] == raw.headers["x-request-id"]
    assert (a["pointsman.route"], a["pointsman.rule"], a["pointsman.model.served"]) == (
        "balanced",
        "greeting",
        "m1",
    )
    assert a["pointsman.model.chosen"] == "m0" and a["http.response.status_code"] == 200
    assert a["pointsman.cost_usd"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    children = [s for s in receiver.spans if s.parent_span_id == root.span_id]
    assert {s.name for s in children} == {"pointsman.signals", "pointsman.decision", "pointsman.backend"}
    backend = [attrs(s) for s in children if s.name == "pointsman.backend"]
    assert [(b["pointsman.model"], b["pointsman.outcome"]) for b in backend] == [
        ("m0", "error"),
        ("m1", "ok"),
    ]
    assert all(
        root.start_time_unix_nano <= s.start_time_unix_nano <= s.end_time_unix_nano <= root.end_time_unix_nano
        for s in children
    )


def test_off_by_default(gateway) -> None:
    assert gateway.gateway.tracing is None
