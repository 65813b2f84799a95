"""Measure PII detection: precision and recall per type on labelled spans.

Two sources: a labelled file in presidio-research's format (`full_text` + `spans[{entity_type,
start_position, end_position}]`), and sentences generated with `faker` (MIT) around generated values,
with hard negatives (ISBNs, UUIDs, dates, versions, order numbers, hashes) mixed in.

A predicted span matches a labelled one of the same type when they overlap by at least half of the
longer of the two (so "call 555-123-4567x89" found without its extension still counts).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pointsman.signals.base import Span
from pointsman.signals.pii.detectors import PiiDetector

# presidio-research entity names -> ours (types we do not detect are left out of the comparison).
PRESIDIO_TYPES: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "UK_NINO": "UK_NINO",
    "PERSON": "PERSON",
    "STREET_ADDRESS": "STREET_ADDRESS",
}


@dataclass(frozen=True)
class LabelledText:
    text: str
    spans: tuple[Span, ...]


@dataclass
class TypeScore:
    tp: int = 0  # predicted spans that match a labelled one
    fp: int = 0
    fn: int = 0  # labelled spans no prediction matched
    support: int = 0  # labelled spans
    misses: list[str] = field(default_factory=list)  # a few examples of each error, for reading
    false_alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return (self.support - self.fn) / self.support if self.support else 1.0


def load_presidio(path: Path) -> list[LabelledText]:
    """A presidio-research synthetic dataset (JSON list); entity names mapped with `PRESIDIO_TYPES`."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a presidio PII dataset: {exc}") from None
    out = []
    for i, row in enumerate(rows):
        try:
            spans = tuple(
                Span(PRESIDIO_TYPES[s["entity_type"]], s["start_position"], s["end_position"], 1.0)
                for s in row["spans"]
                if s["entity_type"] in PRESIDIO_TYPES
            )
            out.append(LabelledText(row["full_text"], spans))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: row {i}: missing or malformed field {exc}") from None
    return out


def _overlaps(a: Span, b: Span) -> bool:
    overlap = min(a.end, b.end) - max(a.start, b.start)
    return overlap >= 0.5 * max(a.end - a.start, b.end - b.start)


def score(
    detector: PiiDetector | Callable[[str], Sequence[Span]],
    data: Iterable[LabelledText],
    types: Iterable[str],
) -> dict[str, TypeScore]:
    """Precision/recall per type in `types` (predictions of other types are ignored)."""
    detect = detector.detect if isinstance(detector, PiiDetector) else detector
    scores = {t: TypeScore() for t in types}
    for item in data:
        predicted = [s for s in detect(item.text) if s.type in scores]
        for gold in item.spans:
            if gold.type not in scores:
                continue
            sc = scores[gold.type]
            sc.support += 1
            if not any(p.type == gold.type and _overlaps(p, gold) for p in predicted):
                sc.fn += 1
                if len(sc.misses) < 8:
                    sc.misses.append(f"{item.text[gold.start : gold.end]!r} in {item.text[:120]!r}")
        for p in predicted:
            sc = scores[p.type]
            if any(g.type == p.type and _overlaps(p, g) for g in item.spans):
                sc.tp += 1
            else:
                sc.fp += 1
                if len(sc.false_alarms) < 8:
                    sc.false_alarms.append(f"{item.text[p.start : p.end]!r} in {item.text[:120]!r}")
    return scores


# -- generated data ------------------------------------------------------------------------------------
# Sentence frames with and without a context word; {v} is the value, {label} names it.
_FRAMES_LABELLED = (
    "My {label} is {v}.",
    "{label}: {v}",
    "Please update the {label} on file to {v} before Friday.",
    "Can you check whether {v} is the right {label}?",
    "The {label} they gave me was {v}, but it did not work",
)
_FRAMES_PLAIN = (
    "{v}",
    "Please use {v} for this.",
    "Here it is: {v}",
    "I copied {v} from the old form, is that ok?",
    "Write a polite reply to the customer ({v}) about the delayed order",
)
_LABELS = {
    "EMAIL": ("email", "e-mail address", "contact"),
    "PHONE": ("phone number", "mobile", "number", "telephone"),
    "CREDIT_CARD": ("card number", "credit card", "Visa"),
    "IBAN": ("IBAN", "bank account", "account number"),
    "US_SSN": ("SSN", "social security number"),
    "IP_ADDRESS": ("IP address", "server address", "IP"),
    "BR_CPF": ("CPF",),
    "ES_NIF": ("DNI", "NIF"),
    "CA_SIN": ("SIN", "social insurance number"),
    "NL_BSN": ("BSN", "burgerservicenummer"),
}
_NEED_CONTEXT = frozenset({"CA_SIN", "NL_BSN"})
_PHONE_LOCALES = ("en_US", "en_GB", "fr_FR", "it_IT", "es_ES", "nl_NL", "en_AU", "en_CA", "sv_SE", "pt_PT")
_IBAN_LOCALES = ("de_DE", "fr_FR", "en_GB", "nl_NL", "es_ES", "it_IT", "pl_PL", "fi_FI")
_CARD_TYPES = (
    "visa13",
    "visa16",
    "visa19",
    "mastercard",
    "amex",
    "discover",
    "diners",
    "jcb15",
    "jcb16",
    "maestro",
)


