from __future__ import annotations

import numpy as np
import pytest

from pointsman.signals.base import RequestView
from pointsman.signals.routes import Route, RouteSignal

ROUTES = [
    Route(
        "billing",
        ("I was charged twice for my subscription", "my invoice amount is wrong", "refund my payment"),
    ),
    Route("weather", ("will it rain tomorrow", "what is the weather forecast for the weekend")),
    Route("code", ("my python script throws an exception", "how do I fix this compile error")),
]


@pytest.fixture(scope="module")
def routes(minilm) -> RouteSignal:
    return RouteSignal("intent", ROUTES, minilm, threshold=0.4)


def _compute(signal: RouteSignal, encoder, text: str):
    view = RequestView.from_prompt(text)
    view.ensure_embedding(encoder)
    return signal.compute(view)


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("Why did you bill me two times this month?", "billing"),
        ("Is it going to be sunny on Saturday?", "weather"),
        ("TypeError: 'NoneType' object is not subscriptable in my Python code", "code"),
        ("Recommend a good novel about sailing", None),
    ],
)
def test_nearest_route_with_threshold(routes, minilm, text, route):
    result = _compute(routes, minilm, text)
    assert result.value == route
    assert set(result.scores) == {"billing", "weather", "code"}
    assert result.confidence == pytest.approx(max(0.0, max(result.scores.values())), abs=1e-4)


def test_per_route_threshold_overrides_default(minilm):
    strict = RouteSignal("i", [Route("weather", ROUTES[1].utterances, threshold=0.99)], minilm)
    assert _compute(strict, minilm, "Is it going to be sunny on Saturday?").value is None


def test_tuning_thresholds_from_labelled_examples(trigram):
    signal = RouteSignal(
        "i", [Route("a", ("alpha beta",)), Route("b", ("gamma delta",))], trigram, threshold=0.0
    )
    texts = ["alpha beta", "alpha beta gamma", "gamma delta", "zzz qqq alpha", "xxxx yyyy"]
    labels = ["a", "a", "b", None, None]
    emb = trigram.encode(texts)
    assert signal.predict(emb).count(None) == 0
    thresholds = signal.tune(emb, labels, objective="accuracy")
    assert signal.predict(emb) == labels
    assert set(thresholds) == {"a", "b"} and all(t == thresholds["a"] for t in thresholds.values())
    per_route = signal.tune(emb, labels, objective="f1", per_route=True)
    assert signal.predict(emb) == labels and per_route.keys() == {"a", "b"}


def test_similarities_shape_and_max_per_route(trigram):
    signal = RouteSignal("i", [Route("a", ("one", "two", "three")), Route("b", ("four",))], trigram)
    emb = trigram.encode(["two", "four"])
    sims = signal.similarities(emb)
    assert sims.shape == (2, 2)
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-5) and sims[1, 1] == pytest.approx(1.0, abs=1e-5)
    assert signal.similarities(emb[0]).shape == (2,)


def test_bad_route_definitions(trigram):
    with pytest.raises(ValueError, match="no routes given"):
        RouteSignal("i", [], trigram)
    with pytest.raises(ValueError, match="route names repeat"):
        RouteSignal("i", [Route("a", ("x",)), Route("a", ("y",))], trigram)
    with pytest.raises(ValueError, match="routes.a: needs at least one non-empty utterance"):
        RouteSignal("i", [Route("a", ("",))], trigram)
    signal = RouteSignal("i", [Route("a", ("x",))], trigram)
    with pytest.raises(ValueError, match="unknown routes"):
        signal.tune(trigram.encode(["x"]), ["zzz"])


def test_embedding_from_another_encoder_is_an_error(trigram):
    signal = RouteSignal("i", [Route("a", ("x",))], trigram)
    view = RequestView(
        {"messages": [{"role": "user", "content": "x"}]}, embedding=np.ones(10, np.float32) / np.sqrt(10)
    )
    with pytest.raises(ValueError, match="same encoder"):
        signal.compute(view)
