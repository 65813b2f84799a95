"""Loaders for the signal/guard text sets (jailbreak, harmful, out-of-domain), read in place.

Each loader returns a `TextSet`: texts with one label and one source tag per row. Files are read from a
data root laid out as `../shared/data` (see its guard/README.md); a missing or malformed file raises
`DataFormatError` naming the file, the row and what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from pointsman.data.dataset import normalize_prompt
from pointsman.data.errors import DataFormatError, iter_jsonl, read_json

#: Environment variable naming the data root (a path, so allowed by the design's config rule).
DATA_ENV = "POINTSMAN_DATA"
JACKHHAO_LABELS = ("benign", "jailbreak")


@dataclass
class TextSet:
    """Rows of (text, label, source). `source` says where a row came from, e.g. "jackhhao/train"."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not len(self.texts) == len(self.labels) == len(self.sources):
            raise ValueError("texts, labels and sources must have the same length")

    @classmethod
    def of(cls, texts: Iterable[str], label: str, source: str) -> TextSet:
        texts = list(texts)
        return cls(texts, [label] * len(texts), [source] * len(texts))

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: TextSet) -> TextSet:
        return TextSet(self.texts + other.texts, self.labels + other.labels, self.sources + other.sources)

    @staticmethod
    def concat(parts: Iterable[TextSet]) -> TextSet:
        out = TextSet()
        for part in parts:
            out = out + part
        return out

    def subset(self, rows: Iterable[int]) -> TextSet:
        rows = list(rows)
        return TextSet(
            [self.texts[i] for i in rows], [self.labels[i] for i in rows], [self.sources[i] for i in rows]
        )

    def where(self, keep: Callable[[str, str, str], bool]) -> TextSet:
        """Rows for which keep(text, label, source) is true."""
        return self.subset(
            i for i in range(len(self)) if keep(self.texts[i], self.labels[i], self.sources[i])
        )

    def relabel(self, label: str) -> TextSet:
        return TextSet(list(self.texts), [label] * len(self), list(self.sources))

    def keys(self) -> list[str]:
        return [normalize_prompt(t) for t in self.texts]

    def deduplicate(self) -> TextSet:
        """First row of each normalised text (whitespace-normalised, lower-cased)."""
        seen: set[str] = set()
        keep = []
        for i, key in enumerate(self.keys()):
            if key not in seen:
                seen.add(key)
                keep.append(i)
        return self.subset(keep)

    def without(self, other: TextSet | Iterable[str]) -> TextSet:
        """Rows whose normalised text does not occur in `other` (drops train/test overlap)."""
        texts = other.texts if isinstance(other, TextSet) else other
        banned = {normalize_prompt(t) for t in texts}
        return self.subset(i for i, k in enumerate(self.keys()) if k not in banned)

    def split(self, test_fraction: float, salt: str = "") -> tuple[TextSet, TextSet]:
        """(train, test) by a hash of the normalised text: stable across runs and machines, and a text
        (or a normalised duplicate of it) is never on both sides."""
        test = [_hash01(k, salt) < test_fraction for k in self.keys()]
        return self.subset(i for i, t in enumerate(test) if not t), self.subset(
            i for i, t in enumerate(test) if t
        )

    def sample(self, n: int, seed: int = 0) -> TextSet:
        """At most `n` rows drawn without replacement (all rows, in order, when there are fewer)."""
        if n >= len(self):
            return self
        return self.subset(sorted(random.Random(seed).sample(range(len(self)), n)))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label in self.labels:
            out[label] = out.get(label, 0) + 1
        return out


def _hash01(key: str, salt: str) -> float:
    """A stable pseudo-random number in [0, 1) for `key`."""
    return int.from_bytes(hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest(), "big") / 2**64


# -- where the data lives ---------------------------------------------------------------------------------


