// The dpo dashboard: reads the JSON API with a token kept in sessionStorage (never in URLs).
// Every value from the API is put on the page with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "dpo.token";
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2563eb", "#16a34a", "#d97706", "#9333ea"];
const $ = (id) => document.getElementById(id);

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

class Refused extends Error {}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (res.status === 401) throw new Refused("The token was refused: check it, or create one with `dpo tokens create --org ORG`.");
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : `HTTP ${res.status}`);
  return body;
}

// --- formatting -------------------------------------------------------------------------------

function formatter(currency) {
  const money = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const ratio = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return (value, unit) => {
    if (value === null || value === undefined) return "—";
    if (unit === "money") return money.format(value);
    if (unit === "count") return count.format(value);
    if (unit === "percent") return `${ratio.format(value * 100)}%`;
    return ratio.format(value);
  };
}

function changeText(change) {
  if (change === null || change === undefined) return "no comparison";
  const pct = (change * 100).toFixed(1);
  return `${change > 0 ? "+" : ""}${pct}% vs before`;
}

// --- rendering --------------------------------------------------------------------------------

function renderTiles(dashboard, fmt) {
  const tiles = $("tiles");
  tiles.replaceChildren();
  for (const kpi of dashboard.kpis) {
    const tile = el("div", undefined, { class: "tile", "data-kpi": kpi.name,
                                       "data-value": kpi.value === null ? "" : String(kpi.value) });
    tile.append(el("div", kpi.label, { class: "label" }));
    tile.append(el("div", fmt(kpi.value, kpi.unit), { class: "value" }));
    let mood = "";
    if (kpi.change) mood = (kpi.change > 0) === kpi.higher_is_better ? "good" : "bad";
    tile.append(el("div", changeText(kpi.change), { class: `change ${mood}` }));
    tiles.append(tile);
  }
}

function renderChart(chart, currency) {
  const box = $("chart");
  box.replaceChildren();
  if (!chart) return;
  const W = 900, H = 300, L = 70, R = 60, T = 16, B = 40;
  const labels = chart.data.labels;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": "Spend, revenue and ROAS per day" });
  const axes = {};
  for (const set of chart.data.datasets) {
    const values = set.data.filter((v) => v !== null);
    const axis = (axes[set.yAxisID] ??= { max: 0 });
    axis.max = Math.max(axis.max, ...values, 0);
  }
  const x = (i) => L + (labels.length <= 1 ? 0 : (i * (W - L - R)) / (labels.length - 1));
  const y = (v, axis) => T + (H - T - B) * (1 - v / (axes[axis].max || 1));
  root.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#9ca3af" }));
  const ids = Object.keys(axes);
  ids.forEach((id, n) => {
    const at = n === 0 ? L - 6 : W - R + 6;
    const anchor = n === 0 ? "end" : "start";
    for (const f of [0, 0.5, 1]) {
      const v = axes[id].max * f;
      root.append(svg("text", { x: at, y: y(v, id) + 4, "text-anchor": anchor, "font-size": 11,
                                fill: "#6b7280" }, v.toFixed(id === "money" ? 0 : 2)));
    }
  });
  root.append(svg("text", { x: 4, y: T + 4, "font-size": 11, fill: "#6b7280" }, currency));
  chart.data.datasets.forEach((set, n) => {
    const points = set.data.map((v, i) => (v === null ? null : `${x(i)},${y(v, set.yAxisID)}`))
      .filter((p) => p !== null).join(" ");
    root.append(svg("polyline", { points, fill: "none", stroke: COLOURS[n % COLOURS.length],
                                  "stroke-width": 2, "data-kpi": set.kpi || set.label }));
    root.append(svg("text", { x: L + 10 + n * 150, y: H - 8, "font-size": 12,
                              fill: COLOURS[n % COLOURS.length] }, set.label));
  });
  [0, labels.length - 1].forEach((i) => {
    if (labels[i] === undefined) return;
    root.append(svg("text", { x: x(i), y: H - B + 14, "font-size": 11, fill: "#6b7280",
                              "text-anchor": i === 0 ? "start" : "end" }, labels[i]));
  });
  box.append(root);
}

