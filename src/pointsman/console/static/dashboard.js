// The pointsman console: reads /admin/api and draws it (Chart.js). Text from the log only ever goes in via
// textContent, never as HTML.
"use strict";

const KEY = "pointsman-console-key";
const state = { key: sessionStorage.getItem(KEY) || "", timer: null, overview: null };
const $ = (id) => document.getElementById(id);
const PALETTE = ["#2f6fdb", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4", "#bf9a00", "#6c8893",
                 "#525df4", "#c2542e", "#0f7b5f", "#8d6e63"];
const color = (i) => PALETTE[i % PALETTE.length];

class Unauthorized extends Error {}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

async function api(path) {
  const headers = state.key ? { Authorization: "Bearer " + state.key } : {};
  const res = await fetch("/admin/api/" + path, { headers });
  const body = await res.json();
  if (res.status === 401) throw new Unauthorized(body.error.message);
  if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
  return body;
}

const usd = (x) => x == null ? "-" : x < 0 ? "-" + usd(-x) : "$" + (Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));
const pct = (x) => x == null ? "-" : (100 * x).toFixed(1) + "%";
const secs = (x) => x == null ? "-" : x.toFixed(3);
const when = (t) => new Date(t * 1000).toLocaleString();

function chart(id, config) {
  const old = Chart.getChart(id);
  if (old) old.destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options);
  return new Chart($(id), config);
}

function query(extra = {}) {
  const params = new URLSearchParams();
  const windowS = $("window").value;
  if (windowS) params.set("window", windowS);
  for (const [k, v] of Object.entries(extra)) if (v) params.set(k, v);
  return params.toString();
}

function showLogin(message) {
  $("dashboard").hidden = true; $("controls").hidden = true; $("login").hidden = false;
  $("who").textContent = "";
  if (message) $("login-message").textContent = message;
  document.body.dataset.view = "login";
}

async function boot() {
  if (document.body.dataset.auth === "on" && !state.key) return showLogin();
  try {
    const me = await api("whoami");
    $("who").textContent = !me.auth ? "auth off: open console"
      : me.admin ? `key ${me.key_id} (admin: every tenant)` : `key ${me.key_id} (tenant ${me.tenant})`;
    $("login").hidden = true; $("dashboard").hidden = false; $("controls").hidden = false;
    $("logout").hidden = !me.auth;
    await load();
  } catch (err) {
    if (err instanceof Unauthorized) { sessionStorage.removeItem(KEY); state.key = ""; return showLogin(err.message); }
    throw err;
  }
}

async function load() {
  document.body.dataset.view = "loading";
  const [overview, backends] = await Promise.all([api("overview?" + query()), api("backends")]);
  state.overview = overview;
  drawKpis(overview);
  drawTraffic(overview.series);
  drawShare(overview.share);
  drawSpend(overview.spend);
  drawLatency(overview.latency);
  drawGuards(overview.guards);
  drawBackends(backends.data);
  fillFilters(overview);
  await loadRequests();
  document.body.dataset.view = "dashboard";
}

function drawKpis(o) {
  const t = o.totals, s = o.spend;
  const cards = [
    ["requests", t.requests], ["errors", t.errors], ["blocked", t.blocked], ["redacted", t.redacted],
    ["fell back", t.fallbacks], ["spend", usd(t.spend_usd)],
    ["saving vs strongest", pct(s.saving_vs_strongest)], ["saving vs profile's first", pct(s.saving_vs_first)],
  ];
  $("kpis").replaceChildren(...cards.map(([label, value]) =>
    el("div", { class: "kpi", "data-kpi": label }, el("b", {}, String(value)), el("span", {}, label))));
  $("notice").hidden = !o.truncated;
  $("notice").textContent = o.truncated ? "This window holds more decisions than one view reads: the newest are shown." : "";
}

