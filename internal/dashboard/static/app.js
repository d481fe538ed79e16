// yiwang's dashboard: everything it shows comes from the API with the
// token the user entered, so it shows only that token's areas. Charts are
// SVG drawn here; nothing is fetched from outside this server.
"use strict";

const T = {
  zh: {
    title: "一网 · 基层治理数据看板", logout: "退出", token: "访问令牌", enter: "进入", overview: "指标总览",
    series: "时间序列", anomalies: "待处置异常", campaign: "敲门行动进度", modes: "平急状态", sources: "数据源新鲜度",
    top: "全区", ack: "已知悉", fp: "误报", switchTo: "切换为", normal: "平时", emergency: "应急",
    table: "表", rows: "行数", newest: "最新事件", ago: "前", min: "分钟", h: "小时", d: "天",
    rule: "规则", area: "区域", observed: "观测", expected: "预期", detail: "说明", none: "暂无",
    badToken: "令牌无效或已失效", period: "统计周期", deadletters: "死信（按原因）", noData: "该周期无数据",
    source: "数据源", handover: "最近交付",
    viewer: "查看", operator: "处置", admin: "管理",
  },
  en: {
    title: "yiwang · grassroots governance dashboard", logout: "Sign out", token: "Access token", enter: "Enter", overview: "Indicators",
    series: "Time series", anomalies: "Open anomalies", campaign: "Door-knocking campaign", modes: "Modes", sources: "Source freshness",
    top: "District", ack: "Acknowledge", fp: "False positive", switchTo: "Switch to", normal: "normal", emergency: "emergency",
    table: "Table", rows: "Rows", newest: "Newest event", ago: "ago", min: "min", h: "h", d: "d",
    rule: "Rule", area: "Area", observed: "Observed", expected: "Expected", detail: "Detail", none: "None",
    badToken: "The token is not valid", period: "Period", deadletters: "Dead letters (by reason)", noData: "No data for this period",
    source: "Source", handover: "Last handover",
    viewer: "viewer", operator: "operator", admin: "admin",
  },
};

const state = {
  lang: localStorage.getItem("yiwang.lang") || "zh",
  token: null, who: null, catalog: [], indicator: null,
  path: [], // drill-down: [{code, name, level}]
};

function t(key) { return (T[state.lang] || T.zh)[key] || key; }
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

class Unauthorized extends Error {}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  o.headers.Authorization = "Bearer " + state.token;
  if (o.body) o.headers["Content-Type"] = "application/json";
  const r = await fetch(path, o);
  if (r.status === 401) throw new Unauthorized();
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

// rowsOf turns a page ({columns, rows}) into objects.
function rowsOf(page) {
  return page.rows.map((r) => Object.fromEntries(page.columns.map((c, i) => [c, r[i]])));
}

function childLevel(code) {
  if (!code) return "street";
  if (!/^\d+$/.test(code)) return "gov_unit";
  return { 6: "street", 9: "community", 12: "grid" }[code.length] || "grid";
}

function levelOf(code) {
  if (!/^\d+$/.test(code)) return "gov_unit";
  return { 6: "county", 9: "street", 12: "community", 15: "grid" }[code.length] || "grid";
}

// day and month format a period's start as the district counts it
// (Asia/Shanghai), whatever the browser's zone.
function day(ts) {
  return new Intl.DateTimeFormat(state.lang === "zh" ? "zh-CN" : "en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(ts));
}
function month(ts) {
  return new Intl.DateTimeFormat(state.lang === "zh" ? "zh-CN" : "en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" }).format(new Date(ts));
}

function monthsAgo(n) {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - n);
  return d.toISOString().slice(0, 10);
}

function fmt(v, unit) {
  if (v === null || v === undefined) return "—";
  const x = Number(v);
  if (unit === "percent") return x.toFixed(1) + "%";
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2);
}

function indicatorInfo(name) {
  return state.catalog.find((i) => i.name === name) || { name, title: { zh: name, en: name }, unit: "" };
}

function title(name) {
  const i = indicatorInfo(name);
  return (i.title && (i.title[state.lang] || i.title.zh)) || name;
}

