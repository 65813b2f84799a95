"""Rule conditions: parsed from YAML, checked against the configured signals, compiled to fast predicates.

A condition is a string comparing one signal, or a tree of them:

    "safety != benign"                    # a signal's value against a literal
    "safety.confidence >= 0.8"            # its confidence
    "scope.scores.in_domain < 0.3"        # one of its per-label scores
    "language in [en, de]"                # membership in a list
    "topics contains code"                # a label set (keywords, regex) or PII span types
    "has_code"    "not pii"               # bare: a bool is true / a label is set / labels or spans exist
    {all: [...]}  {any: [...]}  {not: ...}   # a mapping with several keys: all of them must hold

Inline text tests and shorthands from the first rule format stay valid: `{keywords: [...]}` (whole words in
the last user message), `{regex: "..."}`, `{prompt_tokens: {gt: N}}`, `{tools: true}`, `{images: true}`.

Evaluation is three-valued: a comparison over a signal that failed (error, over its budget) is *unknown*
(None), combined the Kleene way (`any` with one true part is true whatever the rest). The rule decides what
unknown means (`on_signal_error`). Signals are read through a `Facts` object which computes them lazily, so a
condition only costs the signals it actually reaches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence, Union

from pointsman.config.problems import Loc, Problem
from pointsman.signals.base import RequestView, Signal, SignalResult, ValueKind

ORDER_OPS = ("<", "<=", ">", ">=")
LIST_OPS = ("in", "not in")
CONTAINS_OPS = ("contains", "not contains")
OPS_BY_KIND: dict[ValueKind, tuple[str | None, ...]] = {
    ValueKind.BOOL: (None, "==", "!="),
    ValueKind.NUMBER: ("==", "!=", *ORDER_OPS, *LIST_OPS),
    ValueKind.LABEL: (None, "==", "!=", *LIST_OPS),
    ValueKind.LABELS: (None, *CONTAINS_OPS),
    ValueKind.SPANS: (None, *CONTAINS_OPS),
}
_KIND_NAMES = {
    ValueKind.BOOL: "a bool",
    ValueKind.NUMBER: "a number",
    ValueKind.LABEL: "a label",
    ValueKind.LABELS: "a set of labels",
    ValueKind.SPANS: "spans",
}
_LEAF = re.compile(
    r"^\s*(?P<neg>not\s+)?(?P<ref>[A-Za-z_][\w.\-]*)\s*"
    r"(?:(?P<op>==|!=|<=|>=|<|>|not\s+in\b|in\b|not\s+contains\b|contains\b)\s*(?P<lit>.*?))?\s*$",
    re.DOTALL,
)
_TOKEN = re.compile(r"""'[^']*'|"[^"]*"|[^,]+""")
_MAPPING_KEYS = ("all", "any", "not", "keywords", "regex", "prompt_tokens", "tools", "images")
_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


# -- the parsed tree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A literal as written: `quoted` tokens are always text."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Compare:
    loc: Loc
    text: str  # as written, for reasons
    signal: str
    attr: str  # "value" | "confidence" | "scores"
    key: str | None  # the score's label
    op: str | None  # None: a bare reference
    literal: Token | tuple[Token, ...] | None


@dataclass(frozen=True)
class AllOf:
    loc: Loc
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    loc: Loc
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class NotOf:
    loc: Loc
    part: Node


@dataclass(frozen=True)
class Keywords:
    loc: Loc
    words: tuple[str, ...]


@dataclass(frozen=True)
class Regex:
    loc: Loc
    pattern: str


Node = Union[Compare, AllOf, AnyOf, NotOf, Keywords, Regex]


def signal_names(node: Node) -> Iterator[str]:
    """The signals a condition reads, in evaluation order (repeats possible)."""
    if isinstance(node, Compare):
        yield node.signal
    elif isinstance(node, (AllOf, AnyOf)):
        for part in node.parts:
            yield from signal_names(part)
    elif isinstance(node, NotOf):
        yield from signal_names(node.part)