def default_data_root() -> Path:
    """`$POINTSMAN_DATA` if set, else the `shared/data` folder beside the checkout."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[4] / "shared" / "data"


def guard_root(root: str | Path | None = None) -> Path:
    """The `guard/` folder under a data root, with a clear error when it is not there."""
    base = Path(root) if root is not None else default_data_root()
    guard = base / "guard"
    if not guard.is_dir():
        raise FileNotFoundError(
            f"guard data not found at {guard}: pass the data root (the folder holding guard/ and llmrouter/) "
            f"or set ${DATA_ENV}"
        )
    return guard


# -- file readers with row-level errors ---------------------------------------------------------------------


def iter_csv(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each CSV row; the header must hold `columns`, each row a text in each."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such file") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"byte {exc.start}", "not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise DataFormatError(path, "header", f"missing column(s) {missing}; found {reader.fieldnames}")
    for row in reader:
        where = f"line {reader.line_num}"
        for col in columns:
            if row.get(col) is None:
                raise DataFormatError(path, where, f"row has too few fields (no {col!r})")
        yield reader.line_num, row


def _json_rows(path: Path, what: str) -> list[Any]:
    rows = read_json(path)
    if not isinstance(rows, list):
        raise DataFormatError(path, "top level", f"expected a JSON list of {what}, got {type(rows).__name__}")
    return rows


def _text(path: Path, where: str, value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(path, where, f"{name}: expected a non-empty string, got {value!r:.60}")
    return value


def _field(path: Path, i: int, row: Any, name: str) -> str:
    if not isinstance(row, dict):
        raise DataFormatError(path, f"row {i}", f"expected an object with {name!r}, got {type(row).__name__}")
    if name not in row:
        raise DataFormatError(path, f"row {i}", f"missing field {name!r}")
    return _text(path, f"row {i}", row[name], name)


# -- jailbreak / harmful -------------------------------------------------------------------------------------


def load_jackhhao(split: str = "train", root: str | Path | None = None, variant: str = "default") -> TextSet:
    """jackhhao/llm-warden prompts labelled "benign" or "jailbreak" (split: train, test or full)."""
    suffix = "" if variant == "default" else f"_{variant}"
    if split not in ("train", "test", "full"):
        raise ValueError(f"jackhhao split {split!r}: expected train, test or full")
    path = guard_root(root) / "jailbreak" / "jackhhao" / variant / f"jailbreak_dataset_{split}{suffix}.csv"
    out = TextSet()
    for line, row in iter_csv(path, ("prompt", "type")):
        label = row["type"].strip()
        if label not in JACKHHAO_LABELS:
            raise DataFormatError(path, f"line {line}", f"type {label!r}: expected one of {JACKHHAO_LABELS}")
        out.texts.append(_text(path, f"line {line}", row["prompt"], "prompt"))
        out.labels.append(label)
        out.sources.append(f"jackhhao/{split}")
    return out


def jackhhao_splits(root: str | Path | None = None) -> tuple[TextSet, TextSet]:
    """(train, test): each de-duplicated, and train without the prompts that also occur in test."""
    test = load_jackhhao("test", root).deduplicate()
    train = load_jackhhao("train", root).deduplicate().without(test)
    return train, test


def load_harmful(split: str = "train", root: str | Path | None = None) -> TextSet:
    """Harmful instructions (refusal_direction's harmful_{train,val,test}.json), label "harmful"."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"harmful split {split!r}: expected train, val or test")
    path = guard_root(root) / "jailbreak" / "harmful_behaviors" / f"harmful_{split}.json"
    texts = [_field(path, i, row, "instruction") for i, row in enumerate(_json_rows(path, "instructions"))]
    return TextSet.of(texts, "harmful", f"harmful/{split}")


# -- out-of-domain pools -----------------------------------------------------------------------------------


def load_clinc(split: str = "train", root: str | Path | None = None) -> TextSet:
    """CLINC150 rows labelled with their CLINC domain ("banking", "travel", ...) or "oos".

    split: train, val or test (in-scope) or oos_train, oos_val, oos_test (out-of-scope).
    """
    folder = guard_root(root) / "ood" / "clinc150"
    data_path, domains_path = folder / "data_full.json", folder / "domains.json"
    data = read_json(data_path)
    if not isinstance(data, dict) or split not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataFormatError(data_path, "top level", f"no split {split!r} (found {keys})")
    domain_of = clinc_domains(domains_path)
    out = TextSet()
    for i, row in enumerate(data[split]):
        where = f"{split}[{i}]"
        if not (isinstance(row, list) and len(row) == 2):
            raise DataFormatError(data_path, where, f"expected [text, intent], got {row!r:.80}")
        text, intent = _text(data_path, where, row[0], "text"), _text(data_path, where, row[1], "intent")
        if intent != "oos" and intent not in domain_of:
            raise DataFormatError(data_path, where, f"intent {intent!r} is in no domain of {domains_path}")
        out.texts.append(text)
        out.labels.append("oos" if intent == "oos" else domain_of[intent])
        out.sources.append(f"clinc/{split}")
    return out


def clinc_domains(path: Path) -> dict[str, str]:
    """intent -> domain from CLINC's domains.json ({domain: [intent, ...]})."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataFormatError(path, "top level", f"expected {{domain: [intents]}}, got {type(raw).__name__}")
    out = {}
    for domain, intents in raw.items():
        if not isinstance(intents, list) or not all(isinstance(x, str) for x in intents):
            raise DataFormatError(path, f"domain {domain!r}", "expected a list of intent names")
        out.update(dict.fromkeys(intents, domain))
    return out


def load_banking77(split: str = "train", root: str | Path | None = None) -> TextSet:
    """Banking77 customer queries, label "banking" (the 77 intents are kept out: one domain here)."""
    if split not in ("train", "test"):
        raise ValueError(f"banking77 split {split!r}: expected train or test")
    path = guard_root(root) / "ood" / "banking77" / f"{split}.csv"
    texts = [
        _text(path, f"line {line}", row["text"], "text") for line, row in iter_csv(path, ("text", "category"))
    ]
    return TextSet.of(texts, "banking", f"banking77/{split}")


def load_medquad(split: str = "all", root: str | Path | None = None, test_fraction: float = 0.2) -> TextSet:
    """MedQuAD's unique health questions, label "health".

    split "train"/"test" is grouped by the question's focus (the disease or drug asked about): MedQuAD asks
    the same templated questions of each focus, so a focus never appears on both sides.
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"medquad split {split!r}: expected all, train or test")
    path = guard_root(root) / "ood" / "medquad" / "medquad_questions.csv"
    out, seen = TextSet(), set()
    for line, row in iter_csv(path, ("question", "focus")):
        text = _text(path, f"line {line}", row["question"], "question")
        if text in seen:
            continue
        seen.add(text)
        if split == "all" or (_hash01(normalize_prompt(row["focus"]), "medquad") < test_fraction) == (
            split == "test"
        ):
            out.texts.append(text)
            out.labels.append("health")
            out.sources.append(f"medquad/{split}")
    return out


