"""A route profile that asks several models and returns the answer most of them give."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat


class AggregateConfig(BaseModel):
    """Fan a closed-answer request (options listed, or a number asked) out to the k best-ranked candidates and
    return the majority final answer (pointsman.policy.aggregate); other requests get one model as usual."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(3, ge=2, le=7, description="how many models vote")
    gate: bool = Field(
        True,
        description="fan out only when the predicted gain of the vote exceeds lambda x the extra predicted cost "
        "(needs the profile's router); false: every closed-answer request",
    )
    weighted: bool = Field(False, description="votes count by each model's predicted log-odds of being right")
    step_timeout: PositiveFloat = Field(
        60.0, description="seconds each model may take; a late one does not vote"
    )
