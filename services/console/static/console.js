// tidewatch alert console: renders what the server sends over Server-Sent Events; writes go to the
// JSON endpoints with the console header (the server refuses writes without it). All URLs are relative,
// so the page works wherever the console is mounted. Text is always set with textContent.
"use strict";

const state = { operator: null, actionsEnabled: true, alerts: [], silences: [], stations: [], rules: [], land: [],
  variables: [], nowUs: Date.now() * 1000, seen: new Set(), history: { offset: 0, limit: 50, more: false },
  expanded: new Set(), groups: [], openGroups: new Set() };
// Newest data further behind the clock than this (2 h): a replay or a quiet network, so judge by data time.
const REPLAY_LAG_US = 2 * 3600e6;
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

// The clock station ages are measured against: the wall clock, or during a replay (or when the whole
// network is quiet) the newest data time, so stations replayed days late do not all look silent.
function dataNowUs() {
  const seen = state.stations.map((s) => s.last_seen_us).filter((t) => t !== null && t !== undefined);
  return seen.length ? Math.max(...seen) : null;
}

function replaying() {
  const newest = dataNowUs();
  return newest !== null && state.nowUs - newest > REPLAY_LAG_US;
}

function clockUs() { return replaying() ? dataNowUs() : state.nowUs; }

function duration(s) {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function ago(us) {
  if (us === null || us === undefined) return "never";
  const s = Math.max(0, (clockUs() - us) / 1e6);
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

function number(value) {
  // Four significant figures, without trailing zeros: 11.26, 4, 0.0123.
  return String(Number(Number(value).toPrecision(4)));
}

function withUnit(value, unit) {
  if (value === null || value === undefined) return "—";
  return unit ? `${number(value)} ${unit}` : number(value);
}

function alertValue(ruleId, value) {
  // A reading in its variable's unit, a warning level, or nothing for rules over any variable.
  const rule = state.rules.find((r) => r.id === ruleId);
  if (value === null || value === undefined || !rule || rule.value_kind === "none") return "—";
  if (rule.value_kind === "level") return `level ${Math.round(value)}`;
  return withUnit(value, rule.unit);
}

function stationName(id) {
  const station = state.stations.find((s) => s.id === id);
  return station ? station.name : id;
}

function stationCell(id) {
  const station = state.stations.find((s) => s.id === id);
  return el("td", { title: id }, station ? station.name : id,
    station ? el("span", { class: "zh" }, station.name_zh) : null);
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
    parts.push(`acknowledged by ${alert.acknowledged_name || alert.acknowledged_by} ${utc(alert.acknowledged_us)}`);
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
    stationCell(alert.station),
    el("td", { title: alert.rule }, ruleTitle(alert.rule)),
    el("td", { class: "state" }, alert.state),
    el("td", {}, utc(alert.opened_us)),
    el("td", { class: "value" }, alertValue(alert.rule, alert.value)),
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
    const signature = JSON.stringify([alert, !!state.operator, state.actionsEnabled,
      state.nowUs > (alert.silenced_until_us || 0), stationName(alert.station)]);
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
    el("td", {}, silence.station ? stationName(silence.station) : "every station"),
    el("td", {}, silence.rule ? ruleTitle(silence.rule) : "every rule"),
    el("td", {}, utc(silence.ends_us)),
    el("td", { title: silence.actor }, silence.actor_name || silence.actor),
    el("td", {}, silence.comment || ""),
    el("td", {}, end, " ", error));
}

function renderSilences() {
  const active = state.silences.filter((s) => s.ends_us > state.nowUs);
  $("#silence-list tbody").replaceChildren(...active.map(silenceRow));
  $("#silence-count").textContent = active.length;
  $("#no-silences").hidden = active.length > 0;
}

// -- recurring silences --------------------------------------------------------------------------
const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function scheduleRow(schedule) {
  const remove = el("button", { type: "button" }, "Remove");
  remove.disabled = !(state.operator && state.actionsEnabled);
  const error = el("span", { class: "error" });
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await api("api/schedules/remove", { method: "POST", headers: HEADERS, body: JSON.stringify({ id: schedule.id }) });
      loadSchedules();
    } catch (failure) {
      error.textContent = failure.message;
      remove.disabled = false;
    }
  });
  const start = `${String(Math.floor(schedule.start_minute / 60)).padStart(2, "0")}:` +
    String(schedule.start_minute % 60).padStart(2, "0");
  return el("tr", { dataset: { scheduleId: schedule.id } },
    el("td", {}, stationName(schedule.station)), el("td", {}, schedule.rule ? ruleTitle(schedule.rule) : "every rule"),
    el("td", {}, schedule.weekdays.length === 7 ? "every day" : schedule.weekdays.map((d) => WEEKDAYS[d]).join(" ")),
    el("td", {}, start), el("td", {}, `${schedule.duration_min} min`), el("td", {}, schedule.timezone),
    el("td", {}, schedule.actor), el("td", {}, schedule.comment || ""), el("td", {}, remove, " ", error));
}

