"""`tracing:` in the gateway config: OpenTelemetry spans per request (gateway/tracing.py), off by default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TracingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    otlp_endpoint: str = Field(
        "http://127.0.0.1:4318/v1/traces",
        description="OTLP/HTTP traces endpoint (a collector, Jaeger, Tempo)",
    )
    service_name: str = "pointsman"