// The place the view stands on: the district, or the last drill-down.
function current() {
  if (state.path.length) return state.path[state.path.length - 1];
  if (!state.who.all && state.who.areas.length === 1) {
    const code = state.who.areas[0];
    return { code, name: code, level: levelOf(code) };
  }
  return null;
}

function applyI18n() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
  document.title = t("title");
}

// barChart draws one bar per cell, coloured by its status; a click on a
// bar calls onPick with the cell.
function barChart(target, cells, unit, onPick, note) {
  target.replaceChildren();
  if (!cells.length) { target.append(el("p", { class: "muted" }, note || t("noData"))); return; }
  const w = 900, rowH = 22, left = 190, h = cells.length * rowH + 10;
  const max = Math.max(...cells.map((c) => Number(c.value) || 0), 1e-9);
  const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img" });
  cells.forEach((c, i) => {
    const y = 5 + i * rowH;
    const bw = Math.max(1, ((Number(c.value) || 0) / max) * (w - left - 80));
    s.append(svg("text", { x: left - 6, y: y + 15, "text-anchor": "end" }, c.area_name || c.area_code));
    const r = svg("rect", { class: "bar " + (c.status || "none"), x: left, y, width: bw, height: rowH - 6, "data-code": c.area_code, "data-value": c.value === null ? "" : c.value });
    r.append(svg("title", {}, `${c.area_name || c.area_code}: ${fmt(c.value, unit)}`));
    if (onPick) r.addEventListener("click", () => onPick(c));
    s.append(r);
    s.append(svg("text", { x: left + bw + 6, y: y + 15 }, fmt(c.value, unit)));
  });
  target.append(s);
}

// lineChart draws the series with a marker under every period an anomaly
// of the place falls in.
function lineChart(target, points, marks, unit) {
  target.replaceChildren();
  if (!points.length) { target.append(el("p", { class: "muted" }, t("noData"))); return; }
  const w = 900, h = 220, pad = 40;
  const vals = points.map((p) => Number(p.value) || 0);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const span = hi - lo || Math.abs(hi) || 1;
  const x = (i) => pad + (points.length === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (points.length - 1));
  const y = (v) => h - pad - 10 - ((v - lo) / span) * (h - 2 * pad - 20);
  const s = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img" });
  s.append(svg("line", { class: "axis", x1: pad, y1: h - pad, x2: w - pad, y2: h - pad }));
  s.append(svg("polyline", { points: points.map((p, i) => `${x(i)},${y(Number(p.value) || 0)}`).join(" ") }));
  points.forEach((p, i) => {
    const c = svg("circle", { class: "point", cx: x(i), cy: y(Number(p.value) || 0), r: 4 });
    c.append(svg("title", {}, `${day(p.period_start)}: ${fmt(p.value, unit)}`));
    s.append(c);
    s.append(svg("text", { x: x(i), y: h - pad + 16, "text-anchor": "middle" }, month(p.period_start)));
    const start = new Date(p.period_start), end = new Date(p.period_end);
    const hits = marks.filter((a) => new Date(a.period_start) < end && new Date(a.period_end) > start);
    if (hits.length) {
      const m = svg("path", { class: "anomaly", d: `M${x(i) - 6},${h - pad - 2} L${x(i) + 6},${h - pad - 2} L${x(i)},${h - pad - 14} Z` });
      m.append(svg("title", {}, hits.map((a) => `${a.rule}: ${a.detail}`).join("\n")));
      s.append(m);
    }
  });
  target.append(s);
}

// latestCells returns the cells of the places under place (the district's
// streets when place is null) for the latest period in which some of them
// have a value: a period just begun has too few cases to publish yet.
async function latestCells(name, place) {
  const level = childLevel(place && place.code);
  const q = new URLSearchParams({ name, level, from: monthsAgo(3), limit: "10000" });
  if (place) q.set("area", place.code);
  const cells = rowsOf(await api("/api/v1/indicators?" + q));
  const valued = cells.filter((c) => c.value !== null);
  if (!valued.length) return { cells: [], period: null, note: (cells.find((c) => c.note) || {}).note };
  const latest = valued.map((c) => c.period_start).sort().pop();
  const now = cells.filter((c) => c.period_start === latest);
  now.sort((a, b) => (Number(b.value) || 0) - (Number(a.value) || 0));
  return { cells: now, period: latest };
}