async function loadSchedules() {
  try {
    const { schedules } = await api("api/schedules");
    $("#schedule-list tbody").replaceChildren(...schedules.map(scheduleRow));
  } catch (error) {
    $("#schedule-error").textContent = error.message;
  }
  $("#schedule-submit").disabled = !(state.operator && state.actionsEnabled);
}

async function addSchedule(event) {
  event.preventDefault();
  const form = event.target;
  const weekdays = WEEKDAYS.filter((d) => form.querySelector(`input[name=day-${d}]`).checked);
  const body = { station: form.station.value, rule: form.rule.value || null, start: form.start.value,
    minutes: Number(form.minutes.value), timezone: form.timezone.value || "UTC", weekdays,
    comment: form.comment.value };
  try {
    await api("api/schedules", { method: "POST", headers: HEADERS, body: JSON.stringify(body) });
    $("#schedule-error").textContent = "";
    loadSchedules();
  } catch (error) {
    $("#schedule-error").textContent = error.message;
  }
}

function scheduleForm() {
  for (const d of WEEKDAYS) {
    $("#schedule-days").append(el("label", {}, el("input", { type: "checkbox", name: `day-${d}`, checked: "" }), d));
  }
  for (const rule of state.rules) $("#schedule-rule").append(el("option", { value: rule.id }, rule.title_en));
  $("#schedule-form").addEventListener("submit", addSchedule);
}

// -- manual QC and data status (services/console/manual_qc.py) ----------------------------------
const QC_FLAGS = ["good", "suspect", "bad"];

function isoText(text) { return text ? text.slice(0, 16).replace("T", " ") : "—"; }  // to the minute, UTC

function rangeRow(item, what, text) {
  return el("tr", {}, el("td", {}, stationName(item.station_id)), el("td", {}, item.variable || "every variable"),
    el("td", {}, isoText(item.start)), el("td", {}, isoText(item.end)), el("td", { class: what }, what),
    el("td", {}, item.operator), el("td", {}, isoText(item.created)), el("td", {}, text || ""));
}

async function loadManualQc() {
  const station = $("#qc-station").value;
  const query = station ? `?station=${encodeURIComponent(station)}` : "";
  try {
    const [{ flags }, { reviews }] = await Promise.all([api(`api/qc/flags${query}`), api(`api/qc/reviews${query}`)]);
    $("#qc-flags tbody").replaceChildren(...flags.map((f) => rangeRow(f, f.flag_name, f.reason)));
    $("#qc-reviews tbody").replaceChildren(...reviews.map((r) => rangeRow(r, r.status, r.note)));
  } catch (error) {
    $("#qc-error").textContent = error.message;
  }
  $("#qc-submit").disabled = !state.operator;
}

async function applyManualQc(event) {
  event.preventDefault();
  const form = event.target;
  const judgement = form.judgement.value;
  const body = { station: form.station.value, variable: form.variable.value || null, start: form.start.value,
    end: form.end.value };
  const flag = QC_FLAGS.includes(judgement);
  Object.assign(body, flag ? { flag: judgement, reason: form.reason.value }
    : { status: judgement, note: form.reason.value });
  try {
    const done = await api(flag ? "api/qc/flags" : "api/qc/reviews",
      { method: "POST", headers: HEADERS, body: JSON.stringify(body) });
    $("#qc-error").textContent = "";
    $("#qc-result").textContent = flag ? `${done.changed} stored readings re-flagged`
      : `${done.readings} stored readings now ${done.status}`;
    loadManualQc();
  } catch (error) {
    $("#qc-result").textContent = "";
    $("#qc-error").textContent = error.message;
  }
}