function drawTraffic(series) {
  const split = series[$("split").value];
  const format = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  if (series.bucket_s < 60) format.second = "2-digit";
  const labels = series.starts.map((t) => new Date(t * 1000).toLocaleTimeString([], format));
  const datasets = Object.entries(split).map(([name, counts], i) => ({ label: name, data: counts, backgroundColor: color(i) }));
  chart("chart-traffic", { type: "bar", data: { labels, datasets },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } } });
}

function drawShare(share) {
  chart("chart-share", { type: "doughnut",
    data: { labels: share.map((s) => s.model), datasets: [{ data: share.map((s) => s.requests), backgroundColor: share.map((_, i) => color(i)) }] },
    options: { plugins: { legend: { position: "right" } } } });
}

function drawSpend(s) {
  chart("chart-spend", { type: "bar",
    data: { labels: ["policy's choices", "always the strongest", "always the profile's first"],
            datasets: [{ label: "predicted cost ($)", data: [s.chosen_usd, s.strongest_usd, s.first_usd], backgroundColor: [color(0), color(1), color(2)] }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } } } });
  $("spend-text").textContent = `Actual spend ${usd(s.actual_usd)}. Over ${s.compared} requests with predicted costs: `
    + `saved ${usd(s.saving_vs_strongest_usd)} (${pct(s.saving_vs_strongest)}) against the strongest candidate, `
    + `${usd(s.saving_vs_first_usd)} (${pct(s.saving_vs_first)}) against the profile's first.`;
}

function drawLatency(rows) {
  const pick = (k) => rows.map((r) => r[k]);
  chart("chart-latency", { type: "bar",
    data: { labels: rows.map((r) => r.backend), datasets: [
      { label: "p50", data: pick("p50_s"), backgroundColor: color(0) },
      { label: "p90", data: pick("p90_s"), backgroundColor: color(1) },
      { label: "p99", data: pick("p99_s"), backgroundColor: color(3) }] },
    options: { scales: { y: { beginAtZero: true } } } });
}

function rows(tableId, items) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...items.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, String(c ?? ""))))));
  return body;
}

function drawGuards(guards) {
  if (!guards.length) return rows("guards", [["none in this window", "", ""]]);
  rows("guards", guards.map((g) => [g.rule, g.action, g.count]));
}

function drawBackends(states) {
  rows("backends", states.map((s) => [s.backend, s.breaker ?? "-", s.in_flight ?? "-"]));
}

function fillFilters(o) {
  const form = $("filters");
  for (const [name, values] of [["tenant", o.tenants], ["route", o.routes], ["model", o.models]]) {
    const select = form.elements[name], keep = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"), ...values.map((v) => el("option", { value: v }, v)));
    if (values.includes(keep)) select.value = keep;
  }
}

async function loadRequests() {
  const f = $("filters").elements;
  const list = await api("requests?" + query({ tenant: f.tenant.value, route: f.route.value, model: f.model.value, action: f.action.value, limit: 50 }));
  const body = rows("requests", list.data.map((r) => [when(r.time), r.tenant ?? "-", r.requested_model, r.route, r.decision, r.action,
    r.served_model ?? r.chosen_model ?? "-", r.status, secs(r.total_s), r.cost_usd == null ? "-" : r.cost_usd.toPrecision(3)]));
  [...body.rows].forEach((tr, i) => { tr.dataset.requestId = list.data[i].request_id; tr.addEventListener("click", () => openDecision(tr)); });
  $("requests").dataset.count = list.data.length;
  $("detail").hidden = true;
}

function table(head, items) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...items.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, String(c ?? "")))))));
}

