"""/admin/api over real HTTP: the numbers match the decision log, keys see only what they may, bad queries get
OpenAI-style errors, and every answer matches the published OpenAPI description."""

from __future__ import annotations

import sqlite3
from collections import Counter

import httpx
import jsonschema
import pytest

from .conftest import KEYS, Site, start_site


def get(site: Site, path: str, key: str | None = "admin", **params) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS.get(key, key)}"} if key else {}
    return httpx.get(f"{site.url}/admin/api/{path}", headers=headers, params=params, timeout=10)


def rows(site: Site, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(site.db) as db:
        return db.execute(sql, args).fetchall()


def test_overview_holds_the_logs_numbers(site: Site) -> None:
    o = get(site, "overview", window=86400 * 2).json()
    served = dict(
        rows(site, "SELECT served_model, COUNT(*) FROM decisions WHERE served_model IS NOT NULL GROUP BY 1")
    )
    assert {s["model"]: s["requests"] for s in o["share"]} == served
    assert o["totals"]["requests"] == rows(site, "SELECT COUNT(*) FROM decisions")[0][0] == len(site.records)
    assert (o["totals"]["blocked"], o["totals"]["redacted"], o["totals"]["fallbacks"]) == (1, 1, 1)
    by_route = Counter(r or "(none)" for (r,) in rows(site, "SELECT route FROM decisions"))
    assert {k: sum(v) for k, v in o["series"]["by_route"].items()} == by_route
    assert {(g["rule"], g["action"], g["count"]) for g in o["guards"]} == {
        ("no-heists", "block", 1),
        ("private", "redact", 1),
    }
    # The seeded `smart` decisions carry predictions: chosen vs m2 (strongest, and the profile's first).
    seeded = [r for r in site.records if r.route == "smart"]
    chosen = sum(next(c["cost"] for c in r.candidates if c["model"] == r.chosen_model) for r in seeded)
    spend = o["spend"]
    assert spend["compared"] == 12
    assert spend["chosen_usd"] == pytest.approx(chosen)
    assert spend["strongest_usd"] == pytest.approx(12 * 0.003) == pytest.approx(spend["first_usd"])
    assert spend["saving_vs_strongest"] == pytest.approx(1 - chosen / 0.036)
    assert spend["actual_usd"] == pytest.approx(
        sum(c for (c,) in rows(site, "SELECT cost_usd FROM decisions") if c)
    )
    m1 = next(x for x in o["latency"] if x["backend"] == "m1")
    assert m1["requests"] == served["m1"]
    assert next(x for x in o["latency"] if x["backend"] == "m0")["failures"] == 1  # the injected 500


def test_a_tenants_key_sees_only_its_tenant(site: Site) -> None:
    acme = get(site, "overview", key="acme", window=86400 * 2).json()
    assert acme["tenants"] == ["acme"]
    assert (
        acme["totals"]["requests"] == rows(site, "SELECT COUNT(*) FROM decisions WHERE tenant = 'acme'")[0][0]
    )
    listed = get(site, "requests", key="acme", limit=500).json()["data"]
    assert listed and {r["tenant"] for r in listed} == {"acme"}
    other = get(site, "overview", key="acme", tenant="globex")
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden_tenant"
    theirs = next(r.request_id for r in site.records if r.tenant == "globex")
    assert get(site, f"requests/{theirs}", key="acme").status_code == 404  # not even its existence
    assert get(site, f"requests/{theirs}", key="globex").json()["tenant"] == "globex"
    admin = get(site, "overview", window=86400 * 2).json()
    assert admin["tenants"] == ["acme", "globex"]
    assert get(site, "whoami", key="acme").json() == {
        "auth": True,
        "admin": False,
        "key_id": "acme",
        "tenant": "acme",
    }


def test_explorer_filters_and_one_decision(site: Site) -> None:
    blocked = get(site, "requests", action="block").json()["data"]
    assert [r["decision"] for r in blocked] == ["no-heists"] and blocked[0]["status"] == 400
    on_m2 = get(site, "requests", model="m2", tenant="globex", limit=500).json()["data"]
    expect = rows(site, "SELECT COUNT(*) FROM decisions WHERE tenant='globex' AND served_model='m2'")[0][0]
    assert len(on_m2) == expect and all(r["served_model"] == "m2" for r in on_m2)
    fell = next(r for r in site.records if r.fallbacks)
    one = get(site, f"requests/{fell.request_id}").json()
    assert (
        one["fallbacks"][0]["model"] == "m0" and one["served_model"] == "m1" and one["chosen_model"] == "m0"
    )
    assert one["signals"] is not None and one["cost_usd"] == pytest.approx(fell.cost_usd)


@pytest.mark.parametrize(
    ("path", "key", "params", "status", "code"),
    [
        ("overview", None, {}, 401, "missing_api_key"),
        ("overview", "pm-not-a-key", {}, 401, "invalid_api_key"),
        ("overview", "admin", {"since": "yesterday"}, 400, "invalid_type"),
        ("overview", "admin", {"window": "nan"}, 400, "invalid_type"),
        ("requests", "admin", {"limit": "0"}, 400, "invalid_value"),
        ("requests", "admin", {"limit": "9999"}, 400, "invalid_value"),
        ("requests", "admin", {"action": "explode"}, 400, "invalid_value"),
        ("requests/req_nope", "admin", {}, 404, "not_found"),
    ],
)
def test_bad_queries_get_clear_errors(
    site: Site, path: str, key: str | None, params: dict, status: int, code: str
) -> None:
    r = get(site, path, key=key, **params)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"]


def test_answers_match_the_openapi_description(site: Site) -> None:
    spec = httpx.get(site.url + "/admin/api/openapi.json").json()
    schemas = {"components": spec["components"]}

    def check(path: str, response: httpx.Response) -> None:
        schema = spec["paths"][path]["get"]["responses"][str(response.status_code)]["content"][
            "application/json"
        ]["schema"]
        jsonschema.validate(response.json(), {**schema, **schemas})

    check("/admin/api/overview", get(site, "overview"))
    check("/admin/api/requests", get(site, "requests"))
    check("/admin/api/requests/{request_id}", get(site, f"requests/{site.records[0].request_id}"))
    check("/admin/api/whoami", get(site, "whoami"))
    check("/admin/api/backends", get(site, "backends"))
    check("/admin/api/overview", get(site, "overview", key=None))


def test_with_auth_off_the_console_is_open_and_shows_everything(tmp_path, ups) -> None:
    s = start_site(tmp_path, ups, auth=False)
    try:
        assert get(s, "whoami", key=None).json() == {
            "auth": False,
            "admin": True,
            "key_id": None,
            "tenant": None,
        }
        assert get(s, "overview", key=None).json()["totals"]["requests"] == len(s.records)
        page = httpx.get(s.url + "/dashboard")
        assert page.status_code == 200 and 'data-auth="off"' in page.text
    finally:
        s.gw.stop()
