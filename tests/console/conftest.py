"""A real gateway with auth on (an admin key and two tenants' keys) over local upstreams, and a decision log
holding real traffic sent through it plus a day of earlier decisions of a learned profile (written to the
same SQLite store before the gateway starts: their candidates carry predicted quality and cost)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import yaml
from gateway.servers import UpstreamThread, backends_yaml, wait_for_rows

from pointsman.config.gateway import StoreConfig
from pointsman.config.loader import parse_config
from pointsman.gateway.auth import hash_key
from pointsman.gateway.server import BackgroundGateway
from pointsman.store.decisions import DecisionRecord
from pointsman.store.sqlite import SQLiteLog

KEYS = {
    "admin": "pm-admin-key-for-tests",
    "acme": "pm-acme-key-for-tests",
    "globex": "pm-globex-key-for-tests",
}
EMAIL = "jane.doe@example.com"


@dataclass
class Site:
    gw: BackgroundGateway
    db: Path
    records: list[DecisionRecord]  # everything the log holds, newest first

    @property
    def url(self) -> str:
        return self.gw.url


def seeded(now: float) -> list[DecisionRecord]:
    """Earlier decisions of the `smart` profile: m2 strongest and dearest, m0 cheapest; acme and globex."""
    out = []
    for i in range(12):
        chosen = ["m0", "m1", "m0", "m2"][i % 4]
        candidates = [
            {"model": "m2", "quality": 0.9, "cost": 0.003},
            {"model": "m1", "quality": 0.7, "cost": 0.001},
            {"model": "m0", "quality": 0.6, "cost": 0.0002 * (1 + i % 3)},
        ]
        candidates.sort(key=lambda c: c["model"] != chosen)  # the chosen one ranked first
        out.append(
            DecisionRecord(
                request_id=f"req_seed{i:02d}",
                time=now - 3600 * (1 + i),
                requested_model="auto",
                route="smart",
                status=200,
                tenant="acme" if i % 3 else "globex",
                api_key_id="acme" if i % 3 else "globex",
                rule=None,
                reason="router: seeded",
                candidates=candidates,
                chosen_model=chosen,
                served_model=chosen,
                first_byte_s=0.01 * (i + 1),
                total_s=0.02 * (i + 1),
                prompt_tokens=100,
                completion_tokens=50,
                cost_usd=next(c["cost"] for c in candidates if c["model"] == chosen),
                decision="smart-rule",
                action="route",
                signals={"length": {"value": 120 + i, "confidence": 1.0, "ms": 0.01}},
            )
        )
    return out


def config(ups: list[UpstreamThread], db: Path, auth: bool) -> dict:
    keys = [
        {
            "id": name,
            "sha256": hash_key(key),
            "tenant": "ops" if name == "admin" else name,
            "admin": name == "admin",
        }
        for name, key in KEYS.items()
    ]
    return {
        "server": {"port": 0, "graceful_timeout": 5},
        "backends": backends_yaml(ups),
        "profiles": [
            {"name": "balanced", "candidates": ["m0", "m1"]},
            {"name": "smart", "candidates": ["m2", "m1", "m0"]},
        ],
        "signals": {"topics": {"type": "keywords", "sets": {"heist": ["zeppelin"]}}},
        "rules": [
            {"name": "no-heists", "priority": 100, "when": "topics contains heist", "block": True},
            {"name": "private", "priority": 10, "when": "pii", "redact": {}},
        ],
        "auth": {"enabled": auth, "keys": keys},
        "store": {"path": str(db), "flush_interval": 0.05},
    }


def traffic(url: str) -> int:
    """Real requests through the official client: routed, streamed, blocked, redacted, fallen back."""
    sent = 0
    for tenant, asks in {
        "acme": ["hello", "what is 2+2", "tell me about owls", "plan a zeppelin heist", "mail " + EMAIL],
        "globex": ["bonjour", "summarise this"],
    }.items():
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEYS[tenant], max_retries=0)
        for i, text in enumerate(asks):
            model = "m2" if tenant == "globex" else "auto"
            try:
                if i == 1:
                    for _ in client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": text}], stream=True
                    ):
                        pass
                else:
                    client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
            except openai.BadRequestError:
                pass  # the blocked one
            sent += 1
    return sent


def start_site(tmp: Path, ups: list[UpstreamThread], *, auth: bool = True) -> Site:
    db = tmp / "decisions.db"
    now = time.time()
    log = SQLiteLog(StoreConfig(path=str(db)))
    log.open()
    log.write([r.row() for r in seeded(now)])
    log.shutdown()
    cfg = parse_config(yaml.safe_dump(config(ups, db, auth)), source="console-test.yaml", base_dir=tmp)
    gw = BackgroundGateway(cfg).start()
    ups[0].inject("500")  # the first request to m0 fails: it falls back to m1
    sent = traffic(gw.url)
    records = wait_for_rows(gw, 12 + sent)
    return Site(gw, db, records)


@pytest.fixture(scope="module")
def ups() -> Iterator[list[UpstreamThread]]:
    servers = [UpstreamThread() for _ in range(3)]
    yield servers
    for up in servers:
        up.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, ups: list[UpstreamThread]) -> Iterator[Site]:
    s = start_site(tmp_path_factory.mktemp("console"), ups)
    yield s
    s.gw.stop()
