"""OpenTelemetry traces (the optional `tracing` extra): one span per request, `pointsman.request`, with child
spans `pointsman.signals`, `pointsman.decision` and one `pointsman.backend` per backend attempt, exported over
OTLP/HTTP in batches by the SDK's background thread.

Spans are written when the request finishes, from the times it measured (arrival, signal latencies, each
attempt's duration, first byte, end), so the request path carries no tracing calls. Attributes name the
route, the decision, the rule, the requested, chosen and served models, status, tokens and cost.
"""

from __future__ import annotations

from typing import Any

from pointsman.config.tracing import TracingConfig

NS = 1_000_000_000


class Tracing:
    def __init__(self, config: TracingConfig, exporter: Any = None) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise RuntimeError(
                "tracing.enabled needs OpenTelemetry: pip install 'pointsman[tracing]'"
            ) from exc
        self._trace = trace
        self.provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=config.otlp_endpoint))
        )
        self.tracer = self.provider.get_tracer("pointsman")

    def record(self, ex: Any, total: float, cost: float | None) -> None:
        """The spans of one finished request (an Exchange)."""
        start = int(ex.arrived * NS)
        end = start + int(total * NS)
        dec, req = ex.decision, ex.request
        attributes = {
            "pointsman.request_id": ex.request_id,
            "pointsman.route": ex.route,
            "pointsman.decision": dec.name if dec else "",
            "pointsman.action": dec.action if dec else "",
            "pointsman.rule": (dec.rule or "") if dec else "",
            "pointsman.model.requested": req.model if req else "",
            "pointsman.model.chosen": ex.selection.ranking[0] if ex.selection else "",
            "pointsman.model.served": ex.served or "",
            "http.response.status_code": ex.status,
            "pointsman.stream": bool(req and req.stream),
        }
        if ex.usage:
            attributes["gen_ai.usage.input_tokens"] = ex.usage.get("prompt_tokens") or 0
            attributes["gen_ai.usage.output_tokens"] = ex.usage.get("completion_tokens") or 0
        if cost is not None:
            attributes["pointsman.cost_usd"] = cost
        root = self.tracer.start_span("pointsman.request", start_time=start, attributes=attributes)
        context = self._trace.set_span_in_context(root)
        at = start
        if dec is not None and dec.signals:
            took = int(max(s.ms or 0.0 for s in dec.signals.values()) * NS / 1000)
            self.tracer.start_span(
                "pointsman.signals", context=context, start_time=at,
                attributes={"pointsman.signals": sorted(dec.signals)},
            ).end(end_time=at + took)  # fmt: skip
            at += took
        if dec is not None:
            self.tracer.start_span(
                "pointsman.decision", context=context, start_time=at,
                attributes={"pointsman.decision": dec.name, "pointsman.reason": dec.reason},
            ).end(end_time=at)  # fmt: skip
        attempts_s = sum(a.seconds for a in ex.attempts)
        if ex.first_byte_s is not None:  # the attempts ran back to back up to the first byte
            at = max(at, start + int((ex.first_byte_s - attempts_s) * NS))
        for a in ex.attempts:
            span = self.tracer.start_span(
                "pointsman.backend", context=context, start_time=at,
                attributes={"pointsman.model": a.model, "pointsman.outcome": a.outcome, "pointsman.code": a.code or ""},
            )  # fmt: skip
            at += int(a.seconds * NS)
            span.end(end_time=at)
        root.end(end_time=end)

    def close(self) -> None:
        self.provider.shutdown()  # flushes what is queued