function renderTable(table, rows, keyName, columns, fmt, units) {
  table.replaceChildren();
  const head = el("tr");
  head.append(el("th", keyName));
  for (const c of columns) head.append(el("th", c.label));
  table.append(head);
  for (const row of rows) {
    const tr = el("tr");
    tr.append(el("td", row.campaign_name || row[keyName] || "(none)"));
    for (const c of columns) tr.append(el("td", fmt(row[c.name], units[c.name])));
    table.append(tr);
  }
}

function renderInsights(insights) {
  const list = $("insights");
  list.replaceChildren();
  if (!insights.length) list.append(el("li", "Nothing to report."));
  for (const item of insights) {
    const li = el("li", undefined, { class: item.severity });
    li.append(el("strong", item.title));
    if (item.description) li.append(el("div", item.description, { class: "muted" }));
    list.append(li);
  }
}

async function renderGoals(org, fmt, units) {
  const list = $("goals");
  list.replaceChildren();
  const goals = await api(`/api/goals/${encodeURIComponent(org)}`);
  let progress = {};
  try {
    const found = await api(`/api/goals/${encodeURIComponent(org)}/progress`);
    progress = Object.fromEntries(found.map((p) => [p.goal_id ?? p.id, p]));
  } catch (e) {
    if (e instanceof Refused) throw e;
  }
  if (!goals.length) list.append(el("li", "No goals yet."));
  for (const goal of goals) {
    const li = el("li");
    li.append(el("strong", goal.name));
    li.append(el("div", `${goal.comparison} ${fmt(goal.target, units[goal.kpi])} (${goal.period})`,
                 { class: "muted" }));
    const p = progress[goal.id];
    if (p && p.actual !== null && goal.target) {
      const share = Math.max(0, Math.min(1, p.actual / goal.target));
      const bar = el("div", undefined, { class: "bar", title: fmt(p.actual, units[goal.kpi]) });
      const fill = el("span");
      fill.style.width = `${(share * 100).toFixed(1)}%`; // CSSOM: allowed by the page's CSP
      bar.append(fill);
      li.append(bar);
    }
    list.append(li);
  }
}

// --- flow -------------------------------------------------------------------------------------

// What the page shows, kept so that an event can redraw one part without the others.
const shown = { org: null, fmt: null, units: {} };

async function showDashboard() {
  $("error").hidden = true;
  const org = $("org").value;
  const days = $("days").value;
  const dash = await api(`/api/analytics/dashboard/${encodeURIComponent(org)}?days=${days}`);
  const fmt = formatter(dash.currency);
  const units = Object.fromEntries(dash.kpis.map((k) => [k.name, k.unit]));
  Object.assign(shown, { org, fmt, units });
  $("period").textContent = `${dash.name} · ${dash.period.start} → ${dash.period.end} ` +
    `(${dash.timezone}, ${dash.currency}) · compared with ${dash.compare.start} → ${dash.compare.end}`;
  $("warnings").hidden = !dash.warnings.length;
  $("warnings").textContent = dash.warnings.join(" ");
  renderTiles(dash, fmt);
  renderChart(dash.charts[0], dash.currency);
  const cols = (names) => names.filter((n) => n in units)
    .map((n) => ({ name: n, label: dash.kpis.find((k) => k.name === n).label }));
  renderTable($("channels"), dash.channels, "channel",
              cols(["spend", "revenue", "sessions", "conversions", "roas"]), fmt, units);
  renderTable($("campaigns"), [...dash.top_campaigns, ...dash.bottom_campaigns], "campaign",
              cols(["spend", "attributed_revenue", "roas", "cpa"]), fmt, units);
  renderInsights(dash.insights);
  await renderGoals(org, fmt, units);
  $("dashboard").hidden = false;
}

async function showInsights() {
  const org = shown.org;
  renderInsights(await api(`/api/analytics/insights/${encodeURIComponent(org)}?status=open`));
}