def _values(fakers: Mapping[str, object], rng: random.Random) -> dict[str, Callable[[], str]]:
    f = fakers

    def card() -> str:
        number = f["en_US"].credit_card_number(rng.choice(_CARD_TYPES))  # type: ignore[attr-defined]
        if rng.random() < 0.3 and len(number) == 16:
            sep = rng.choice(" -")
            number = sep.join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban() -> str:
        value = f[rng.choice(_IBAN_LOCALES)].iban()  # type: ignore[attr-defined]
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.4 else value

    return {
        "EMAIL": lambda: rng.choice((f["en_US"].email, f["de_DE"].free_email, f["fr_FR"].company_email))(),  # type: ignore[attr-defined]
        "PHONE": lambda: f[rng.choice(_PHONE_LOCALES)].phone_number(),  # type: ignore[attr-defined]
        "CREDIT_CARD": card,
        "IBAN": iban,
        "US_SSN": lambda: f["en_US"].ssn(),  # type: ignore[attr-defined]
        "IP_ADDRESS": lambda: rng.choice(
            (f["en_US"].ipv4_public, f["en_US"].ipv4_private, f["en_US"].ipv6)
        )(),  # type: ignore[attr-defined]
        "BR_CPF": lambda: f["pt_BR"].cpf(),  # type: ignore[attr-defined]
        "ES_NIF": lambda: f["es_ES"].nif(),  # type: ignore[attr-defined]
        "CA_SIN": lambda: f["en_CA"].ssn(),  # type: ignore[attr-defined]
        "NL_BSN": lambda: f["nl_NL"].ssn(),  # type: ignore[attr-defined]
    }


def _negatives(f: object, rng: random.Random) -> list[Callable[[], str]]:
    """Things that look like PII to a careless detector."""
    return [
        lambda: f"ISBN {f.isbn13()}",  # type: ignore[attr-defined]
        lambda: f"ISBN {f.isbn10()}",  # type: ignore[attr-defined]
        lambda: f"request id {f.uuid4()}",  # type: ignore[attr-defined]
        lambda: f"on {f.date()} at {f.time()}",  # type: ignore[attr-defined]
        lambda: f"timestamp {f.iso8601()}",  # type: ignore[attr-defined]
        lambda: f"upgrade to version {rng.randint(0, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        lambda: f"order number {f.random_number(digits=rng.randint(6, 16), fix_len=True)}",  # type: ignore[attr-defined]
        lambda: f"barcode {f.ean13()}",  # type: ignore[attr-defined]
        lambda: f"commit {f.sha1()}",  # type: ignore[attr-defined]
        lambda: f"it costs ${rng.randint(1, 99999):,}.{rng.randint(0, 99):02d}",
        lambda: f"pi is about 3.{rng.randint(10**8, 10**9)}",
        lambda: (
            f"between {rng.randint(1900, 2030)} and {rng.randint(1900, 2030)} the population grew to {rng.randint(10**6, 10**9):,}"
        ),
        lambda: f"the postcode is {f.postcode()}",  # type: ignore[attr-defined]
        lambda: f"coordinates {f.latitude()}, {f.longitude()}",  # type: ignore[attr-defined]
        lambda: f"compute {rng.randint(100, 9999)} * {rng.randint(100, 9999)} + {rng.randint(100, 9999)}",
    ]