function manualQcForm() {
  for (const v of state.variables) $("#qc-variable").append(el("option", { value: v.id }, `${v.label} (${v.id})`));
  $("#qc-form").addEventListener("submit", applyManualQc);
  $("#qc-station").addEventListener("change", loadManualQc);
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

const HEALTHY = "#2e9d5b";

function isSilent(station) {
  // The alert engine's station_silent judgement (data time) first; by the clock only when live.
  if (station.silent_alert) return true;
  if (station.last_seen_us === null) return false;  // no data yet: drawn hollow
  return !replaying() && state.nowUs - station.last_seen_us > 3 * station.sampling_interval_s * 1e6;
}

function stationColour(station) {
  if (station.last_seen_us === null) return "#ffffff";
  if (station.open_alerts && SEV_COLOUR[station.worst_severity]) return SEV_COLOUR[station.worst_severity];
  if (isSilent(station)) return "#9aa5b1";
  return HEALTHY;
}

function shortName(station) {
  // "Dandong (Dadong Port) tide gauge" → "Dandong": the map has room for the place, the list has the rest.
  return station.name.replace(/\s*\([^)]*\)/g, "").replace(/ tide gauge$/, "").trim();
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

function placeLabels(map, labels, dots, width, height) {
  // Greedy: each label takes the first spot around its dot (nearest ring first) that stays inside the
  // map and overlaps no placed label and no dot; a label moved off its dot gets a leader line.
  const placed = [], leaders = [];
  const directions = [[1, 0], [-1, 0], [1, -1], [1, 1], [-1, -1], [-1, 1], [0, -1], [0, 1]];
  for (const label of labels) {
    const w = label.node.getComputedTextLength() || label.node.textContent.length * 5.5;
    const h = 11;
    let best = null;
    for (const ring of [9, 22, 36, 52]) {
      for (const [dx, dy] of directions) {
        const x = dx > 0 ? label.cx + ring : dx < 0 ? label.cx - ring - w : label.cx - w / 2;
        const y = dy > 0 ? label.cy + ring - 2 : dy < 0 ? label.cy - ring - h + 2 : label.cy - h / 2;
        const box = { x, y, w, h };
        const inside = x >= 2 && y >= 2 && x + w <= width - 2 && y + h <= height - 14;
        const hits = placed.filter((p) => overlaps(p, box)).length
          + dots.filter((d) => overlaps(d, box)).length;
        const cost = (inside ? 0 : 1000) + hits * 100 + ring;
        if (!best || cost < best.cost) best = { box, cost, ring };
        if (inside && !hits) break;
      }
      if (best.cost < 100) break;
    }
    placed.push(best.box);
    label.node.setAttribute("x", best.box.x.toFixed(1));
    label.node.setAttribute("y", (best.box.y + best.box.h - 2).toFixed(1));
    if (best.ring > 9) {
      const tx = Math.min(Math.max(label.cx, best.box.x), best.box.x + best.box.w);
      const ty = Math.min(Math.max(label.cy, best.box.y), best.box.y + best.box.h);
      leaders.push(svg("line", { class: "leader", x1: label.cx, y1: label.cy, x2: tx, y2: ty }));
    }
  }
  const firstDot = map.querySelector("circle");
  for (const line of leaders) map.insertBefore(line, firstDot);
}

function renderMap() {
  const map = $("#map");
  const placed = state.stations.filter((s) => Number.isFinite(s.latitude) && Number.isFinite(s.longitude));
  if (!placed.length) { map.replaceChildren(); return; }
  const lats = placed.map((s) => s.latitude), lons = placed.map((s) => s.longitude);
  const pad = 0.45;  // degrees around the stations: room for labels on either side
  const south = Math.min(...lats) - pad, north = Math.max(...lats) + pad;
  const west = Math.min(...lons) - pad, east = Math.max(...lons) + pad;
  const k = Math.cos(((south + north) / 2) * Math.PI / 180);  // equirectangular, true at mid-latitude
  const width = 640, height = Math.max(240, Math.round(width * (north - south) / ((east - west) * k)));
  map.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const x = (lon) => ((lon - west) / (east - west)) * width;
  const y = (lat) => ((north - lat) / (north - south)) * height;
  const nodes = [svg("rect", { class: "sea", x: 0, y: 0, width, height })];
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
  const labels = [], dots = [];
  for (const station of placed) {
    const cx = x(station.longitude), cy = y(station.latitude), r = station.open_alerts ? 7 : 5;
    const silent = isSilent(station), empty = station.last_seen_us === null;
    const dot = svg("circle", { class: `station${silent ? " silent" : ""}${empty ? " empty" : ""}`,
      cx, cy, r, fill: stationColour(station) });
    dot.dataset.station = station.id;
    dot.append(svg("title", {}, `${station.name} · ${station.name_zh} (${station.id}) · last seen ` +
      `${ago(station.last_seen_us)} · ${station.open_alerts} open alert(s)${silent ? " · silent" : ""}`));
    nodes.push(dot);
    dots.push({ x: cx - r - 1, y: cy - r - 1, w: 2 * r + 2, h: 2 * r + 2 });
    const text = svg("text", { class: "label", x: cx + 9, y: cy + 3 }, shortName(station));
    text.dataset.station = station.id;
    nodes.push(text);
    labels.push({ node: text, cx, cy });
  }
  map.replaceChildren(...nodes);
  // Crowded stations (most neighbours first) choose their spot first.
  const crowd = (l) => labels.filter((o) => Math.hypot(o.cx - l.cx, o.cy - l.cy) < 60).length;
  labels.sort((a, b) => crowd(b) - crowd(a) || a.cx - b.cx);
  placeLabels(map, labels, dots, width, height);
}

function latestCell(station) {
  // Key variables in the row, every variable on demand; values in their units, suspect ones marked.
  const byId = new Map(state.variables.map((v) => [v.id, v]));
  const readings = station.latest
    .filter((r) => byId.has(r.variable))
    .sort((a, b) => state.variables.indexOf(byId.get(a.variable)) - state.variables.indexOf(byId.get(b.variable)));
  const text = (r) => {
    const v = byId.get(r.variable);
    return `${v.label} ${withUnit(r.value, v.unit)}${r.qc_flag >= 3 ? " (QC " + r.qc_flag + ")" : ""}`;
  };
  const key = readings.filter((r) => byId.get(r.variable).key).slice(0, 3);
  const cell = el("td", { class: "latest" }, key.map(text).join(" · ") || "—");
  if (readings.length > key.length) {
    const details = el("details", {}, el("summary", {}, `all ${readings.length}`));
    details.append(el("ul", {}, ...readings.map((r) => el("li", { title: `${r.variable} at ${utc(r.time_us)} UTC` },
      `${text(r)} · ${byId.get(r.variable).label_zh}`))));
    cell.append(details);
  }
  return cell;
}

function renderClock() {
  const clock = $("#data-clock");
  const newest = dataNowUs();
  if (newest === null) { clock.textContent = "no data yet"; clock.className = "clock"; return; }
  if (replaying()) {
    clock.textContent = `replay: data ${duration((state.nowUs - newest) / 1e6)} behind the clock · ages by data time`;
    clock.title = `newest data ${utc(newest)} UTC. Either a replay is catching up or the whole network is quiet;` +
      " station ages and silence are judged against the newest data time, not the wall clock.";
    clock.className = "clock replay";
  } else {
    clock.textContent = `data live · newest ${utc(newest)} UTC`;
    clock.className = "clock";
  }
}

function renderStations() {
  const open = new Set();
  const rows = state.stations.map((s) => {
    const row = el("tr", { dataset: { station: s.id } },
      el("td", { title: s.id }, s.name, el("span", { class: "zh" }, s.name_zh)),
      el("td", {}, s.kind.replace("_", " ")),
      latestCell(s),
      el("td", { class: isSilent(s) ? "stale" : "", title: `${utc(s.last_seen_us)} UTC (data time)` },
        ago(s.last_seen_us)),
      el("td", {}, s.open_alerts ? badge(s.worst_severity) : "", s.open_alerts ? ` ${s.open_alerts}` : ""));
    const before = document.querySelector(`#station-list tr[data-station="${CSS.escape(s.id)}"] details`);
    if (before && before.open) open.add(s.id);
    return row;
  });
  $("#station-list tbody").replaceChildren(...rows);
  for (const id of open) {
    const details = document.querySelector(`#station-list tr[data-station="${CSS.escape(id)}"] details`);
    if (details) details.open = true;  // an operator's open detail survives the live refresh
  }
  renderMap();
  renderClock();
  const select = $("#filter-station");
  if (select.options.length === 1) {
    for (const s of state.stations) select.append(el("option", { value: s.id }, s.name));
  }
}

// -- history -------------------------------------------------------------------------------------
function arrival(e) {
  // When the input that caused the event reached tidewatch, and how long after its data time.
  if (e.received_us === null || e.received_us === undefined) return null;
  const after = duration(Math.max(0, (e.received_us - e.time_us) / 1e6));
  return `input received ${utc(e.received_us)}, ${after} after its data time`;
}

function lateBadge(e) {
  // A slow uplink, a backlog after an outage, a high water graded hours after its peak: judged all
  // the same, and said so.
  if (!e.late) return null;
  return el("span", { class: "late", title: arrival(e) || "its input arrived late" }, "late");
}

function afterState(e) {
  // A correction may leave the alert firing or put it back to pending, which its kind does not say.
  if (!e.state || e.state === e.kind) return null;
  return el("span", { class: "after", title: "the alert's state after this event" }, ` → ${e.state}`);
}

function historyRow(e) {
  const key = `${e.alert_id}#${e.seq}`;
  const more = el("button", { class: "more", type: "button", title: "show the whole event" }, "details");
  const row = el("tr", { dataset: { event: key } },
    el("td", { title: "when tidewatch stored the event (wall clock)" }, utc(e.recorded_us)),
    el("td", { title: "the data time the event refers to; an operator action carries its wall time" },
      utc(e.time_us)),
    el("td", { class: "kind" }, e.kind, afterState(e), lateBadge(e)), el("td", {}, badge(e.severity)),
    stationCell(e.station), el("td", { title: e.rule }, e.rule),
    el("td", { class: "value" }, alertValue(e.rule, e.value)),
    el("td", { class: "message truncated", title: e.message_en }, e.message_en),
    el("td", { title: e.actor || "" }, e.actor_name || ""),
    el("td", {}, more));
  const detail = el("tr", { class: "event-detail", dataset: { event: key } }, el("td", { colspan: 10 },
    el("p", {}, e.message_en), el("p", { class: "zh" }, e.message_zh),
    el("p", { class: "note" }, `alert ${e.alert_id} · event ${e.seq} · ${ruleTitle(e.rule)}` +
      (e.actor ? ` · by ${e.actor_name || e.actor} (${e.actor})` : "") + (e.comment ? ` · “${e.comment}”` : "") +
      ` · notified: ${e.channels.length ? e.channels.join(", ") : "none"}`),
    arrival(e) ? el("p", { class: "arrival" }, lateBadge(e), " ", arrival(e)) : null));
  detail.hidden = !state.expanded.has(key);
  more.addEventListener("click", () => {
    detail.hidden = !detail.hidden;
    if (detail.hidden) state.expanded.delete(key); else state.expanded.add(key);
  });
  return [row, detail];
}

// -- incidents (groups of alerts across stations) ----------------------------------------------------
function memberItem(m) {
  return el("li", { class: m.open ? "member" : "member closed" }, badge(m.severity), " ",
    stationName(m.station), ` · ${m.rule} · ${m.kind}`,
    m.acknowledged_by ? ` · acknowledged by ${m.acknowledged_by}` : "",
    el("div", { class: "message" }, m.message_en), el("div", { class: "message zh" }, m.message_zh));
}

function groupItem(g) {
  const open = g.members.filter((m) => m.open).length;
  const item = el("details", { class: `group ${g.state}`, dataset: { group: g.group_id } },
    el("summary", {}, badge(g.severity), ` ${g.spec} · ${g.state} · ${open} of ${g.members.length} stations open`,
      ` · since ${utc(g.window_start_us)} window · updated ${utc(g.updated_us)} · notice ${g.revision + 1}`),
    el("ul", { class: "members" }, ...g.members.map(memberItem)),
    el("p", { class: "note" }, g.group_id));
  item.open = state.openGroups.has(g.group_id);
  item.addEventListener("toggle", () => {
    if (item.open) state.openGroups.add(g.group_id); else state.openGroups.delete(g.group_id);
  });
  return item;
}

async function loadGroups() {
  try {
    state.groups = (await api("api/groups")).groups;
  } catch (error) {
    $("#group-list").replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  $("#group-list").replaceChildren(...state.groups.map(groupItem));
  $("#group-count").textContent = state.groups.filter((g) => g.state === "open").length;
  $("#no-groups").hidden = state.groups.length > 0;
}

async function loadHistory() {
  const form = $("#history-filter");
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  params.set("limit", state.history.limit);
  params.set("offset", state.history.offset);
  try {
    const page = await api(`api/alerts/history?${params}`);
    state.history = { ...state.history, more: page.more };
    $("#history-events tbody").replaceChildren(...page.events.flatMap(historyRow));
    const first = page.events.length ? page.offset + 1 : 0;
    $("#history-page").textContent = page.events.length
      ? `events ${first}–${page.offset + page.events.length}, newest first` : "no events";
    $("#history-newer").disabled = page.offset === 0;
    $("#history-older").disabled = !page.more;
  } catch (error) {
    $("#history-events tbody").replaceChildren(el("tr", {}, el("td", { colspan: 10, class: "error" },
      error.message)));
  }
}

function turnPage(step) {
  state.history.offset = Math.max(0, state.history.offset + step * state.history.limit);
  loadHistory();
}

// -- session -------------------------------------------------------------------------------------
function renderSession() {
  $("#signin").hidden = !!state.operator;
  $("#signed-in").hidden = !state.operator;
  $("#operator-name").textContent = state.operator ? state.operator.display_name : "";
  $("#actions-off").hidden = state.actionsEnabled;
  renderAlerts();
  renderSilences();
  loadSchedules();
  $("#qc-submit").disabled = !state.operator;
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
    loadGroups();
  });
  source.addEventListener("stations", (event) => {
    const data = JSON.parse(event.data);
    const first = !state.stations.length;
    Object.assign(state, { stations: data.stations, nowUs: data.now_us });
    renderStations();
    if (first) {  // station names now known
      renderAlerts(); renderSilences(); loadHistory(); loadSchedules();
      for (const s of state.stations) $("#schedule-station").append(el("option", { value: s.id }, s.name));
      for (const s of state.stations) $("#qc-station").append(el("option", { value: s.id }, s.name));
      loadManualQc();
    }
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
  Object.assign(state, { rules: meta.rules, operator: meta.operator, actionsEnabled: meta.actions_enabled,
    variables: meta.variables });
  for (const rule of meta.rules) $("#filter-rule").append(el("option", { value: rule.id }, rule.title_en));
  for (const sev of meta.severities) $("#filter-severity").append(el("option", { value: sev }, sev));
  for (const kind of meta.kinds) $("#filter-kind").append(el("option", { value: kind }, kind));
  scheduleForm();
  manualQcForm();
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  $("#history-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    state.history.offset = 0;
    loadHistory();
  });
  $("#history-newer").addEventListener("click", () => turnPage(-1));
  $("#history-older").addEventListener("click", () => turnPage(1));
  const year = new Date().getUTCFullYear(), report = $("#annual-report");
  report.href = "/api/v1/reports/annual?year=" + year;
  report.textContent = "年度报告 annual report " + year;
  renderSession();
  connect();
}

start();
