"""Answer-side guards: signals computed on the model's answer, and rules that act on it before the client
sees it (replace with a refusal, redact, tag, retry on another model).

Answer signals (each cheap: no embedding, so a 300-token answer costs well under the 3 ms budget):
- `refusal` (label refused / complied): refusal phrases in the answer's opening;
- `answer_pii` (spans): the structured PII detector over the answer;
- `answer_harm` (label: benign or a harm category): the harm classifier's lexical view (hashed word n-grams)
  over the answer's words, P(harmful) against `threshold`;
- `groundedness` (number in [0, 1]): the share of the answer's content words in sentences supported by the
  request's own text (content-word overlap, and every number in the sentence found in the context), an
  NLI-lite check for RAG-style requests; an error (so rules skip) when the request has too little context.

A rule's condition reads answer signals and request signals alike (`harm != benign` is the request's harm
signal). Streaming: the guard holds back the last `hold_back_chars` characters and checks again every
`check_every_chars`, so a PII value or the opening of a compliance is still in hand when a rule fires;
groundedness needs the whole answer and is checked at its end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pointsman.config.answer import AnswerConfig, AnswerRuleConfig, AnswerSignalConfig
from pointsman.config.problems import Problem
from pointsman.policy.conditions import Predicate, compile_condition, parse_condition
from pointsman.signals.base import RequestView, SignalResult, Span, ValueKind

# -- answer signals ------------------------------------------------------------------------------------------


class AnswerSignal:
    """A check on the answer text (and the request it answers)."""

    kind: ValueKind
    partial = True  # meaningful on a partial (streaming) answer

    def __init__(self, name: str) -> None:
        self.name = name

    def compute(self, answer: str, view: RequestView) -> SignalResult:
        raise NotImplementedError


_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am)? (?:sorry|afraid)[^.!?\n]{0,40}\b(?:can(?:no|')t|cannot|won't|unable|not able)"
    r"|i (?:can(?:no|')?t|cannot|won't|will not|must decline to|am unable to|'m unable to|am not able to"
    r"|'m not able to) (?:help|assist|provide|give|share|do|comply|create|write|support|fulfil|fulfill|offer)"
    r"|as an ai(?: language model)?,? i (?:can(?:no|')?t|cannot|don't|do not|won't)"
    r"|(?:this|that|your) request (?:is|goes) against|i must (?:respectfully )?decline"
    r"|(?:is|would be) (?:not appropriate|inappropriate|unethical|illegal) (?:for me )?to (?:help|provide|assist))",
    re.IGNORECASE,
)
_REFUSAL_HEAD = 400  # refusals open the answer; later "I can't" is ordinary prose


class RefusalSignal(AnswerSignal):
    kind = ValueKind.LABEL
    classes = ("refused", "complied")

    def compute(self, answer: str, view: RequestView) -> SignalResult:
        m = _REFUSAL.search(answer[:_REFUSAL_HEAD])
        return SignalResult("refused" if m else "complied", 1.0 if m else 0.8)


class AnswerPiiSignal(AnswerSignal):
    kind = ValueKind.SPANS

    def __init__(self, name: str, types: list[str] | None = None) -> None:
        from pointsman.signals.pii.detectors import PII_TYPES, PiiDetector

        super().__init__(name)
        self.detector = PiiDetector(frozenset(types or PII_TYPES))

    def compute(self, answer: str, view: RequestView) -> SignalResult:
        spans = self.detector.detect(answer)
        best: dict[str, float] = {}
        for s in spans:
            best[s.type] = max(best.get(s.type, 0.0), s.score)
        return SignalResult(tuple(spans), max(best.values(), default=0.0), scores=best)


class AnswerHarmSignal(AnswerSignal):
    """The harm classifier's lexical view over the answer: no embedding, tens of microseconds."""

    kind = ValueKind.LABEL

    def __init__(self, name: str, classifier: Any, threshold: float = 0.5) -> None:
        super().__init__(name)
        if classifier.lexicon_ is None:
            raise ValueError(
                f"answer signal {name!r}: the harm model has no lexical view to read answers with"
            )
        self.classifier, self.threshold = classifier, threshold
        self.classes = list(classifier.classes_)
        self._benign = self.classes.index("benign")

    def compute(self, answer: str, view: RequestView) -> SignalResult:
        logits = self.classifier.lexicon_.logits(answer, self.classifier.lexical_bits)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        harmful = 1.0 - float(p[self._benign])
        if harmful < self.threshold:
            return SignalResult("benign", 1.0 - harmful, {"harmful": round(harmful, 4)})
        p[self._benign] = -1.0
        return SignalResult(self.classes[int(p.argmax())], harmful, {"harmful": round(harmful, 4)})


