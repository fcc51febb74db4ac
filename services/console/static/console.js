// tidewatch alert console: renders what the server sends over Server-Sent Events; writes go to the
// JSON endpoints with the console header (the server refuses writes without it). All URLs are relative,
// so the page works wherever the console is mounted. Text is always set with textContent.
"use strict";

const state = { operator: null, actionsEnabled: true, alerts: [], silences: [], stations: [], rules: [], land: [],
  nowUs: Date.now() * 1000, seen: new Set() };
const HEADERS = { "Content-Type": "application/json", "X-Tidewatch-Console": "1" };

function $(selector, root = document) { return root.querySelector(selector); }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function utc(us) {
  if (us === null || us === undefined) return "—";
  return new Date(us / 1000).toISOString().slice(0, 16).replace("T", " ");
}

function ago(us) {
  if (us === null || us === undefined) return "never";
  const s = Math.max(0, (state.nowUs - us) / 1e6);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function badge(severity) {
  const sev = severity || "none";
  return el("span", { class: `badge ${sev}` }, sev);
}

function ruleTitle(id) {
  const rule = state.rules.find((r) => r.id === id);
  return rule ? `${rule.title_en} · ${rule.title_zh}` : id;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// -- open alerts ---------------------------------------------------------------------------------
function handling(alert) {
  const parts = [];
  if (alert.acknowledged_by) {
    parts.push(`acknowledged by ${alert.acknowledged_by} ${utc(alert.acknowledged_us)}`);
    if (alert.ack_comment) parts.push(`“${alert.ack_comment}”`);
  }
  if (alert.silenced_until_us && alert.silenced_until_us > state.nowUs) {
    parts.push(`silenced until ${utc(alert.silenced_until_us)}`);
  }
  return parts.length ? parts.join(" · ") : "not acknowledged";
}

function alertRow(alert) {
  const canAct = state.operator && state.actionsEnabled;
  const ack = el("button", { class: "ack", type: "button" }, "Acknowledge");
  ack.disabled = !canAct || alert.state !== "firing" || !!alert.acknowledged_by;
  ack.title = !state.operator ? "sign in first" : alert.state !== "firing" ? "only firing alerts" : "";
  ack.addEventListener("click", () => showForm("ack-form", alert));
  const silence = el("button", { class: "silence", type: "button" }, "Silence");
  silence.disabled = !canAct;
  silence.addEventListener("click", () => showForm("silence-form", alert));
  const row = el("tr", { class: `sev-${alert.severity}`, dataset: { alertId: alert.alert_id } },
    el("td", {}, badge(alert.severity)),
    el("td", {}, alert.station),
    el("td", { title: alert.rule }, ruleTitle(alert.rule)),
    el("td", { class: "state" }, alert.state),
    el("td", {}, utc(alert.opened_us)),
    el("td", {}, alert.value === null ? "—" : Number(alert.value).toPrecision(4)),
    el("td", { class: "message" }, alert.message_en, el("span", { class: "zh" }, alert.message_zh)),
    el("td", { class: "handling ack-state" }, handling(alert)),
    el("td", {}, ack, " ", silence));
  if (!state.seen.has(alert.alert_id)) row.classList.add("fresh");
  return row;
}

function renderAlerts() {
  // Keyed update: a row whose alert did not change stays the same node, so a click in progress, a
  // half-typed comment and the operator's place on the page survive live refreshes.
  const body = $("#open-alerts tbody");
  const existing = new Map([...body.querySelectorAll("tr[data-alert-id]")].map((r) => [r.dataset.alertId, r]));
  const form = body.querySelector(".inline-form");
  const nodes = [];
  for (const alert of state.alerts) {
    const signature = JSON.stringify([alert, !!state.operator, state.actionsEnabled, state.nowUs > (alert.silenced_until_us || 0)]);
    let row = existing.get(alert.alert_id);
    if (!row || row.dataset.signature !== signature) {
      row = alertRow(alert);
      row.dataset.signature = signature;
    }
    nodes.push(row);
    if (form && form.dataset.alertId === alert.alert_id) nodes.push(form);
  }
  body.replaceChildren(...nodes);
  state.seen = new Set(state.alerts.map((a) => a.alert_id));
  $("#open-count").textContent = state.alerts.length;
  $("#no-alerts").hidden = state.alerts.length > 0;
}

function rowOf(alertId) {
  return [...document.querySelectorAll("#open-alerts tbody tr[data-alert-id]")]
    .find((r) => r.dataset.alertId === alertId);
}

function showForm(templateId, alert) {
  for (const old of document.querySelectorAll("#open-alerts .inline-form")) old.remove();
  const row = rowOf(alert.alert_id);
  if (!row) return;
  const formRow = document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  formRow.dataset.alertId = alert.alert_id;
  const form = $("form", formRow);
  const target = $(".target", formRow);
  if (target) target.textContent = alert.alert_id;
  $(".cancel", formRow).addEventListener("click", () => formRow.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const payload = templateId === "ack-form"
      ? { alert_id: alert.alert_id, comment: data.comment }
      : { station: alert.station, rule: data.scope === "rule" ? alert.rule : null,
          minutes: Number(data.minutes), comment: data.comment };
    const path = templateId === "ack-form" ? "api/acknowledge" : "api/silence";
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    try {
      await api(path, { method: "POST", headers: HEADERS, body: JSON.stringify(payload) });
      formRow.remove();
      const cell = rowOf(alert.alert_id)?.querySelector(".ack-state");
      if (cell && cell.textContent === "not acknowledged") cell.textContent = "submitted…";
    } catch (error) {
      $(".error", formRow).textContent = error.message;
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  });
  row.after(formRow);
  (form.querySelector("input") || form.querySelector("button")).focus();
}

// -- silences ------------------------------------------------------------------------------------
function silenceRow(silence) {
  const end = el("button", { class: "end-silence", type: "button" }, "End silence");
  end.disabled = !(state.operator && state.actionsEnabled);
  end.title = state.operator ? "alerts it covers notify again" : "sign in first";
  const error = el("span", { class: "error" });
  end.addEventListener("click", async () => {
    end.disabled = true;
    try {
      await api("api/silence/remove", { method: "POST", headers: HEADERS, body: JSON.stringify({ id: silence.id }) });
      end.textContent = "ending…";
    } catch (failure) {
      error.textContent = failure.message;
      end.disabled = false;
    }
  });
  return el("tr", { dataset: { silenceId: silence.id } },
    el("td", {}, silence.station || "every station"),
    el("td", {}, silence.rule ? ruleTitle(silence.rule) : "every rule"),
    el("td", {}, utc(silence.ends_us)),
    el("td", {}, silence.actor),
    el("td", {}, silence.comment || ""),
    el("td", {}, end, " ", error));
}

function renderSilences() {
  const active = state.silences.filter((s) => s.ends_us > state.nowUs);
  $("#silence-list tbody").replaceChildren(...active.map(silenceRow));
  $("#silence-count").textContent = active.length;
  $("#no-silences").hidden = active.length > 0;
}

// -- stations ------------------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
const SEV_COLOUR = { blue: "#1f6fd1", yellow: "#e3b505", orange: "#f07b1a", red: "#d3212d" };

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function isSilent(station) {
  if (station.last_seen_us === null) return true;
  return state.nowUs - station.last_seen_us > 3 * station.sampling_interval_s * 1e6;
}

function renderMap() {
  const map = $("#map");
  const placed = state.stations.filter((s) => Number.isFinite(s.latitude) && Number.isFinite(s.longitude));
  if (!placed.length) { map.replaceChildren(); return; }
  const lats = placed.map((s) => s.latitude), lons = placed.map((s) => s.longitude);
  const pad = 0.3;  // degrees around the stations, more to the east where the labels go
  const south = Math.min(...lats) - pad, north = Math.max(...lats) + pad;
  const west = Math.min(...lons) - pad, east = Math.max(...lons) + 3 * pad;
  const k = Math.cos(((south + north) / 2) * Math.PI / 180);  // equirectangular, true at mid-latitude
  const width = 400, height = Math.max(150, Math.round(width * (north - south) / ((east - west) * k)));
  map.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const x = (lon) => ((lon - west) / (east - west)) * width;
  const y = (lat) => ((north - lat) / (north - south)) * height;
  const nodes = [];
  for (const rings of state.land) {
    const d = rings.map((ring) => "M" + ring.map(([lon, lat]) => `${x(lon).toFixed(1)},${y(lat).toFixed(1)}`)
      .join("L") + "Z").join("");
    nodes.push(svg("path", { class: "land", d, "fill-rule": "evenodd" }));
  }
  for (let lon = Math.ceil(west); lon <= east; lon++) {
    nodes.push(svg("line", { class: "grid", x1: x(lon), x2: x(lon), y1: 0, y2: height }));
    nodes.push(svg("text", { class: "gridlabel", x: x(lon) + 2, y: height - 3 }, `${lon}°E`));
  }
  for (let lat = Math.ceil(south); lat <= north; lat++) {
    nodes.push(svg("line", { class: "grid", x1: 0, x2: width, y1: y(lat), y2: y(lat) }));
    nodes.push(svg("text", { class: "gridlabel", x: 2, y: y(lat) - 2 }, `${lat}°N`));
  }
  for (const station of placed) {
    const colour = SEV_COLOUR[station.worst_severity] || "#4a5968";
    const dot = svg("circle", { class: `station${isSilent(station) ? " silent" : ""}`,
      cx: x(station.longitude), cy: y(station.latitude), r: station.open_alerts ? 7 : 5, fill: colour });
    dot.append(svg("title", {}, `${station.name} (${station.id}) · last seen ${ago(station.last_seen_us)}` +
      ` · ${station.open_alerts} open alert(s)`));
    nodes.push(dot);
    nodes.push(svg("text", { class: "label", x: x(station.longitude) + 8, y: y(station.latitude) + 3 },
      station.id));
  }
  map.replaceChildren(...nodes);
}

function renderStations() {
  const rows = state.stations.map((s) => el("tr", { dataset: { station: s.id } },
    el("td", { title: `${s.name} ${s.name_zh}` }, s.id),
    el("td", {}, s.kind),
    el("td", { class: isSilent(s) ? "stale" : "", title: utc(s.last_seen_us) }, ago(s.last_seen_us)),
    el("td", {}, s.open_alerts ? badge(s.worst_severity) : "", s.open_alerts ? ` ${s.open_alerts}` : "")));
  $("#station-list tbody").replaceChildren(...rows);
  renderMap();
  const select = $("#filter-station");
  if (select.options.length === 1) {
    for (const s of state.stations) select.append(el("option", { value: s.id }, s.id));
  }
}

// -- history -------------------------------------------------------------------------------------
async function loadHistory() {
  const form = $("#history-filter");
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  try {
    const { events } = await api(`api/alerts/history?${params}`);
    $("#history-events tbody").replaceChildren(...events.map((e) => el("tr", {},
      el("td", {}, utc(e.time_us)), el("td", {}, e.kind), el("td", {}, badge(e.severity)),
      el("td", {}, e.station), el("td", {}, e.rule),
      el("td", { class: "message" }, e.message_en, el("span", { class: "zh" }, e.message_zh)),
      el("td", {}, e.actor ? `${e.actor}${e.comment ? ` “${e.comment}”` : ""}` : ""),
      el("td", {}, e.channels.join(", ")))));
  } catch (error) {
    $("#history-events tbody").replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "error" },
      error.message)));
  }
}