async function showGoals() {
  await renderGoals(shown.org, shown.fmt, shown.units);
}

// --- live updates -----------------------------------------------------------------------------
// The organization's event stream (`GET /api/events/{org}`), read with fetch: EventSource cannot
// send the Authorization header. A sync or rollup redraws the dashboard (goals included), an
// insight the insights, a goal the goals; events arriving together are redrawn once.

const REDRAW = { sync: ["all"], rollups: ["all"], ready: ["all"], reset: ["all"],
                 insight: ["insights"], goal: ["goals", "insights"] };  // goal risks are insights
const live = { controller: null, lastId: null, pending: new Set(), timer: null, retryMs: 3000 };

function setLive(text, state) {
  $("live").textContent = text;
  $("live").className = `live ${state}`;
}

function redrawSoon(part) {
  live.pending.add(part);
  if (live.timer !== null) return;
  live.timer = setTimeout(() => {
    const parts = live.pending;
    live.pending = new Set();
    live.timer = null;
    let redraw = Promise.resolve();
    if (parts.has("all")) redraw = showDashboard();
    else {
      if (parts.has("insights")) redraw = redraw.then(showInsights);
      if (parts.has("goals")) redraw = redraw.then(showGoals);
    }
    redraw.catch(fail);
  }, 250);
}

function onEvent(fields) {
  if (fields.id !== undefined) live.lastId = fields.id;
  if (fields.retry !== undefined && /^\d+$/.test(fields.retry)) live.retryMs = Number(fields.retry);
  const parts = REDRAW[fields.event] || [];
  if (!(fields.event === "ready" && live.firstReady)) parts.forEach(redrawSoon);
  live.firstReady = false;
}

async function follow(org, signal) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
  if (live.lastId !== null) headers["Last-Event-ID"] = live.lastId;
  const res = await fetch(`/api/events/${encodeURIComponent(org)}`, { headers, signal, cache: "no-store" });
  if (res.status === 401) throw new Refused("The token was refused: check it, or create one with `dpo tokens create --org ORG`.");
  if (!res.ok) throw new Error(`the live updates stopped (HTTP ${res.status})`);
  setLive("live", "on");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let fields = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (fields.event !== undefined || fields.id !== undefined) onEvent(fields);
        fields = {};
      } else if (!line.startsWith(":")) {
        const at = line.indexOf(":");
        const name = at < 0 ? line : line.slice(0, at);
        fields[name] = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      }
    }
  }
}

function subscribe(org) {
  if (live.controller) live.controller.abort();
  const controller = new AbortController();
  Object.assign(live, { controller, lastId: null, firstReady: true });
  const loop = async () => {
    while (!controller.signal.aborted) {
      try {
        await follow(org, controller.signal);
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof Refused) { fail(error); return; }
      }
      if (controller.signal.aborted) return;
      setLive("reconnecting…", "off");
      await new Promise((resolve) => setTimeout(resolve, live.retryMs));
    }
  };
  loop();
}

async function start() {
  const orgs = await api("/api/organizations");
  const select = $("org");
  select.replaceChildren(...orgs.map((o) => el("option", `${o.name} (${o.slug})`, { value: o.slug })));
  $("login").hidden = true;
  $("org-form").hidden = false;
  if (orgs.length) {
    await showDashboard();
    subscribe(select.value);
  }
}

function fail(error) {
  if (!(error instanceof Refused)) {
    $("error").textContent = error.message;
    $("error").hidden = false;
    return;
  }
  sessionStorage.removeItem(TOKEN_KEY);
  if (live.controller) live.controller.abort();
  $("dashboard").hidden = true;
  $("org-form").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = error.message;
  $("login-error").hidden = false;
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("login-error").hidden = true;
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  start().catch(fail);
});
$("org").addEventListener("change", () => {
  showDashboard().catch(fail);
  subscribe($("org").value);
});
$("days").addEventListener("change", () => showDashboard().catch(fail));
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});
if (sessionStorage.getItem(TOKEN_KEY)) start().catch(fail);