_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP_WORDS = (
    "a an the and or but if then so of to in on at by for with from as is are was were be been being it "
    "its this that these those there here he she they them his her their we us our you your i me my not "
    "no do does did done have has had can could will would should may might must shall also very more "
    "most such than too just only into over about which who whom whose what when where why how all any "
    "each some other both many much few one two out up down off again further once yes well however "
    "therefore thus"
)
_STOP = frozenset(_STOP_WORDS.split())


def _stem(word: str) -> str:
    for suffix in ("ingly", "edly", "ing", "ed", "es", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and not w.isdigit()]


@dataclass(frozen=True)
class Grounding:
    score: float
    sentences: int
    unsupported: int


def groundedness(answer: str, context: str, min_support: float = 0.5) -> Grounding:
    """Share of the answer's content words that sit in supported sentences: a sentence is supported when at
    least `min_support` of its content words occur in `context` and every number in it does too."""
    known = set(content_words(context))
    numbers = {n.replace(",", "") for n in _NUMBER.findall(context)}
    total = supported = 0
    sentences = unsupported = 0
    for sentence in _SENTENCE.split(answer):
        words = content_words(sentence)
        if len(words) < 3:
            continue
        sentences += 1
        share = sum(w in known for w in words) / len(words)
        nums_ok = all(n.replace(",", "") in numbers for n in _NUMBER.findall(sentence))
        total += len(words)
        if share >= min_support and nums_ok:
            supported += len(words)
        else:
            unsupported += 1
    return Grounding(supported / total if total else 1.0, sentences, unsupported)


class GroundednessSignal(AnswerSignal):
    kind = ValueKind.NUMBER
    partial = False

    def __init__(self, name: str, min_context_words: int = 40) -> None:
        super().__init__(name)
        self.min_context_words = min_context_words
        self._context: dict[Hashable, str | None] = {}

    def compute(self, answer: str, view: RequestView) -> SignalResult:
        context = view.all_text
        if len(content_words(context)) < self.min_context_words:
            return SignalResult.failed(f"the request gives under {self.min_context_words} words of context")
        g = groundedness(answer, context)
        return SignalResult(round(g.score, 4), 1.0, {"sentences": g.sentences, "unsupported": g.unsupported})


def build_answer_signal(name: str, spec: AnswerSignalConfig, base_dir: Any = None) -> AnswerSignal:
    if spec.type == "refusal":
        return RefusalSignal(name)
    if spec.type == "answer_pii":
        return AnswerPiiSignal(name, spec.types)
    if spec.type == "groundedness":
        return GroundednessSignal(name, spec.min_context_words)
    from pointsman.signals.classifiers.model import TextClassifier
    from pointsman.signals.classifiers.store import ensure_trained

    path = spec.model if spec.model is not None else ensure_trained("harm")
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    threshold = spec.threshold if spec.threshold is not None else 0.5
    return AnswerHarmSignal(name, TextClassifier.load(path), threshold)


# -- rules and the guard -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerRule:
    name: str
    when: Predicate
    action: str
    message: str
    tag: str | None
    signal: str | None
    fail_closed: bool


@dataclass
class Verdict:
    """What the rules decided about one (partial) answer: the acting rules in order, the answer signals."""

    fired: list[AnswerRule] = field(default_factory=list)
    results: dict[str, SignalResult] = field(default_factory=dict)

    @property
    def final(self) -> AnswerRule | None:
        """The replace or retry rule that ends the answer, if any."""
        return next((r for r in self.fired if r.action in ("replace", "retry")), None)

    @property
    def tags(self) -> list[str]:
        return [r.tag or r.name for r in self.fired if r.action == "tag"]

    def describe(self) -> str:
        return "; ".join(f"answer rule {r.name}: {r.action}" for r in self.fired)