async function openDecision(tr) {
  for (const other of tr.parentNode.rows) other.classList.remove("open");
  tr.classList.add("open");
  const r = await api("requests/" + encodeURIComponent(tr.dataset.requestId));
  const signals = Object.entries(r.signals || {}).map(([name, s]) => [name, JSON.stringify(s.value), s.confidence, s.ms]);
  const attempts = [...r.fallbacks.map((a) => [a.model, a.outcome, a.code, a.seconds]),
    ...(r.served_model ? [[r.served_model, "answered", "", secs(r.first_byte_s) + " to first byte"]] : [])];
  const detail = $("detail");
  detail.replaceChildren(
    el("div", {}, el("h3", {}, "Decision " + r.request_id),
      table(["", ""], [["tenant", r.tenant ?? "-"], ["asked for", r.requested_model], ["route", r.route], ["decision", r.decision],
        ["rule", r.rule ?? "-"], ["action", r.action], ["reason", r.reason], ["chosen", r.chosen_model], ["served", r.served_model ?? "-"],
        ["probability", r.probability], ["status", r.status + (r.error_code ? " " + r.error_code : "")],
        ["tokens", `${r.prompt_tokens ?? "-"} in, ${r.completion_tokens ?? "-"} out`], ["cost", usd(r.cost_usd)], ["seconds", secs(r.total_s)]])),
    el("div", {}, el("h3", {}, "Ranking (predicted)"),
      table(["model", "quality", "cost $"], r.candidates.map((c) => [c.model, c.quality == null ? "-" : c.quality.toFixed(3), c.cost == null ? "-" : c.cost.toPrecision(3)])),
      el("h3", {}, "Attempts"), table(["model", "outcome", "code", "seconds"], attempts),
      el("h3", {}, "Signals"), table(["signal", "value", "confidence", "ms"], signals)));
  detail.hidden = false;
  detail.dataset.requestId = r.request_id;
}

function openReport(file) {
  const reader = new FileReader();
  reader.onload = () => {
    let report;
    try { report = JSON.parse(reader.result); } catch (e) { report = null; }
    if (!report || typeof report.routers !== "object") {
      $("report-message").textContent = `${file.name}: not a report.json from pointsman eval (no "routers")`;
      $("report-message").classList.add("bad");
      return;
    }
    const ds = report.dataset || {};
    $("report-message").classList.remove("bad");
    $("report-message").textContent = `${ds.name ?? file.name}: ${ds.n_prompts ?? "?"} prompts x ${ds.n_models ?? "?"} models; `
      + `best single model ${ds.best_single?.model ?? "?"}. Quality against cost per request, each router's curve.`;
    const datasets = Object.entries(report.routers).map(([label, r], i) => ({
      label, showLine: true, borderColor: color(i), backgroundColor: color(i), pointRadius: 1,
      data: r.curve.cost.map((c, j) => ({ x: c, y: r.curve.quality[j] })) }));
    if (ds.best_single) datasets.push({ label: "best single: " + ds.best_single.model, data: [{ x: ds.best_single.cost, y: ds.best_single.quality }], pointRadius: 6, pointStyle: "rectRot", backgroundColor: "#000" });
    $("report-chart-box").hidden = false;
    chart("chart-report", { type: "scatter", data: { datasets },
      options: { scales: { x: { title: { display: true, text: "cost per request ($)" } }, y: { title: { display: true, text: "quality" } } } } });
    const f = (x) => x == null ? "-" : Number(x).toFixed(3);
    rows("report-table", Object.entries(report.routers).map(([label, r]) => [label, f(r.max_quality), f(r.oracle_gap_closed), f(r.cost_ratio_at_best_single_quality), f(r.aiq)]));
    $("report-table").hidden = false;
  };
  reader.readAsText(file);
}

function wire() {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("key").value.trim();
    sessionStorage.setItem(KEY, state.key);
    boot();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); state.key = ""; showLogin("Signed out."); });
  $("refresh").addEventListener("click", load);
  $("window").addEventListener("change", load);
  $("split").addEventListener("change", () => state.overview && drawTraffic(state.overview.series));
  $("filters").addEventListener("change", loadRequests);
  $("report-file").addEventListener("change", (e) => e.target.files[0] && openReport(e.target.files[0]));
  $("live").addEventListener("change", (e) => {
    clearInterval(state.timer);
    state.timer = e.target.checked ? setInterval(load, 10000) : null;
  });
}

wire();
boot();