def text_tests(node: Node | None) -> Iterator[tuple[str, str]]:
    """The inline tests of the prompt's text a condition reads, as (`keywords` or `regex`, what they look
    for): not signals, but what `config check` and `explain` list beside them."""
    if isinstance(node, Keywords):
        yield "keywords", ", ".join(node.words)
    elif isinstance(node, Regex):
        yield "regex", node.pattern
    elif isinstance(node, (AllOf, AnyOf)):
        for part in node.parts:
            yield from text_tests(part)
    elif isinstance(node, NotOf):
        yield from text_tests(node.part)


def config_text_tests(rules: Iterable[Any]) -> list[tuple[str, str]]:
    """`text_tests` of every rule's `when` (config.gateway.RuleConfig), in rule order."""
    return [t for r in rules if r.when is not None for t in text_tests(parse_condition(r.when, ())[0])]


# -- parsing (structure only; needs no signals) ------------------------------------------------------------


def parse_condition(raw: Any, loc: Loc) -> tuple[Node | None, list[Problem]]:
    """The tree for `raw` (a string or mapping from YAML), or None and the problems (each with its key)."""
    problems: list[Problem] = []
    node = _parse(raw, loc, problems)
    return (None if problems else node), problems


def _parse(raw: Any, loc: Loc, problems: list[Problem]) -> Node | None:
    if isinstance(raw, str):
        return _parse_leaf(raw, loc, problems)
    if isinstance(raw, bool) or not isinstance(raw, Mapping):
        problems.append(
            Problem(
                loc,
                f'a condition is a string like "language == en" or a mapping of {", ".join(_MAPPING_KEYS)}; '
                f"got {_type_name(raw)}",
            )
        )
        return None
    if not raw:
        problems.append(Problem(loc, f"empty condition: give at least one of {', '.join(_MAPPING_KEYS)}"))
        return None
    parts: list[Node | None] = []
    for key, value in raw.items():
        here = (*loc, key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                problems.append(Problem(here, "expected a non-empty list of conditions"))
                continue
            children = tuple(_parse(v, (*here, i), problems) for i, v in enumerate(value))
            parts.append((AllOf if key == "all" else AnyOf)(here, children))  # type: ignore[arg-type]
        elif key == "not":
            child = _parse(value, here, problems)
            parts.append(NotOf(here, child) if child is not None else None)
        elif key == "keywords":
            if not isinstance(value, list) or not value or not all(isinstance(w, str) for w in value):
                problems.append(Problem(here, "expected a non-empty list of words or phrases"))
            elif any(not w.strip() for w in value):
                problems.append(Problem(here, "keywords must not be blank"))
            else:
                parts.append(Keywords(here, tuple(value)))
        elif key == "regex":
            parts.append(_parse_regex(value, here, problems))
        elif key == "prompt_tokens":
            parts.append(_parse_bounds(value, here, problems))
        elif key in ("tools", "images"):
            if not isinstance(value, bool):
                problems.append(Problem(here, f"Input should be a valid boolean (got {value!r})"))
                continue
            op = "==" if value else "!="
            parts.append(
                Compare(here, key if value else f"no {key}", f"has_{key}", "value", None, op, Token("true"))
            )
        else:
            problems.append(Problem(here, f"unknown key; a condition mapping has {', '.join(_MAPPING_KEYS)}"))
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else AllOf(loc, tuple(parts))  # type: ignore[arg-type]


def _parse_leaf(text: str, loc: Loc, problems: list[Problem]) -> Node | None:
    m = _LEAF.match(text)
    if m is None:
        problems.append(
            Problem(
                loc, f"cannot read {text!r}: expected 'SIGNAL', 'SIGNAL OP VALUE' or 'SIGNAL.confidence OP N'"
            )
        )
        return None
    name, *attrs = m["ref"].split(".")
    attr, key = "value", None
    if attrs == ["confidence"]:
        attr = "confidence"
    elif len(attrs) == 2 and attrs[0] == "scores" and attrs[1]:
        attr, key = "scores", attrs[1]
    elif attrs not in ([], ["value"]):
        problems.append(
            Problem(
                loc,
                f"{text!r}: '{'.'.join(attrs)}' is not a part of a signal; use .value, .confidence "
                "or .scores.LABEL",
            )
        )
        return None
    op = " ".join(m["op"].split()) if m["op"] else None
    literal: Token | tuple[Token, ...] | None = None
    if op is not None:
        if not m["lit"]:
            problems.append(Problem(loc, f"{text!r}: a value is missing after '{op}'"))
            return None
        literal = _literal(m["lit"])
        if isinstance(literal, tuple) and op not in (*LIST_OPS, *CONTAINS_OPS):
            problems.append(Problem(loc, f"{text!r}: a list only goes with in, not in, contains"))
            return None
        if op in LIST_OPS and not isinstance(literal, tuple):
            literal = (literal,)
    leaf = Compare(loc, " ".join(text.split()), name, attr, key, op, literal)
    return NotOf(loc, leaf) if m["neg"] else leaf


def _literal(text: str) -> Token | tuple[Token, ...]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return tuple(_token(t) for t in _TOKEN.findall(text[1:-1]) if t.strip())
    return _token(text)


def _token(text: str) -> Token:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return Token(text[1:-1], quoted=True)
    return Token(text)


def _parse_regex(value: Any, loc: Loc, problems: list[Problem]) -> Node | None:
    if not isinstance(value, str):
        problems.append(Problem(loc, f"expected a regular expression (a string), got {_type_name(value)}"))
        return None
    try:
        re.compile(value)
    except re.error as exc:
        problems.append(Problem(loc, f"bad regular expression: {exc}"))
        return None
    return Regex(loc, value)


def _parse_bounds(value: Any, loc: Loc, problems: list[Problem]) -> Node | None:
    if not isinstance(value, Mapping) or not value:
        problems.append(Problem(loc, "give at least one of gt, ge, lt, le"))
        return None
    parts: list[Node] = []
    for bound, limit in value.items():
        if bound not in _BOUNDS:
            problems.append(Problem((*loc, bound), "unknown key; use gt, ge, lt, le"))
        elif isinstance(limit, bool) or not isinstance(limit, (int, float)):
            problems.append(Problem((*loc, bound), f"expected a number, got {limit!r}"))
        else:
            op = _BOUNDS[bound]
            parts.append(
                Compare(
                    loc,
                    f"prompt_tokens {op} {limit:g}",
                    "prompt_tokens",
                    "value",
                    None,
                    op,
                    Token(str(limit)),
                )
            )
    if len(parts) != len(value):
        return None
    return parts[0] if len(parts) == 1 else AllOf(loc, tuple(parts))


def _type_name(v: Any) -> str:
    return {type(None): "nothing", bool: "a boolean", int: "a number", float: "a number", list: "a list"}.get(
        type(v), type(v).__name__
    )


# -- checking against signals and compiling -------------------------------------------------------------


class Facts(Protocol):
    """What a predicate reads: the request and its signal results (computed on first use)."""

    view: RequestView

    def result(self, name: str) -> SignalResult: ...


class Predicate:
    """A compiled condition: `pred(facts)` -> True, False or None (unknown: a signal it read failed);
    `pred.why(facts)` -> the parts that made it hold, for the reason header and the log (never content)."""

    __slots__ = ()

    def __call__(self, facts: Facts) -> bool | None:
        raise NotImplementedError

    def why(self, facts: Facts) -> str:
        raise NotImplementedError


class _All(Predicate):
    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Predicate]) -> None:
        self.parts = tuple(parts)

    def __call__(self, facts: Facts) -> bool | None:
        unknown = False
        for part in self.parts:
            truth = part(facts)
            if truth is False:
                return False
            if truth is None:
                unknown = True
        return None if unknown else True

    def why(self, facts: Facts) -> str:
        return " and ".join(p.why(facts) for p in self.parts)