class _Facts:
    """Answer signals computed on first read; request signals from the decision, else computed now."""

    __slots__ = ("answer", "final", "guard", "request", "results", "view")

    def __init__(
        self,
        guard: AnswerGuard,
        answer: str,
        view: RequestView,
        request: Mapping[str, SignalResult],
        final: bool,
    ) -> None:
        self.guard, self.answer, self.view, self.request, self.final = guard, answer, view, request, final
        self.results: dict[str, SignalResult] = {}

    def result(self, name: str) -> SignalResult:
        if name in self.results:
            return self.results[name]
        signal = self.guard.signals.get(name)
        if signal is None:
            found = self.request.get(name)
            if found is None and self.guard.runner is not None:
                found = self.guard.runner.run(self.view, (name,))[name]
            return found if found is not None else SignalResult.failed(f"{name} was not computed")
        if not (self.final or signal.partial):
            return SignalResult.failed("needs the whole answer")
        try:
            found = signal.compute(self.answer, self.view)
        except Exception as exc:  # noqa: BLE001 - a failing check is unknown, like a failing request signal
            found = SignalResult.failed(f"{type(exc).__name__}: {exc}")
        self.results[name] = found
        return found


class AnswerGuard:
    def __init__(
        self,
        signals: Mapping[str, AnswerSignal],
        rules: list[AnswerRule],
        *,
        hold_back: int = 96,
        every: int = 32,
        runner: Any = None,
    ) -> None:
        self.signals, self.rules = dict(signals), rules
        self.hold_back, self.every, self.runner = hold_back, every, runner

    def check(
        self,
        answer: str,
        view: RequestView,
        request: Mapping[str, SignalResult] | None = None,
        final: bool = True,
    ) -> Verdict:
        facts = _Facts(self, answer, view, request or {}, final)
        verdict = Verdict(results=facts.results)
        for rule in self.rules:
            truth = rule.when(facts)
            if truth or (truth is None and rule.fail_closed):
                verdict.fired.append(rule)
                if rule.action in ("replace", "retry"):
                    break
        return verdict

    def redact(self, answer: str, verdict: Verdict, start: int = 0, end: int | None = None) -> str:
        """`answer` with the spans of every firing redact rule's signal from `start` on (and ending by `end`)
        replaced."""
        end = len(answer) if end is None else end
        spans: list[Span] = []
        for rule in verdict.fired:
            if rule.action == "redact" and rule.signal is not None:
                found = verdict.results.get(rule.signal)
                if found is not None and found.ok:
                    spans += [s for s in found.value if start < s.end <= end]
        return redact_spans(answer, spans, start)


def redact_spans(text: str, spans: list[Span], start: int = 0) -> str:
    """Each span (clipped to `start`) replaced by `[redacted TYPE]`; overlapping spans merged."""
    out, pos = [], start
    for span in sorted(spans, key=lambda s: s.start):
        begin = max(span.start, pos)
        if span.end <= begin:
            continue
        out += [text[pos:begin], f"[redacted {span.type.lower()}]"]
        pos = span.end
    return text[:start] + "".join(out) + text[pos:]


def build_answer_guard(
    config: AnswerConfig, request_signals: Mapping[str, Any], *, runner: Any = None, base_dir: Any = None
) -> tuple[AnswerGuard | None, list[Problem]]:
    """The guard of an `answer:` section (None when it has no rules), or the problems naming bad keys."""
    if not config.enabled:
        return None, []
    problems: list[Problem] = []
    signals = {}
    for name, spec in config.signals.items():
        if name in request_signals:
            problems.append(Problem(("answer", "signals", name), f"{name!r} is a request signal already"))
            continue
        try:
            signals[name] = build_answer_signal(name, spec, base_dir)
        except (ValueError, FileNotFoundError) as exc:
            problems.append(Problem(("answer", "signals", name), str(exc)))
    readable = {**request_signals, **signals}
    rules = []
    for i, rc in enumerate(config.rules):
        rule, found = _compile(rc, ("answer", "rules", i), readable, signals)
        problems += found
        if rule is not None:
            rules.append(rule)
    if problems:
        return None, problems
    guard = AnswerGuard(
        signals, rules, hold_back=config.hold_back_chars, every=config.check_every_chars, runner=runner
    )
    return guard, []


def _compile(
    rc: AnswerRuleConfig, loc: tuple, readable: Mapping[str, Any], answer_signals: Mapping[str, AnswerSignal]
) -> tuple[AnswerRule | None, list[Problem]]:
    node, problems = parse_condition(rc.when, (*loc, "when"))
    if node is None:
        return None, problems
    when, problems = compile_condition(node, readable)
    signal = rc.signal
    if rc.action == "redact":
        spans = [n for n, s in answer_signals.items() if s.kind is ValueKind.SPANS]
        signal = signal or (spans[0] if spans else None)
        if signal not in spans:
            problems.append(Problem((*loc, "signal"), "a redact rule needs an answer_pii signal to redact"))
    if problems or when is None:
        return None, problems
    return AnswerRule(rc.name, when, rc.action, rc.message, rc.tag, signal, rc.on_signal_error == "match"), []