// -- session -------------------------------------------------------------------------------------
function renderSession() {
  $("#signin").hidden = !!state.operator;
  $("#signed-in").hidden = !state.operator;
  $("#operator-name").textContent = state.operator ? state.operator.display_name : "";
  $("#actions-off").hidden = state.actionsEnabled;
  renderAlerts();
  renderSilences();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  try {
    const { operator } = await api("api/session", { method: "POST", headers: HEADERS,
      body: JSON.stringify({ username: form.username.value, password: form.password.value }) });
    state.operator = operator;
    form.reset();
    $("#signin-error").textContent = "";
  } catch (error) {
    $("#signin-error").textContent = error.message;
  }
  renderSession();
}

async function signOut() {
  await api("api/session", { method: "DELETE", headers: HEADERS }).catch(() => null);
  state.operator = null;
  renderSession();
}

// -- live ----------------------------------------------------------------------------------------
function connect() {
  const source = new EventSource("api/events");
  const live = $("#live");
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  source.addEventListener("alerts", (event) => {
    const data = JSON.parse(event.data);
    Object.assign(state, { alerts: data.alerts, silences: data.silences, nowUs: data.now_us });
    renderAlerts();
    renderSilences();
    loadHistory();
  });
  source.addEventListener("stations", (event) => {
    const data = JSON.parse(event.data);
    Object.assign(state, { stations: data.stations, nowUs: data.now_us });
    renderStations();
  });
}

async function loadLand() {
  // Natural Earth land around the network (services/console/coastline.py); the map works without it.
  try {
    const land = await (await fetch("static/land.geojson")).json();
    state.land = land.features.flatMap((f) => f.geometry.type === "MultiPolygon"
      ? f.geometry.coordinates : [f.geometry.coordinates]);
  } catch (error) {
    state.land = [];
  }
  renderMap();
}

async function start() {
  loadLand();
  const meta = await api("api/meta");
  Object.assign(state, { rules: meta.rules, operator: meta.operator, actionsEnabled: meta.actions_enabled });
  for (const rule of meta.rules) $("#filter-rule").append(el("option", { value: rule.id }, rule.id));
  for (const sev of meta.severities) $("#filter-severity").append(el("option", { value: sev }, sev));
  for (const kind of meta.kinds) $("#filter-kind").append(el("option", { value: kind }, kind));
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  $("#history-filter").addEventListener("submit", (event) => { event.preventDefault(); loadHistory(); });
  renderSession();
  connect();
}

start();
