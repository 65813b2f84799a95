"""Download public routing datasets into a local directory, only when asked (`pointsman data fetch`).

Each file is streamed to `NAME.part`, checked (size, and sha256 where the registry pins it) and only then
renamed into place, so an interrupted or corrupt download never looks like data. Files already present
with the right checksum are not downloaded again.

Registry:
  routerbench-0shot / routerbench-5shot: RouterBench (withmartian/routerbench on the Hugging Face Hub), one
      pandas pickle each. The Hub does not pin a checksum we can know offline, so the size is checked against
      Content-Length and the sha256 is printed and written to SHA256SUMS. Pickles run code when read.
  llmrouter / routeprofile: the exact files pointsman is developed and tested on, pinned by sha256 and
      size. Their upstream repositories move files between commits, so no public address is pinned: pass
      --base-url with a mirror holding the files under these names.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
USER_AGENT = "pointsman-data-fetch"


class FetchError(RuntimeError):
    """A download that failed or did not verify; says which URL or file and why."""


@dataclass(frozen=True)
class RemoteFile:
    name: str  # path under the base URL, also the local file name
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class RemoteDataset:
    name: str
    files: tuple[RemoteFile, ...]
    base_url: str | None  # None: no public address is pinned, a mirror must be given
    licence: str
    description: str


# sha256, size, name: the files pointsman is developed and tested on (../shared/data).
LLMROUTER_FILES = """
ad3ae70149998f02cbf0dd4557ccb6afcf365ac9391b7371329ffc22201e90e3 4018466 dcrouter_train.json
fbb6d3e3f62c7018e5446d3154cc05812d3124381f774738e9f0bac5bff79c79 361757 dcrouter_test.json
278f790564efd758ab28a9b6ce141d3fa057219de9bad40b31562c4286549552 6904 default_llm.json
f1b2e3281dc3f9e082016812e1a778ca30e9828c7e58fa0a9f6dc52350ad4b8c 3519579 default_query_train.jsonl
0fdf4b4236fb81c1a673a01950fb974e02599c83164b0e7832888aefaa490e27 405273 default_query_test.jsonl
"""
ROUTEPROFILE_FILES = """
45394440924d7a83f454022f42e57e6eda80ff10663e59442c0fc579fa68220b 4098316 routing_test_data.json
047e7fd312e61eafba630aa417c3818f7082f850c8c87c83d4db161802e226c1 7934 candidate_models.json
"""
ROUTERBENCH_URL = "https://huggingface.co/datasets/withmartian/routerbench/resolve/main"


def _pinned(manifest: str) -> tuple[RemoteFile, ...]:
    rows = (line.split() for line in manifest.strip().splitlines())
    return tuple(RemoteFile(name, sha, int(size)) for sha, size, name in rows)


DATASETS: dict[str, RemoteDataset] = {
    d.name: d
    for d in (
        RemoteDataset(
            "routerbench-0shot",
            (RemoteFile("routerbench_0shot.pkl"),),
            ROUTERBENCH_URL,
            "MIT (withmartian/routerbench)",
            "RouterBench, 0-shot: ~36k prompts x 11 models, scores and total cost (pandas pickle)",
        ),
        RemoteDataset(
            "routerbench-5shot",
            (RemoteFile("routerbench_5shot.pkl"),),
            ROUTERBENCH_URL,
            "MIT (withmartian/routerbench)",
            "RouterBench, 5-shot prompts (pandas pickle)",
        ),
        RemoteDataset(
            "llmrouter",
            _pinned(LLMROUTER_FILES),
            None,
            "MIT (ulab-uiuc/LLMRouter)",
            "LLMRouter dcrouter data: 6,108 prompts x 9 models, tasks and prices",
        ),
        RemoteDataset(
            "routeprofile",
            _pinned(ROUTEPROFILE_FILES),
            None,
            "MIT (ulab-uiuc/RouteProfile)",
            "RouteProfile: 600 prompts x 8 models with real responses and token counts",
        ),
    )
}


def fetch_dataset(
    name: str, dest: str | Path, *, base_url: str | None = None, progress: bool = True, timeout: float = 60.0
) -> list[Path]:
    """Download dataset `name` into `dest`; returns the local paths. Raises FetchError."""
    if name not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    base = (base_url or spec.base_url or "").rstrip("/")
    if not base:
        raise FetchError(
            f"{name}: no public address is pinned for these files; pass a mirror with --base-url"
        )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    with _progress(progress) as bar:
        for remote in spec.files:
            target = dest / remote.name
            if remote.sha256 and target.is_file() and _sha256(target) == remote.sha256:
                paths.append(target)
                continue
            digest = _download(f"{base}/{remote.name}", target, remote, bar, timeout)
            if remote.sha256 is None:
                with open(dest / "SHA256SUMS", "a", encoding="utf-8") as fh:
                    fh.write(f"{digest}  {remote.name}\n")
            paths.append(target)
    return paths


def _download(url: str, target: Path, remote: RemoteFile, bar, timeout: float) -> str:
    part = target.with_name(target.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp, open(part, "wb") as out:
            announced = int(resp.headers.get("Content-Length") or 0) or None
            expected = remote.size or announced
            task = bar.add_task(remote.name, total=expected) if bar else None
            sha, got = hashlib.sha256(), 0
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                sha.update(chunk)
                got += len(chunk)
                if bar:
                    bar.update(task, advance=len(chunk))
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    digest = sha.hexdigest()
    problem = None
    if expected is not None and got != expected:
        problem = f"got {got} bytes, expected {expected}"
    elif remote.sha256 is not None and digest != remote.sha256:
        problem = f"sha256 {digest}, expected {remote.sha256}"
    if problem:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: {problem}; nothing was saved")
    os.replace(part, target)
    return digest


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


@contextmanager
def _progress(enabled: bool) -> Iterator:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()
    ) as bar:
        yield bar