Chunk = dict[str, Any]
SETTLE = 16  # streaming: characters after a PII span before it counts as complete (< hold_back_chars)


class StreamGuard:
    """The guard over a stream of chat chunks: content of choice 0 held back, checked, released.

    `push(chunk)` returns the chunks to send now (content re-cut; others passed through); `end()` what is
    still held when the upstream ends without a finish_reason. `verdicts` collects every rule that acted."""

    def __init__(
        self,
        guard: AnswerGuard,
        view: RequestView,
        request: Mapping[str, SignalResult],
        on_fire: Callable[[Verdict], None] | None = None,
    ) -> None:
        self.guard, self.view, self.request, self.on_fire = guard, view, request, on_fire
        self.text = ""
        self.released = self.checked = 0
        self.stopped = False
        self.template: Chunk | None = None
        self.fired: set[str] = set()

    def push(self, chunk: Chunk) -> list[Chunk]:
        if self.stopped:  # only usage still goes through (tokens and cost of what was generated)
            usage = chunk.get("usage")
            return [{**chunk, "choices": []}] if usage else []
        choices = chunk.get("choices") or []
        first = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
        if first is None or len(choices) != 1:
            return [chunk]
        content = (first.get("delta") or {}).get("content")
        finish = first.get("finish_reason")
        if not isinstance(content, str) and finish is None:
            return [chunk]
        if isinstance(content, str):
            self.text += content
            self.template = chunk
        if finish is not None:
            out = self._finish()
            if self.stopped:
                return out + ([{**chunk, "choices": []}] if chunk.get("usage") else [])
            delta = {k: v for k, v in (first.get("delta") or {}).items() if k != "content"}
            return [*out, {**chunk, "choices": [{**first, "delta": delta}]}]
        out = []
        if len(self.text) - self.checked >= self.guard.every:
            out = self._check(final=False)
            if self.stopped:
                return out
        return out + self._release(len(self.text) - self.guard.hold_back)

    def end(self) -> list[Chunk]:
        if self.stopped or self.template is None:
            return []
        return self._finish()

    def _finish(self) -> list[Chunk]:
        out = self._check(final=True)
        return out if self.stopped else out + self._release(len(self.text))

    def _check(self, final: bool) -> list[Chunk]:
        self.checked = len(self.text)
        verdict = self.guard.check(self.text, self.view, self.request, final=final)
        new = [r for r in verdict.fired if r.name not in self.fired or r.action == "redact"]
        if not new:
            return []
        first_time = [r for r in new if r.name not in self.fired]
        self.fired |= {r.name for r in new}
        if self.on_fire is not None and first_time:
            self.on_fire(Verdict(first_time, verdict.results))
        ending = verdict.final
        if ending is not None:
            self.stopped = True
            text = ending.message if self.released == 0 else "\n\n" + ending.message
            return [self._chunk(text, "content_filter")]
        if any(r.action == "redact" for r in new):
            # Mid-stream, a span near the end may be a value still arriving ("+44 20 7946" of a longer
            # number): only spans ending SETTLE characters before the end are final.
            end = None if final else len(self.text) - SETTLE
            self.text = self.guard.redact(self.text, verdict, self.released, end)
            self.checked = len(self.text)
        return []

    def _release(self, upto: int) -> list[Chunk]:
        upto = min(upto, self.checked)  # only text a check has seen goes out
        if upto <= self.released:
            return []
        text, self.released = self.text[self.released : upto], upto
        return [self._chunk(text, None)]

    def _chunk(self, text: str, finish: str | None) -> Chunk:
        base = {k: v for k, v in (self.template or {}).items() if k not in ("choices", "usage")}
        return {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def apply_to_response(response: dict, guard: AnswerGuard, verdict: Verdict) -> None:
    """A non-streaming response changed in place by the verdict: replaced, or its content redacted."""
    try:
        message = response["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return
    ending = verdict.final
    if ending is not None:
        message["content"] = ending.message
        message.pop("tool_calls", None)
        response["choices"][0]["finish_reason"] = "content_filter"
        return
    if isinstance(message.get("content"), str) and any(r.action == "redact" for r in verdict.fired):
        message["content"] = guard.redact(message["content"], verdict)


def answer_text(response: Mapping[str, Any]) -> str | None:
    try:
        content = response["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return content if isinstance(content, str) else None
