"""A route profile that is a cascade: its steps, the answer scorer, streaming and timeouts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator


class CascadeStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="a backend name (one of the profile's candidates)")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="accept this step's answer when its score is at least this"
    )


class CascadeConfig(BaseModel):
    """Call the steps in order; accept the first answer scoring at least its step's threshold. The last
    step has no threshold: once there, the best-scored answer of all the steps called is returned."""

    model_config = ConfigDict(extra="forbid")

    scorer: str = Field(description="an answer scorer file from `pointsman cascade fit` (relative path)")
    steps: list[CascadeStep] = Field(min_length=2)
    stream: Literal["accepted", "first_step"] = Field(
        "accepted",
        description="accepted: a streaming client gets the accepted answer as a stream (the first token "
        "waits for the decision); first_step: streams go to the first step alone, only non-streaming "
        "requests cascade",
    )
    step_timeout: PositiveFloat = Field(60.0, description="seconds a step may take before the next one")
    pick_best: bool = Field(True, description="at the last step, return the best-scored answer")

    @model_validator(mode="after")
    def _thresholds(self) -> CascadeConfig:
        names = [s.model for s in self.steps]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"a model appears twice in the cascade: {', '.join(twice)}")
        missing = [i for i, s in enumerate(self.steps[:-1]) if s.threshold is None]
        if missing:
            raise ValueError(f"steps {missing} need a threshold (only the last step has none)")
        if self.steps[-1].threshold is not None:
            raise ValueError("the last step always answers: it takes no threshold")
        return self

    @property
    def models(self) -> list[str]:
        return [s.model for s in self.steps]