async function drawOverview() {
  const place = current();
  const name = state.indicator;
  const info = indicatorInfo(name);
  const { cells, period, note } = await latestCells(name, place);
  $("period").textContent = period ? `${t("period")}: ${day(period)}` : "";
  const crumbs = $("crumbs");
  crumbs.replaceChildren();
  if (state.who.all) crumbs.append(el("a", { onclick: () => { state.path = []; redraw(); } }, t("top")));
  state.path.forEach((p, i) => crumbs.append(el("a", { onclick: () => { state.path = state.path.slice(0, i + 1); redraw(); } }, "› " + p.name)));
  barChart($("chart"), cells, info.unit, (c) => {
    if (c.level === "grid" || c.level === "gov_unit") return;
    state.path.push({ code: c.area_code, name: c.area_name || c.area_code, level: c.level });
    redraw();
  }, note);
}

async function drawSeries() {
  const place = current();
  const name = state.indicator;
  const level = place ? place.level : "district";
  const q = new URLSearchParams({ name, level, from: monthsAgo(12), limit: "1000" });
  if (place) q.set("area", place.code);
  const points = rowsOf(await api("/api/v1/indicators?" + q))
    .filter((p) => (!place || p.area_code === place.code) && p.value !== null)
    .sort((a, b) => a.period_start.localeCompare(b.period_start));
  const aq = new URLSearchParams({ limit: "500" });
  if (place) aq.set("area", place.code);
  // The markers: this indicator's anomalies (its detectors' rules are
  // named after it) of the place, or of the district's own cells.
  const marks = rowsOf(await api("/api/v1/anomalies?" + aq))
    .filter((a) => a.rule.startsWith(name + ".") && (place ? a.area_code === place.code : a.area_code === "district"));
  $("series-area").textContent = `${title(name)} · ${place ? place.name : t("top")}`;
  lineChart($("series"), points, marks, indicatorInfo(name).unit);
}

async function drawAnomalies() {
  const rows = rowsOf(await api("/api/v1/anomalies?status=open&limit=20"));
  const table = $("anomalies");
  table.replaceChildren(el("tr", {}, el("th", {}, t("rule")), el("th", {}, t("area")), el("th", {}, t("observed")),
    el("th", {}, t("expected")), el("th", {}, t("detail")), el("th", {}, "")));
  if (!rows.length) table.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, t("none"))));
  const canAct = state.who.role !== "viewer";
  for (const a of rows) {
    const actions = el("td", {});
    if (canAct) {
      for (const [action, label] of [["ack", t("ack")], ["false-positive", t("fp")]]) {
        actions.append(el("button", { type: "button", class: "act", "data-action": action, "data-id": a.id, onclick: async () => {
          await api(`/api/v1/anomalies/${encodeURIComponent(a.id)}/${action}`, { method: "POST", body: JSON.stringify({ why: "dashboard" }) });
          await drawAnomalies();
        } }, label));
      }
    }
    table.append(el("tr", { "data-id": a.id }, el("td", {}, a.rule), el("td", {}, a.area_code), el("td", {}, fmt(a.observed)),
      el("td", {}, fmt(a.expected)), el("td", {}, a.detail || ""), actions));
  }
}

async function drawCampaign() {
  const place = current();
  const { cells, note } = await latestCells("door_knock_coverage", place);
  barChart($("campaign"), cells, "percent", null, note);
}

// drawModes lists the streets the token may see (or its own areas, when
// it sees no street) with their mode; an operator may switch each.
async function drawModes() {
  const [trees, modes] = await Promise.all([api("/api/v1/areas"), api("/api/v1/modes?limit=1000")]);
  const mode = Object.fromEntries(rowsOf(modes).map((m) => [m.area_code, m.mode]));
  const places = [];
  const walk = (nodes, top) => {
    for (const n of nodes) {
      if (n.level === "street" || (top && n.level !== "county")) places.push(n);
      else walk(n.children || [], false);
    }
  };
  walk(trees.areas, true);
  const table = $("modes");
  table.replaceChildren();
  const canSwitch = state.who.role !== "viewer";
  for (const p of places) {
    const now = mode[p.code] || "normal";
    const to = now === "emergency" ? "normal" : "emergency";
    const cell = el("td", {});
    if (canSwitch) {
      cell.append(el("button", { type: "button", class: to === "emergency" ? "danger" : "", "data-area": p.code, onclick: async () => {
        await api("/api/v1/modes", { method: "POST", body: JSON.stringify({ area: p.code, mode: to, reason: "dashboard" }) });
        await drawModes();
      } }, `${t("switchTo")} ${t(to)}`));
    }
    table.append(el("tr", {}, el("td", {}, p.name), el("td", { class: "mode-" + now }, t(now)), cell));
  }
  if (!places.length) table.append(el("tr", {}, el("td", { class: "muted" }, t("none"))));
}

