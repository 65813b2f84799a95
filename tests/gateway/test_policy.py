"""The decision step (requested model + rules -> Decision) and selection (profiles, selectors, exploring).

The issue-3 rule forms (keywords, regex, prompt_tokens, tools, images) must keep working inside the signal
rules of issue 4 (tests/policy/ covers the new forms)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from pointsman.config.loader import parse_config
from pointsman.data.dataset import ModelInfo
from pointsman.policy.build import build_policy
from pointsman.policy.objective import Objective
from pointsman.policy.profiles import RouteProfile, build_profile
from pointsman.policy.rules import BadModelRequest, Decider, UnknownModel
from pointsman.policy.selector import RouterSelector, StaticSelector
from pointsman.routers import registry
from pointsman.routers.base import Queries, Router
from pointsman.signals.base import RequestView


def view(text: str = "hi", **body) -> RequestView:
    return RequestView({"messages": [{"role": "user", "content": text}], **body})


def holds(condition: dict, request_view: RequestView) -> str | None:
    """Why rule `r` with this condition held for the request (its reason), or None when it did not."""
    decision = decider([{"name": "r", "profile": "b", "when": condition}]).decide_now(request_view)
    return decision.reason.removeprefix("rule r: ") if decision.rule == "r" else None


@pytest.mark.parametrize(
    "condition, request_view, expected",
    [
        ({"keywords": ["python", "stack trace"]}, view("My Python code"), "keyword 'Python'"),
        ({"keywords": ["python"]}, view("pythonic ways"), None),  # whole words only
        ({"keywords": ["stack trace"]}, view("here is the stack  trace"), None),
        ({"keywords": ["stack trace"]}, view("a STACK TRACE:"), "keyword 'STACK TRACE'"),
        ({"regex": r"\d{4}-\d{2}"}, view("on 2024-05-01"), r"regex /\d{4}-\d{2}/"),
        ({"prompt_tokens": {"gt": 100}}, view("x" * 1000), "prompt_tokens > 100 [290]"),
        ({"prompt_tokens": {"gt": 100}}, view("short"), None),
        (
            {"prompt_tokens": {"ge": 1, "lt": 10}},
            view("short"),
            "prompt_tokens >= 1 [6] and prompt_tokens < 10 [6]",
        ),
        (
            {"tools": True},
            view("hi", tools=[{"type": "function", "function": {"name": "f"}}]),
            "tools [True]",
        ),
        ({"tools": False}, view("hi"), "no tools [False]"),
        (
            {"images": True},
            RequestView(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "what is it"},
                                {"type": "image_url", "image_url": {"url": "x"}},
                            ],
                        }
                    ]
                }
            ),
            "images [True]",
        ),
        ({"images": True}, view("no image"), None),
        ({"any": [{"keywords": ["sql"]}, {"regex": "SELECT"}]}, view("SELECT 1"), "regex /SELECT/"),
        (
            {"all": [{"keywords": ["sql"]}, {"tools": False}]},
            view("an sql question"),
            "keyword 'sql' and no tools [False]",
        ),
        ({"keywords": ["sql"], "tools": True}, view("an sql question"), None),  # several keys: all must hold
        ({"not": {"keywords": ["sql"]}}, view("hello"), "not matched"),
        ({"not": {"keywords": ["sql"]}}, view("sql"), None),
    ],
)
def test_conditions(condition: dict, request_view: RequestView, expected: str | None) -> None:
    assert holds(condition, request_view) == expected


def test_keywords_look_at_the_last_user_message_only() -> None:
    v = RequestView(
        {
            "messages": [
                {"role": "system", "content": "You are a Python expert."},
                {"role": "user", "content": "tell me about Python"},
                {"role": "assistant", "content": "sure"},
                {"role": "user", "content": "and about cats?"},
            ]
        }
    )
    assert holds({"keywords": ["python"]}, v) is None


def decider(rules: list[dict] | None = None, profiles: list[str] = ("a", "b"), **kw) -> Decider:
    text = yaml.safe_dump(
        {
            "backends": [
                {"name": n, "kind": "openai", "base_url": "http://127.0.0.1:1/v1"} for n in ("m1", "m2")
            ],
            "profiles": [{"name": p, "candidates": ["m1", "m2"]} for p in profiles],
            "rules": rules or [],
            **kw,
        }
    )
    return build_policy(parse_config(text)).decider


def test_resolution_order() -> None:
    d = decider(
        rules=[
            {"name": "code", "when": {"keywords": ["python"]}, "profile": "b"},
            {"name": "alias", "models": ["gpt-4"], "profile": "b"},
            {"name": "b-small", "models": ["b"], "when": {"prompt_tokens": {"lt": 10}}, "profile": "a"},
        ],
        fallbacks={"m1": ["m2"]},
    )
    direct = d.decide_now(view("python"), "m1")
    assert (direct.route, direct.model, direct.fallbacks, direct.profile) == ("direct", "m1", ("m2",), None)
    ruled = d.decide_now(view("python please"), "auto")
    assert (ruled.route, ruled.rule, ruled.reason) == ("b", "code", "rule code: keyword 'python'")
    default = d.decide_now(view("cats"), "auto")
    assert (default.route, default.rule, default.reason) == ("a", None, "default profile")
    assert d.decide_now(view("cats"), "gpt-4").route == "b"
    assert d.decide_now(view("hi"), "b").route == "a"  # a rule listing the profile's name applies first
    assert d.decide_now(view("a much longer question here"), "b").reason == "profile requested by name"
    with pytest.raises(
        UnknownModel, match="The model 'gpt-5' does not exist; known: auto, a, b, gpt-4, m1, m2"
    ):
        d.decide_now(view(), "gpt-5")
    with pytest.raises(BadModelRequest, match="static order"):
        d.decide_now(view(), "router-a-0.3")
    with pytest.raises(UnknownModel):
        d.decide_now(view(), "router-zzz-0.3")


def test_default_profile_and_no_profiles() -> None:
    assert decider(default_profile="b").decide_now(view(), "auto").route == "b"
    static = decider(profiles=[]).decide_now(view(), "auto")  # no profile: the backends in config order
    assert (static.route, static.model, static.fallbacks) == ("direct", "m1", ("m2",))


def test_static_order_and_fallbacks() -> None:
    p = RouteProfile("p", StaticSelector(["b", "a"]), ["a", "b"], fallbacks=["c", "a"])
    s = asyncio.run(p.select(view()))
    assert s.ranking == ["b", "a", "c"] and s.probability == 1.0 and s.reason == "static order"


def test_exploration_logs_the_true_probability() -> None:
    p = RouteProfile(
        "p", StaticSelector(["a", "b", "c", "d"]), ["a", "b", "c", "d"], exploration=0.2, rng=random.Random(0)
    )
    picks: dict[str, list[float]] = {}
    for _ in range(4000):
        s = asyncio.run(p.select(view()))
        picks.setdefault(s.ranking[0], []).append(s.probability)
        assert sorted(s.ranking) == ["a", "b", "c", "d"]
    assert picks["a"] == pytest.approx([0.85] * len(picks["a"]))  # 1 - 0.2 + 0.2 / 4
    assert picks["d"] == pytest.approx([0.05] * len(picks["d"]))  # 0.2 / 4
    freq = {m: len(v) / 4000 for m, v in picks.items()}
    assert freq["a"] == pytest.approx(0.85, abs=0.03) and freq["c"] == pytest.approx(0.05, abs=0.02)


# -- a router file through the selector -------------------------------------------------------------------


class TableRouter(Router):
    """A real (if simple) router: quality per model by the first word of the prompt, learned from a table.

    Test-only stand-in until the lab's routers are available here; it exercises the file format and the
    selector exactly as a learned router does.
    """

    name = "test-table"

    def __init__(self, table: dict | None = None) -> None:
        self.table = table

    def fit(self, dataset):
        self._fit_common(dataset)  # the models and the cost model every router file carries
        return self

    def predict(self, queries) -> np.ndarray:
        q = Queries.of(queries)
        assert q.embeddings is not None and q.embeddings.shape == (len(q), 8)  # the gateway embedded once
        rows = [self.table.get(t.split()[0].lower(), self.table["*"]) for t in q.texts]
        return np.array(rows, dtype=float)

    def predict_cost(self, queries) -> np.ndarray:
        return np.tile(self.costs_, (len(Queries.of(queries)), 1))

    def _get_state(self):
        return {"table": self.table}, {"costs": self.costs_}

    def _set_state(self, meta, arrays):
        self.table, self.costs_ = meta["table"], arrays["costs"]


@pytest.fixture(autouse=True)
def table_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """TableRouter is known to the registry (so its files load) during these tests only: other test modules
    iterate over every registered router."""
    monkeypatch.setitem(registry._ROUTERS, TableRouter.name, TableRouter)


class CountingEncoder:
    id = "test/8"
    dim = 8

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts, *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)


def router_file(tmp_path: Path) -> Path:
    from pointsman.data.dataset import RoutingDataset

    models = [ModelInfo("big", 5, 15), ModelInfo("small", 0.1, 0.4), ModelInfo("tiny", 0, 0)]
    quality, cost = [[0.9, 0.5, 0.2], [0.6, 0.58, 0.2]], [[0.004, 0.0001, 0.0]] * 2
    data = RoutingDataset(["p1", "p2"], ["hard one", "easy one"], [None, None], models, quality, cost)
    r = TableRouter({"hard": [0.9, 0.5, 0.2], "*": [0.6, 0.58, 0.2]}).fit(data)
    r.costs_ = np.array([0.004, 0.0001, 0.0])
    return r.save(tmp_path / "r.npz")


def test_router_selector_ranks_with_objective(tmp_path: Path) -> None:
    enc = CountingEncoder()
    sel = RouterSelector(
        Router.load(router_file(tmp_path)),
        ["small", "big"],
        Objective(lambda_=10.0),
        prices={"small": (0.1, 0.4), "big": (5, 15)},
        encoder=enc,
    )
    easy = asyncio.run(sel.rank(view("what is 2+2")))
    assert easy.models == ["small", "big"]  # 0.58 - 0.001 beats 0.6 - 0.04
    assert easy.scored[0].quality == pytest.approx(0.58) and easy.scored[0].cost == pytest.approx(0.0001)
    assert easy.reason.startswith("router test-table, lambda=10: small predicted quality 0.58 at $0.000100")
    hard = asyncio.run(sel.rank(view("hard proof needed")))
    assert hard.models == ["big", "small"]
    cheap = asyncio.run(sel.rank(view("hard proof needed"), Objective(within=0.5)))
    assert cheap.models[0] == "small"  # 0.5 is within 50% of 0.9
    v = view("hard one")
    asyncio.run(sel.rank(v))
    asyncio.run(sel.rank(v))
    assert enc.calls == 4  # once per request view (easy, hard, the within one, v), however often it is read


def test_router_profile_from_config_and_threshold_request(tmp_path: Path) -> None:
    path = router_file(tmp_path)
    cfg = parse_config(
        yaml.safe_dump(
            {
                "backends": [
                    {"name": n, "kind": "openai", "base_url": "http://127.0.0.1:1/v1"}
                    for n in ("big", "small")
                ],
                "profiles": [
                    {
                        "name": "smart",
                        "candidates": ["big", "small"],
                        "selector": {"router": path.name},
                        "objective": {"lambda": 0},
                    }
                ],
            }
        ),
        base_dir=tmp_path,
    )
    profile = build_profile(cfg.profiles[0], {b.name: b for b in cfg.backends}, encoder=CountingEncoder())
    assert profile.learned
    d = Decider({"smart": profile}, [], backends=["big", "small"], default_profile="smart")
    decision = d.decide_now(view("hard"), "router-smart-0.5")
    assert decision.route == "smart" and decision.objective == Objective(within=0.5)
    chosen = asyncio.run(profile.select(view("hard question"), decision.objective))
    assert chosen.ranking == ["small", "big"]
    with pytest.raises(BadModelRequest, match="0 to 1"):
        d.decide_now(view(), "router-smart-1.5")


def test_router_file_must_know_the_candidates(tmp_path: Path) -> None:
    from pointsman.config.loader import ConfigError

    path = router_file(tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"profiles\[0\].selector.router: the router file predicts no quality "
        r"for 'other' \(it knows: big, small, tiny\)",
    ):
        parse_config(
            yaml.safe_dump(
                {
                    "backends": [
                        {"name": n, "kind": "openai", "base_url": "http://127.0.0.1:1/v1"}
                        for n in ("big", "other")
                    ],
                    "profiles": [
                        {"name": "smart", "candidates": ["big", "other"], "selector": {"router": path.name}}
                    ],
                }
            ),
            base_dir=tmp_path,
        )
