"""The dashboard in a real browser (headless Chromium over the DevTools protocol): no console errors, charts
drawn from the numbers the log holds, working filters and decision view, the login view without a key, a
lab report opened from a file."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pointsman.testing.browser import Browser, ensure_chromium

from .conftest import KEYS, Site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = ensure_chromium()
    if path is None:
        pytest.skip("chromium is not installed and cannot be (apt-get install chromium needs root)")
    with Browser(path) as b:
        yield b


def sign_in(b: Browser, site: Site, key: str) -> None:
    b.goto(site.url + "/dashboard")
    b.evaluate("sessionStorage.clear()")
    b.goto(site.url + "/dashboard")
    b.wait_for("document.body.dataset.view === 'login'")
    b.evaluate(
        f"document.getElementById('key').value = {KEYS[key]!r}; document.getElementById('login-form').requestSubmit()"
    )
    b.wait_for("document.body.dataset.view === 'dashboard'")


def chart(b: Browser, name: str) -> dict:
    return b.evaluate(
        f"(() => {{ const c = Chart.getChart('chart-{name}'); return {{labels: c.data.labels, "
        f"datasets: c.data.datasets.map(d => ({{label: d.label, data: d.data}}))}}; }})()"
    )


def kpi(b: Browser, label: str) -> str:
    return b.evaluate(f"document.querySelector('[data-kpi=\"{label}\"] b').textContent")


def table(b: Browser, selector: str) -> list[list[str]]:
    return b.evaluate(
        f"[...document.querySelectorAll('{selector} tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))"
    )


def count(site: Site, sql: str) -> list[tuple]:
    with sqlite3.connect(site.db) as db:
        return db.execute(sql).fetchall()


def test_without_a_key_the_login_view_and_nothing_else(browser: Browser, site: Site) -> None:
    browser.errors.clear()
    browser.goto(site.url + "/dashboard")
    browser.evaluate("sessionStorage.clear()")
    browser.goto(site.url + "/dashboard")
    browser.wait_for("document.body.dataset.view === 'login'")
    assert browser.evaluate(
        "document.getElementById('dashboard').hidden && !document.getElementById('login').hidden"
    )
    assert browser.evaluate("document.getElementById('requests').tBodies[0].rows.length") == 0
    # A wrong key: the API's 401 comes back as the login view with its message.
    browser.evaluate(
        "document.getElementById('key').value = 'pm-wrong'; document.getElementById('login-form').requestSubmit()"
    )
    browser.wait_for("document.getElementById('login-message').textContent.includes('Incorrect API key')")
    assert browser.evaluate("document.body.dataset.view") == "login"
    assert all("401" in e for e in browser.errors), browser.errors  # only the refused call itself


def test_charts_show_the_logs_numbers(browser: Browser, site: Site) -> None:
    browser.errors.clear()
    sign_in(browser, site, "admin")
    served = dict(
        count(site, "SELECT served_model, COUNT(*) FROM decisions WHERE served_model IS NOT NULL GROUP BY 1")
    )
    share = chart(browser, "share")
    assert dict(zip(share["labels"], share["datasets"][0]["data"], strict=True)) == served
    routes = Counter(r or "(none)" for (r,) in count(site, "SELECT route FROM decisions"))
    traffic = chart(browser, "traffic")
    assert {d["label"]: sum(d["data"]) for d in traffic["datasets"]} == routes
    browser.evaluate(
        "{ const s = document.getElementById('split'); s.value = 'by_model'; s.dispatchEvent(new Event('change')); }"
    )
    by_model = {d["label"]: sum(d["data"]) for d in chart(browser, "traffic")["datasets"]}
    assert by_model == {**served, "(not served)": 1}  # the blocked request
    assert kpi(browser, "requests") == str(len(site.records))
    assert kpi(browser, "blocked") == "1" and kpi(browser, "redacted") == "1"
    spend = chart(browser, "spend")["datasets"][0]["data"]
    seeded = [r for r in site.records if r.route == "smart"]
    chosen = sum(next(c["cost"] for c in r.candidates if c["model"] == r.chosen_model) for r in seeded)
    assert spend == pytest.approx([chosen, 0.036, 0.036])
    assert kpi(browser, "saving vs strongest") == f"{100 * (1 - chosen / 0.036):.1f}%"
    latency = chart(browser, "latency")
    assert latency["labels"] == ["m0", "m1", "m2"] and [d["label"] for d in latency["datasets"]] == [
        "p50",
        "p90",
        "p99",
    ]
    assert table(browser, "#guards") == [["no-heists", "block", "1"], ["private", "redact", "1"]]
    assert [row[:2] for row in table(browser, "#backends")] == [
        ["m0", "closed"],
        ["m1", "closed"],
        ["m2", "closed"],
    ]
    assert browser.errors == []


def test_explorer_filters_and_opens_a_decision(browser: Browser, site: Site) -> None:
    browser.errors.clear()
    sign_in(browser, site, "admin")
    assert len(table(browser, "#requests")) == len(site.records)

    def choose(name: str, value: str) -> list[list[str]]:
        browser.evaluate("document.getElementById('requests').dataset.count = ''")
        browser.evaluate(
            f"{{ const e = document.getElementById('filters').elements[{name!r}]; e.value = {value!r}; "
            "e.form.dispatchEvent(new Event('change')); }"
        )
        browser.wait_for("document.getElementById('requests').dataset.count !== ''")
        return table(browser, "#requests")

    acme = choose("tenant", "acme")
    assert len(acme) == count(site, "SELECT COUNT(*) FROM decisions WHERE tenant = 'acme'")[0][0]
    assert {row[1] for row in acme} == {"acme"}
    blocked = choose("action", "block")
    assert len(blocked) == 1 and blocked[0][4] == "no-heists" and blocked[0][7] == "400"
    choose("action", "")
    smart = choose("route", "smart")
    assert (
        len(smart)
        == count(site, "SELECT COUNT(*) FROM decisions WHERE tenant = 'acme' AND route = 'smart'")[0][0]
    )
    browser.evaluate("document.querySelector('#requests tbody tr').click()")
    browser.wait_for("!document.getElementById('detail').hidden")
    shown = browser.evaluate("document.getElementById('detail').dataset.requestId")
    record = next(r for r in site.records if r.request_id == shown)
    text = browser.evaluate("document.getElementById('detail').textContent")
    assert (
        record.reason in text and "Ranking (predicted)" in text and "length" in text
    )  # reason, ranking, signals
    ranking = table(browser, "#detail div:nth-child(2) table:nth-of-type(1)")
    assert [row[0] for row in ranking] == [c["model"] for c in record.candidates]
    assert browser.errors == []


def test_a_tenants_key_sees_its_tenant_only(browser: Browser, site: Site) -> None:
    browser.errors.clear()
    sign_in(browser, site, "globex")
    globex = count(site, "SELECT COUNT(*) FROM decisions WHERE tenant = 'globex'")[0][0]
    assert kpi(browser, "requests") == str(globex)
    assert {row[1] for row in table(browser, "#requests")} == {"globex"}
    assert browser.evaluate(
        "[...document.getElementById('filters').elements.tenant.options].map(o => o.value)"
    ) == ["", "globex"]
    assert "tenant globex" in browser.evaluate("document.getElementById('who').textContent")
    assert browser.errors == []


def test_a_lab_report_opens_as_curves(
    browser: Browser, site: Site, shared_data: Path, tmp_path: Path
) -> None:
    from pointsman.cli import app

    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "-d", str(shared_data / "routeprofile"), "-r", "random,best-single",
                                      "--cv", "2", "--bootstrap", "0", "--cascades", "none", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    browser.errors.clear()
    sign_in(browser, site, "admin")
    browser.set_files("#report-file", out / "report.json")
    browser.wait_for("!document.getElementById('report-table').hidden")
    import json

    report = json.loads((out / "report.json").read_text())
    curves = chart(browser, "report")["datasets"]
    assert [c["label"] for c in curves[:2]] == ["random", "best-single"]
    assert [p["y"] for p in curves[0]["data"]] == pytest.approx(
        report["routers"]["random"]["curve"]["quality"]
    )
    assert table(browser, "#report-table")[1][0] == "best-single"
    not_a_report = tmp_path / "other.json"
    not_a_report.write_text('{"hello": 1}')
    browser.set_files("#report-file", not_a_report)
    browser.wait_for("document.getElementById('report-message').textContent.includes('not a report.json')")
    assert browser.errors == []