function age(ts) {
  if (!ts) return "—";
  const s = (Date.now() - new Date(ts).getTime()) / 1000;
  if (s < 3600) return `${Math.max(0, Math.round(s / 60))} ${t("min")} ${t("ago")}`;
  if (s < 86400) return `${Math.round(s / 3600)} ${t("h")} ${t("ago")}`;
  return `${Math.round(s / 86400)} ${t("d")} ${t("ago")}`;
}

// drawSources lists each source: its table's rows and newest event, when
// its connector last handed over records, and its recent dead letters.
async function drawSources() {
  const { sources } = await api("/api/v1/sources");
  const table = $("sources");
  table.replaceChildren(el("tr", {}, el("th", {}, t("source")), el("th", {}, t("table")), el("th", {}, t("rows")),
    el("th", {}, t("newest")), el("th", {}, t("handover")), el("th", {}, t("deadletters"))));
  for (const x of sources.filter((x) => x.enabled)) {
    const dl = Object.entries(x.dead_letters || {}).map(([reason, n]) => `${reason} ${n}`).join(", ");
    table.append(el("tr", {}, el("td", {}, x.name), el("td", {}, x.table), el("td", {}, x.rows), el("td", {}, age(x.newest_event_time)),
      el("td", {}, age(x.last_moved_at)), el("td", {}, dl || "—")));
  }
}

async function redraw() {
  try {
    await Promise.all([drawOverview(), drawSeries(), drawAnomalies(), drawCampaign(), drawModes(), drawSources()]);
    document.body.dataset.ready = "1";
  } catch (e) {
    if (e instanceof Unauthorized) return signOut(t("badToken"));
    throw e;
  }
}

function fillIndicators() {
  const sel = $("indicator");
  sel.replaceChildren(...state.catalog.map((i) => el("option", { value: i.name }, title(i.name))));
  sel.value = state.indicator;
}

async function start() {
  try {
    state.who = await api("/api/v1/whoami");
    state.catalog = (await api("/api/v1/catalog")).indicators;
  } catch (e) {
    if (e instanceof Unauthorized) return signOut(t("badToken"));
    throw e;
  }
  if (!state.indicator || !state.catalog.some((i) => i.name === state.indicator)) {
    state.indicator = state.catalog.some((i) => i.name === "event_ontime_closure_rate") ? "event_ontime_closure_rate" : (state.catalog[0] || {}).name;
  }
  $("who").textContent = `${state.who.name} · ${t(state.who.role)}`;
  $("login").hidden = true;
  $("app").hidden = false;
  fillIndicators();
  await redraw();
}

function signOut(message) {
  localStorage.removeItem("yiwang.token");
  state.token = null;
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("who").textContent = "";
}

document.addEventListener("DOMContentLoaded", () => {
  applyI18n();
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("yiwang.lang", state.lang);
    applyI18n();
    if (state.who) { $("who").textContent = `${state.who.name} · ${t(state.who.role)}`; fillIndicators(); redraw(); }
  });
  $("logout").addEventListener("click", () => signOut(""));
  $("indicator").addEventListener("change", (e) => { state.indicator = e.target.value; redraw(); });
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    localStorage.setItem("yiwang.token", state.token);
    start();
  });
  // A link may carry the token after #token= (kept out of the server's
  // logs); it is moved to this browser's storage and out of the address.
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem("yiwang.token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  state.token = localStorage.getItem("yiwang.token");
  if (state.token) start(); else signOut("");
});
