"""The download helper against a real local HTTP server serving real files."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pointsman.data import load_dataset
from pointsman.data.fetch import DATASETS, FetchError, fetch_dataset


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """serve(directory) -> base URL of a real HTTP server on a free local port."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _mirror(tmp_path: Path, source: Path, names: list[str]) -> Path:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in names:
        (mirror / name).symlink_to(source / name)
    return mirror


def test_fetch_llmrouter_from_a_mirror_verifies_and_loads(tmp_path: Path, shared_data: Path, serve):
    names = [f.name for f in DATASETS["llmrouter"].files]
    base = serve(_mirror(tmp_path, shared_data / "llmrouter", names))
    paths = fetch_dataset("llmrouter", tmp_path / "out", base_url=base, progress=False)
    assert [p.name for p in paths] == names
    assert not list((tmp_path / "out").glob("*.part"))
    assert load_dataset(tmp_path / "out").n_prompts == 5989
    before = {p: p.stat().st_mtime_ns for p in paths}
    fetch_dataset("llmrouter", tmp_path / "out", base_url=base, progress=False)  # verified copies are kept
    assert {p: p.stat().st_mtime_ns for p in paths} == before


def test_corrupt_file_is_rejected_and_not_saved(tmp_path: Path, shared_data: Path, serve):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    good = (shared_data / "routeprofile" / "candidate_models.json").read_bytes()
    (mirror / "candidate_models.json").write_bytes(good.replace(b"0.2", b"0.3", 1))  # same size, other bytes
    (mirror / "routing_test_data.json").symlink_to(shared_data / "routeprofile" / "routing_test_data.json")
    with pytest.raises(
        FetchError, match=r"candidate_models.json: sha256 .* expected 047e7fd3.*nothing was saved"
    ):
        fetch_dataset("routeprofile", tmp_path / "out", base_url=serve(mirror), progress=False)
    assert not (tmp_path / "out" / "candidate_models.json").exists()
    assert not list((tmp_path / "out").glob("*.part"))


def test_truncated_file_is_rejected(tmp_path: Path, shared_data: Path, serve):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "routing_test_data.json").write_bytes(b"[]")
    with pytest.raises(FetchError, match="got 2 bytes, expected 4098316"):
        fetch_dataset("routeprofile", tmp_path / "out", base_url=serve(mirror), progress=True)


def test_unpinned_file_records_its_checksum(tmp_path: Path, serve):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "routerbench_0shot.pkl").write_bytes(b"x" * 3000)
    (path,) = fetch_dataset("routerbench-0shot", tmp_path / "out", base_url=serve(mirror), progress=False)
    assert path.read_bytes() == b"x" * 3000
    sums = (tmp_path / "out" / "SHA256SUMS").read_text()
    assert sums.endswith("  routerbench_0shot.pkl\n") and len(sums.split()[0]) == 64


def test_errors_name_the_url(tmp_path: Path, serve):
    base = serve(tmp_path)
    with pytest.raises(FetchError, match=r"/routerbench_5shot.pkl: HTTP 404"):
        fetch_dataset("routerbench-5shot", tmp_path / "out", base_url=base, progress=False)
    with pytest.raises(FetchError, match="unknown dataset 'nope'"):
        fetch_dataset("nope", tmp_path)
    with pytest.raises(FetchError, match="pass a mirror with --base-url"):
        fetch_dataset("llmrouter", tmp_path)
    with pytest.raises(FetchError, match="127.0.0.1:9"):
        fetch_dataset("routerbench-0shot", tmp_path / "out", base_url="http://127.0.0.1:9", progress=False)