class _Any(Predicate):
    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Predicate]) -> None:
        self.parts = tuple(parts)

    def __call__(self, facts: Facts) -> bool | None:
        unknown = False
        for part in self.parts:
            truth = part(facts)
            if truth is True:
                return True
            if truth is None:
                unknown = True
        return None if unknown else False

    def why(self, facts: Facts) -> str:
        for part in self.parts:
            if part(facts) is not False:
                return part.why(facts)
        return "none held"


class _Not(Predicate):
    __slots__ = ("part",)

    def __init__(self, part: Predicate) -> None:
        self.part = part

    def __call__(self, facts: Facts) -> bool | None:
        truth = self.part(facts)
        return None if truth is None else not truth

    def why(self, facts: Facts) -> str:
        return f"not {self.part.why(facts)}" if isinstance(self.part, _Compare) else "not matched"


class _Compare(Predicate):
    __slots__ = ("attr", "key", "name", "test", "text")

    def __init__(self, node: Compare, test: Any) -> None:
        self.name, self.attr, self.key, self.text, self.test = (
            node.signal,
            node.attr,
            node.key,
            node.text,
            test,
        )

    def read(self, result: SignalResult) -> Any:
        if self.attr == "value":
            return result.value
        if self.attr == "confidence":
            return result.confidence
        return (result.scores or {}).get(self.key)  # type: ignore[arg-type]

    def __call__(self, facts: Facts) -> bool | None:
        result = facts.result(self.name)
        if result.error is not None:
            return None
        value = self.read(result)
        if value is None and self.attr == "scores":
            return False  # a label the signal did not score
        return self.test(value)

    def why(self, facts: Facts) -> str:
        result = facts.result(self.name)
        if result.error is not None:
            return f"{self.text} [signal {self.name} failed]"
        return f"{self.text} [{show_value(self.read(result))}]"