def load_webquestions(split: str = "train", root: str | Path | None = None) -> TextSet:
    """WebQuestions factoid questions, label "open_domain".

    split: train (trainmodel + val + devtest) or test."""
    folder = guard_root(root) / "ood" / "webquestions"
    files = {"train": ("trainmodel", "val", "devtest"), "test": ("test",)}.get(split)
    if files is None:
        raise ValueError(f"webquestions split {split!r}: expected train or test")
    texts = []
    for name in files:
        path = folder / f"{name}.json"
        texts += [_field(path, i, row, "qText") for i, row in enumerate(_json_rows(path, "questions"))]
    return TextSet.of(texts, "open_domain", f"webquestions/{split}")


def load_llmrouter_prompts(root: str | Path | None = None) -> TextSet:
    """LLMRouter's task prompts (both query files), labelled with their task name."""
    folder = Path(root) / "llmrouter" if root is not None else default_data_root() / "llmrouter"
    out = TextSet()
    for name in ("default_query_train.jsonl", "default_query_test.jsonl"):
        path = folder / name
        for line, obj in iter_jsonl(path):
            out.texts.append(_text(path, f"line {line}", obj.get("query"), "query"))
            out.labels.append(_text(path, f"line {line}", obj.get("task_name"), "task_name"))
            out.sources.append("llmrouter")
    return out.deduplicate()


# -- user example files --------------------------------------------------------------------------------


def load_examples(
    path: str | Path, label: str | None = None, text_field: str = "text", label_field: str = "label"
) -> TextSet:
    """Labelled examples a user provides: .txt (one text a line, needs `label`), .csv, .jsonl or .json.

    CSV/JSON(L) rows carry `text_field` and, unless `label` is given, `label_field`.
    """
    path = Path(path)
    source = f"file:{path.name}"
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if label is None:
            raise ValueError(f"{path}: a .txt example file needs a label (one text a line, no label column)")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise DataFormatError(path, None, "no such file") from None
        except UnicodeDecodeError as exc:
            raise DataFormatError(path, f"byte {exc.start}", "not UTF-8 text") from None
        out = TextSet.of([ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")], label, source)
    elif suffix == ".csv":
        cols = (text_field,) if label else (text_field, label_field)
        rows = [(f"line {ln}", r) for ln, r in iter_csv(path, cols)]
        out = _rows_to_set(path, rows, label, text_field, label_field, source)
    elif suffix in (".jsonl", ".ndjson"):
        rows = [(f"line {ln}", r) for ln, r in iter_jsonl(path)]
        out = _rows_to_set(path, rows, label, text_field, label_field, source)
    elif suffix == ".json":
        rows = [(f"row {i}", r) for i, r in enumerate(_json_rows(path, "example objects"))]
        for where, r in rows:
            if not isinstance(r, dict):
                raise DataFormatError(path, where, f"expected an object, got {type(r).__name__}")
        out = _rows_to_set(path, rows, label, text_field, label_field, source)
    else:
        raise ValueError(f"{path}: unknown example file type {suffix!r}; use .txt, .csv, .jsonl or .json")
    if not out:
        raise DataFormatError(path, None, "no examples in this file")
    return out


def _rows_to_set(
    path: Path,
    rows: list[tuple[str, dict]],
    label: str | None,
    text_field: str,
    label_field: str,
    source: str,
) -> TextSet:
    out = TextSet()
    for where, row in rows:
        if text_field not in row:
            raise DataFormatError(path, where, f"missing field {text_field!r}")
        out.texts.append(_text(path, where, row[text_field], text_field))
        if label is None:
            if label_field not in row:
                raise DataFormatError(path, where, f"missing field {label_field!r}")
            out.labels.append(_text(path, where, row[label_field], label_field))
        else:
            out.labels.append(label)
        out.sources.append(source)
    return out
