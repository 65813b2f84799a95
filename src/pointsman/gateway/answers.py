"""The answer guard on the gateway's chat path: built from the config's `answer:` section, applied to a
complete response (with one retry on the next model of the ranking) or to a stream (`StreamGuard`).

What fired goes into the decision: its reason ("answer rule X: replace"), and the answer signals as
`answer.<name>` among its signals, so the decision log, the debug header and the metrics see them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pointsman.backends.base import BackendError
from pointsman.gateway.service import Exchange, Gateway
from pointsman.guard.answer import AnswerGuard, StreamGuard, Verdict, answer_text, apply_to_response

TAGS_HEADER = b"x-pointsman-answer-tags"


def build(gateway: Gateway) -> AnswerGuard | None:
    """The configured answer guard, None without answer rules; ConfigError naming each bad key."""
    from pointsman.guard.answer import build_answer_guard

    config = gateway.config
    runner = gateway.policy.runner
    guard, problems = build_answer_guard(
        config.answer, runner.signals, runner=runner, base_dir=config._source.base_dir
    )
    if problems:
        raise config._source.error(problems)
    return guard


def note(ex: Exchange, verdict: Verdict, where: str = "") -> None:
    """Record what the answer rules did on the exchange's decision (for the headers and the log)."""
    d = ex.decision
    if any(r.action != "tag" for r in verdict.fired):
        ex.answer_edited = True  # replaced or redacted: never cached
    if d is None or not (verdict.fired or verdict.results):
        return
    signals = {**d.signals, **{f"answer.{k}": v for k, v in verdict.results.items()}}
    said = verdict.describe() + (f" ({where})" if where else "")
    reason = f"{d.reason}; {said}" if verdict.fired else d.reason
    ex.decision = replace(d, reason=reason, signals=signals)


async def check_complete(gw: Gateway, guard: AnswerGuard, ex: Exchange, outcome: Any, **dispatch: Any) -> Any:
    """The outcome whose response passes the answer rules: a retry rule asks the next model of the ranking
    once (a second failing answer is replaced with the rule's message); replace and redact edit it."""
    assert ex.view is not None and ex.decision is not None and ex.selection is not None
    verdict = guard.check(answer_text(outcome.response) or "", ex.view, ex.decision.signals)
    ending = verdict.final
    if ending is not None and ending.action == "retry":
        rest = [m for m in ex.selection.ranking if m != outcome.model]
        if rest:
            try:
                retried = await gw.dispatcher.complete(rest, **dispatch)
            except BackendError:
                retried = None
            if retried is not None:  # the first answer's verdict goes to the log; the second one acts
                note(ex, verdict, f"on {outcome.model}")
                ex.attempts = [*outcome.attempts, *retried.attempts]
                outcome = retried
                verdict = guard.check(answer_text(retried.response) or "", ex.view, ex.decision.signals)
                ending = verdict.final
    if ending is not None and ending.action == "retry":  # no other model, or it failed the checks too
        verdict.fired = [*verdict.fired[:-1], replace(ending, action="replace")]
    apply_to_response(outcome.response, guard, verdict)
    note(ex, verdict)
    ex.answer_tags = verdict.tags
    return outcome


def tag_headers(ex: Exchange) -> list[tuple[bytes, bytes]]:
    tags = ex.answer_tags
    return [(TAGS_HEADER, ",".join(tags).encode("ascii", "replace"))] if tags else []


def stream_guard(guard: AnswerGuard, ex: Exchange) -> StreamGuard:
    assert ex.view is not None and ex.decision is not None
    fired: list[Verdict] = []

    def on_fire(verdict: Verdict) -> None:
        fired.append(verdict)
        note(ex, verdict)

    return StreamGuard(guard, ex.view, ex.decision.signals, on_fire)