class _Keywords(Predicate):
    # One pass for all words; whole words/phrases only ("class" does not match "classic").
    __slots__ = ("pattern",)

    def __init__(self, words: Sequence[str]) -> None:
        alternatives = "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def __call__(self, facts: Facts) -> bool | None:
        return self.pattern.search(facts.view.last_user_text) is not None

    def why(self, facts: Facts) -> str:
        m = self.pattern.search(facts.view.last_user_text)
        return f"keyword '{m.group(0)}'" if m else "no keyword"


class _Regex(Predicate):
    __slots__ = ("pattern",)

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __call__(self, facts: Facts) -> bool | None:
        return self.pattern.search(facts.view.last_user_text) is not None

    def why(self, facts: Facts) -> str:
        return f"regex /{self.pattern.pattern}/"


def compile_condition(node: Node, signals: Mapping[str, Signal]) -> tuple[Predicate | None, list[Problem]]:
    """A predicate for `node`, or the problems: unknown signals, operators the signal's kind does not have,
    literals of the wrong type, labels the signal never gives."""
    problems: list[Problem] = []
    pred = _compile(node, signals, problems)
    return (None if problems else pred), problems


def _compile(node: Node, signals: Mapping[str, Signal], problems: list[Problem]) -> Predicate | None:
    if isinstance(node, (AllOf, AnyOf)):
        parts = [_compile(p, signals, problems) for p in node.parts]
        if any(p is None for p in parts):
            return None
        if len(parts) == 1:
            return parts[0]
        return (_All if isinstance(node, AllOf) else _Any)(parts)  # type: ignore[arg-type]
    if isinstance(node, NotOf):
        part = _compile(node.part, signals, problems)
        return _Not(part) if part is not None else None
    if isinstance(node, Keywords):
        return _Keywords(node.words)
    if isinstance(node, Regex):
        return _Regex(node.pattern)
    signal = signals.get(node.signal)
    if signal is None:
        problems.append(
            Problem(node.loc, f"{node.text!r}: unknown signal {node.signal!r}{_known(signals, node.signal)}")
        )
        return None
    try:
        test = _test(node, signal)
    except ValueError as exc:
        problems.append(Problem(node.loc, f"{node.text!r}: {exc}"))
        return None
    return _Compare(node, test)