def generate_faker(n_per_type: int = 200, seed: int = 0, n_negatives: int = 1000) -> list[LabelledText]:
    """Labelled sentences around faker values for each type, plus `n_negatives` hard-negative sentences."""
    from faker import Faker

    rng = random.Random(seed)
    locales = (
        set(_PHONE_LOCALES) | set(_IBAN_LOCALES) | {"en_US", "de_DE", "pt_BR", "es_ES", "en_CA", "nl_NL"}
    )
    fakers = {loc: Faker(loc) for loc in sorted(locales)}
    for i, fk in enumerate(fakers.values()):
        fk.seed_instance(seed + i)
    out: list[LabelledText] = []
    for type_, make in _values(fakers, rng).items():
        for _ in range(n_per_type):
            value = make()
            # A bare digit run (a 9-digit BSN or SIN, an unformatted national phone number) is not
            # identifiable without a word saying what it is: those always get a labelled frame.
            bare = value.isdigit() and not value.startswith("0")
            labelled = type_ in _NEED_CONTEXT or (type_ == "PHONE" and bare) or rng.random() < 0.5
            frame = rng.choice(_FRAMES_LABELLED if labelled else _FRAMES_PLAIN)
            label = rng.choice(_LABELS[type_])
            head, _, tail = frame.partition("{v}")
            head, tail = head.format(label=label), tail.format(label=label)
            out.append(
                LabelledText(head + value + tail, (Span(type_, len(head), len(head) + len(value), 1.0),))
            )
    negatives = _negatives(fakers["en_US"], rng)
    for _ in range(n_negatives):
        out.append(LabelledText(rng.choice(negatives)(), ()))
    rng.shuffle(out)
    return out


# -- names and addresses -------------------------------------------------------------------------------
_ENTITY_FRAMES = (
    "Please ship the parcel to {name}, {address}.",
    "{name} lives at {address} and works from home.",
    "Dear {name}, the package for {address} is delayed by two days.",
    "My neighbour {name} moved to {address} last spring.",
    "Send the invoice to {address}, attention {name}.",
    "Can you tell {name} that the meeting is at {address}?",
    "The new tenant, {name}, signed the lease for {address}.",
    "I met {name} yesterday near {address}.",
)
_ENTITY_NEGATIVES = (
    "The Python Software Foundation released version 3.12 on Monday.",
    "We flew from New York to San Francisco with United Airlines.",
    "The Eiffel Tower is 330 metres tall.",
    "Will you open the Settings menu and press Save?",
    "In May the Golden Gate Bridge was closed for two days.",
    "Order 4471 ships in 3 boxes from warehouse 12.",
    "The Treaty of Versailles was signed in 1919.",
    "Apple and Microsoft reported earnings on Thursday.",
)
# Locales whose first names data/first_names.txt does not hold: the name finder has never seen them.
HELD_OUT_NAME_LOCALES = ("ro_RO", "tr_TR", "id_ID")
ADDRESS_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "nl_NL")


def generate_entities(n: int, seed: int = 0) -> list[LabelledText]:
    """`n` faker sentences labelled with a PERSON (names of held-out locales) and a STREET_ADDRESS (the
    street line, as redaction needs it), plus one negative (no person, no address) per four sentences."""
    from faker import Faker

    names = Faker(list(HELD_OUT_NAME_LOCALES), seed=seed)
    places = Faker(list(ADDRESS_LOCALES), seed=seed)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append(LabelledText(rng.choice(_ENTITY_NEGATIVES), ()))
            continue
        name, address = names.name(), places.street_address()
        frame = rng.choice(_ENTITY_FRAMES)
        text = frame.format(name=name, address=address)
        n_at, a_at = text.index(name), text.index(address)
        out.append(
            LabelledText(
                text,
                (
                    Span("PERSON", n_at, n_at + len(name), 1.0),
                    Span("STREET_ADDRESS", a_at, a_at + len(address), 1.0),
                ),
            )
        )
    return out


def char_scores(
    detect: Callable[[str], Sequence[Span]], data: Iterable[LabelledText], types: Iterable[str]
) -> dict[str, tuple[float, float]]:
    """(precision, recall) per type over characters: what a redaction removes against what it should."""
    tp = dict.fromkeys(types, 0)
    pred_n, gold_n = dict(tp), dict(tp)
    for item in data:
        for t in tp:
            gold = {i for s in item.spans if s.type == t for i in range(s.start, s.end)}
            pred = {i for s in detect(item.text) if s.type == t for i in range(s.start, s.end)}
            tp[t] += len(gold & pred)
            pred_n[t] += len(pred)
            gold_n[t] += len(gold)
    return {t: (tp[t] / pred_n[t] if pred_n[t] else 1.0, tp[t] / gold_n[t] if gold_n[t] else 1.0) for t in tp}
