"""The gateway writing its decision log to a real PostgreSQL server."""

from __future__ import annotations

import openai
import pytest
import yaml
from gateway.servers import UpstreamThread, backends_yaml, wait_for_rows

from pointsman.config.loader import parse_config
from pointsman.gateway.server import BackgroundGateway

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg 3 is not installed (pip install 'pointsman[postgres]')"
)


def test_gateway_logs_to_postgres(postgres_dsn, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("POINTSMAN_POSTGRES_DSN", postgres_dsn)
    with psycopg.connect(postgres_dsn, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS decisions")
    up = UpstreamThread()
    try:
        cfg = parse_config(
            yaml.safe_dump(
                {
                    "server": {"port": 0},
                    "backends": backends_yaml([up]),
                    "profiles": [{"name": "p", "candidates": ["m0"]}],
                    "store": {"kind": "postgres", "flush_interval": 0.05, "log_content": True},
                }
            ),
            base_dir=tmp_path,
        )
        with BackgroundGateway(cfg) as gw:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
            reply = client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "pg?"}]
            )
            rows = wait_for_rows(gw, 1)
        assert len(rows) == 1
        row = rows[0]
        assert row.route == "p" and row.served_model == "m0" and row.status == 200
        assert row.content == {"messages": [{"role": "user", "content": "pg?"}], "response": "You said: pg?"}
        assert row.prompt_hash and row.completion_tokens == reply.usage.completion_tokens
    finally:
        up.close()