def _known(signals: Mapping[str, Signal], name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(signals), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (configured: {', '.join(sorted(signals))})"


def _test(node: Compare, signal: Signal) -> Any:
    """The value test for `node` (raises ValueError saying what does not fit `signal`)."""
    kind = ValueKind.NUMBER if node.attr != "value" else signal.kind
    what = f"{node.signal}.{node.attr}" if node.attr != "value" else node.signal
    if node.attr == "scores":
        what += f".{node.key}"
    ops = OPS_BY_KIND[kind]
    if node.op not in ops:
        given = "a bare reference" if node.op is None else f"'{node.op}'"
        allowed = ", ".join("bare" if o is None else o for o in ops)
        raise ValueError(f"{given} does not apply to {what}, which is {_KIND_NAMES[kind]} (use: {allowed})")
    op, lit = node.op, node.literal
    if op is None:
        if kind is ValueKind.BOOL:
            return lambda v: v is True
        if kind is ValueKind.LABEL:
            return lambda v: v is not None
        return lambda v: bool(v)
    tokens = lit if isinstance(lit, tuple) else (lit,)
    values = [_convert(t, kind, what, signal) for t in tokens]  # type: ignore[arg-type]
    if kind in (ValueKind.LABELS, ValueKind.SPANS):
        wanted = frozenset(values)
        if kind is ValueKind.SPANS:
            hit = lambda v: any(s.type in wanted for s in v)  # noqa: E731
        else:
            hit = lambda v: not wanted.isdisjoint(v)  # noqa: E731
        return hit if op == "contains" else (lambda v: not hit(v))
    if op in LIST_OPS:
        members = frozenset(values)
        return (lambda v: v in members) if op == "in" else (lambda v: v not in members)
    x = values[0]
    return {
        "==": lambda v: v == x,
        "!=": lambda v: v != x,
        "<": lambda v: v is not None and v < x,
        "<=": lambda v: v is not None and v <= x,
        ">": lambda v: v is not None and v > x,
        ">=": lambda v: v is not None and v >= x,
    }[op]


def _convert(token: Token, kind: ValueKind, what: str, signal: Signal) -> Any:
    text = token.text
    if kind is ValueKind.NUMBER:
        try:
            if token.quoted:
                raise ValueError
            return float(text)
        except ValueError:
            raise ValueError(f"{what} is a number; {text!r} is not one") from None
    if kind is ValueKind.BOOL:
        if token.quoted or text.lower() not in ("true", "false"):
            raise ValueError(f"{what} is a bool; compare it with true or false, not {text!r}")
        return text.lower() == "true"
    if kind is ValueKind.LABEL and not token.quoted and text.lower() in ("null", "none", "~"):
        return None
    labels = signal_labels(signal)
    if labels is not None and text not in labels:
        raise ValueError(f"{what} never gives {text!r} (it gives: {', '.join(sorted(labels))})")
    return text


def signal_labels(signal: Signal) -> frozenset[str] | None:
    """The labels a signal can give, where it says (classifier classes, route names, keyword sets, PII
    types); None when open-ended (language codes, headers)."""
    for attr in ("classes", "route_names", "set_names"):
        labels = getattr(signal, attr, None)
        if labels:
            return frozenset(map(str, labels))
    types = getattr(getattr(signal, "detector", None), "types", None)
    return frozenset(types) if types else None


def show_value(value: Any) -> str:
    """A short rendering of a signal value for reasons (span types, never their text)."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, tuple):
        items = [getattr(v, "type", v) for v in value]
        return ",".join(dict.fromkeys(map(str, items))) or "none"
    return str(value)
