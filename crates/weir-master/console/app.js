// Weir console: polls the master's /api/v1/ every second and renders the cluster, a job or a
// worker page. Chart history (15 minutes) is kept in this tab only; the master keeps none.
"use strict";

const POLL_MS = 1000;
const HISTORY_MS = 15 * 60 * 1000;
const CHECKPOINTS_KEPT = 50;

// History per worker: [t, rss, reserved, limit]; per job: [t, rows/s, bytes/s, lag];
// per job and split: [t, lag]; per job: checkpoints seen, newest first.
const history = { workers: new Map(), jobs: new Map(), splits: new Map(), checkpoints: new Map() };
let lastCluster = null;
let lastDetail = null;
let lastError = null;

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function bytes(n) {
  if (n === null || n === undefined || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

function num(n, digits = 0) {
  if (n === null || n === undefined || n < 0) return "–";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits });
}

// Axis labels: small scales keep a decimal so 0.5 does not read 1.
function axisNumber(n) {
  return num(n, n < 10 ? 1 : 0);
}

function age(ms) {
  if (!ms) return "never";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return s.toFixed(0) + " s ago";
  if (s < 3600) return (s / 60).toFixed(0) + " min ago";
  return (s / 3600).toFixed(1) + " h ago";
}

function stateBadge(state) {
  const good = ["Running", "ALIVE", "Finished", "Stopped", "normal"];
  const bad = ["Failed", "DEAD", "Lost", "Cancelled", "paused"];
  const cls = good.includes(state) ? "ok" : bad.includes(state) ? "bad" : "warn";
  return `<span class="badge ${cls}">${esc(state)}</span>`;
}

function push(map, key, row) {
  let rows = map.get(key);
  if (!rows) { rows = []; map.set(key, rows); }
  rows.push(row);
  const oldest = row[0] - HISTORY_MS;
  while (rows.length && rows[0][0] < oldest) rows.shift();
}

// A line chart as SVG: `series` = [{ name, color, points: [[t, v], …] }] over the last 15 min.
function chart(series, format, label) {
  const W = 600, H = 160, L = 64, R = 8, T = 10, B = 20;
  const now = Date.now();
  let max = 0, count = 0, first = now;
  for (const s of series) for (const [t, v] of s.points) { if (v > max) max = v; if (t < first) first = t; count++; }
  max = max > 0 ? max * 1.1 : 1;
  // The time axis spans what this tab has seen, from one minute up to 15 minutes.
  const span = Math.min(HISTORY_MS, Math.max(60 * 1000, now - first));
  const t0 = now - span;
  const x = (t) => L + ((t - t0) / span) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const lines = series.map((s) => {
    const pts = s.points.filter(([t]) => t >= t0).map(([t, v]) => `${x(t).toFixed(1)},${y(Math.max(0, v)).toFixed(1)}`);
    return `<polyline data-series="${esc(s.name)}" stroke="${s.color}" points="${pts.join(" ")}"></polyline>`;
  });
  const legend = series.map((s) => `<span><span class="swatch" style="background:${s.color}"></span>${esc(s.name)}</span>`).join(" ");
  return `<svg class="chart" data-points="${count}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}">
    <line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"></line>
    <line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"></line>
    <line class="axis" x1="${L}" y1="${y(max / 2)}" x2="${W - R}" y2="${y(max / 2)}" stroke-dasharray="3 3"></line>
    <text x="${L - 4}" y="${T + 8}" text-anchor="end">${esc(format(max))}</text>
    <text x="${L - 4}" y="${y(max / 2) + 3}" text-anchor="end">${esc(format(max / 2))}</text>
    <text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>
    <text x="${L}" y="${H - 5}">−${span >= 120000 ? Math.round(span / 60000) + " min" : Math.round(span / 1000) + " s"}</text>
    <text x="${W - R}" y="${H - 5}" text-anchor="end">now</text>
    ${lines.join("")}
  </svg><div class="muted">${legend}</div>`;
}

function memoryChart(workerId) {
  const rows = history.workers.get(workerId) || [];
  return chart([
    { name: "RSS", color: "var(--rss)", points: rows.map((r) => [r[0], r[1]]) },
    { name: "reserved", color: "var(--reserved)", points: rows.map((r) => [r[0], r[2]]) },
    { name: "limit", color: "var(--limit)", points: rows.map((r) => [r[0], r[3]]) },
  ], bytes, `memory of worker ${workerId}`);
}

function record(cluster) {
  const t = Date.now();
  for (const w of cluster.workers) {
    if (w.state === "ALIVE") push(history.workers, w.worker_id, [t, w.rss_bytes, w.reserved_bytes, w.memory_limit_bytes]);
  }
  for (const j of cluster.jobs) {
    if (["Running", "Stopping", "Recovering", "Scheduled"].includes(j.state)) {
      push(history.jobs, j.job_id, [t, j.rows_per_second, j.bytes_per_second, j.consumer_lag]);
    }
  }
}

function recordDetail(detail) {
  const t = Date.now();
  for (const task of detail.tasks) {
    for (const s of (task.metrics && task.metrics.splits) || []) {
      push(history.splits, detail.job_id + "/" + s.split, [t, s.lag]);
    }
  }
  const c = detail.checkpoints;
  if (c.last_completed_id > 0) {
    let seen = history.checkpoints.get(detail.job_id);
    if (!seen) { seen = []; history.checkpoints.set(detail.job_id, seen); }
    if (!seen.length || seen[0].id !== c.last_completed_id) {
      seen.unshift({ id: c.last_completed_id, at: c.last_completed_at_ms, duration: c.last_duration_ms });
      seen.length = Math.min(seen.length, CHECKPOINTS_KEPT);
    }
  }
}

function clusterPage(cluster) {
  const workers = cluster.workers.map((w) => `
    <div class="card" data-worker="${esc(w.worker_id)}">
      <h3><a href="#/workers/${encodeURIComponent(w.worker_id)}">${esc(w.worker_id)}</a> ${stateBadge(w.state)} ${stateBadge(w.pressure)}</h3>
      <div class="figures">
        <span><span class="swatch" style="background:var(--rss)"></span>RSS <b class="rss">${bytes(w.rss_bytes)}</b></span>
        <span><span class="swatch" style="background:var(--reserved)"></span>reserved <b>${bytes(w.reserved_bytes)}</b></span>
        <span><span class="swatch" style="background:var(--limit)"></span>limit <b>${bytes(w.memory_limit_bytes)}</b></span>
        <span>tasks <b>${w.task_ids.length}</b></span>
      </div>
      ${memoryChart(w.worker_id)}
      <div class="muted">${w.task_ids.map(esc).join(", ") || "no tasks"}</div>
    </div>`).join("");
  const jobs = cluster.jobs.slice().reverse().map((j) => `
    <tr data-job="${esc(j.job_id)}">
      <td><a href="#/jobs/${encodeURIComponent(j.job_id)}">${esc(j.name)}</a><div class="muted">${esc(j.job_id)}</div></td>
      <td>${stateBadge(j.state)}<div class="reason">${esc(j.state_reason)}</div></td>
      <td class="num">${num(j.rows_per_second)}</td>
      <td class="num">${bytes(j.bytes_per_second)}/s</td>
      <td class="num">${num(j.consumer_lag)}</td>
      <td class="num">${num(j.rows_written)}</td>
      <td>${j.last_checkpoint_id ? "#" + j.last_checkpoint_id : "none"}</td>
    </tr>`).join("");
  return `<h1>Cluster</h1>
    <h2>Workers (${cluster.workers.length})</h2>
    <div class="grid">${workers || '<p class="muted">No worker has registered.</p>'}</div>
    <h2>Jobs (${cluster.jobs.length})</h2>
    <table id="jobs"><thead><tr><th>Job</th><th>State</th><th class="num">Rows/s</th><th class="num">Bytes/s</th>
      <th class="num">Lag</th><th class="num">Rows written</th><th>Last checkpoint</th></tr></thead>
    <tbody>${jobs || '<tr><td colspan="7" class="muted">No job submitted.</td></tr>'}</tbody></table>`;
}

function fill(level, bound, format) {
  const share = bound > 0 ? Math.min(1, level / bound) : 0;
  return `<div class="bar${share > 0.8 ? " high" : ""}" title="${esc(format(level))} of ${esc(format(bound))}">
    <span style="width:${(share * 100).toFixed(1)}%"></span><em>${esc(format(level))} / ${esc(format(bound))}</em></div>`;
}

function jobPage(detail) {
  const splits = detail.tasks.flatMap((task) => ((task.metrics && task.metrics.splits) || []).map((s) => ({ task, s })));
  const total = Math.max(1, splits.length);
  const limit = detail.read_limit || {};
  const share = (perJob) => (perJob ? perJob / total : null);
  const rowsShare = share(limit.rows_per_second), bytesShare = share(limit.bytes_per_second);
  const splitRows = splits.map(({ task, s }) => `
    <tr data-split="${esc(s.split)}">
      <td>${esc(s.split)}</td><td>${esc(task.task_id)}</td>
      <td class="num">${num(s.rows_per_second)}${rowsShare ? " / " + num(rowsShare, 1) : ""}</td>
      <td class="num">${bytes(s.bytes_per_second)}/s${bytesShare ? " / " + bytes(bytesShare) + "/s" : ""}</td>
      <td>${fill(s.queue_bytes, s.queue_max_bytes, bytes)}</td>
      <td>${detail.queue_max_rows ? fill(s.queue_rows, detail.queue_max_rows, (n) => num(n)) : num(s.queue_rows)}</td>
      <td class="num">${bytes(s.prefetch_bytes)}</td>
      <td class="num">${num(s.lag)}</td>
      <td class="num">${num(s.records_skipped)}</td>
    </tr>`).join("");
  const tasks = detail.tasks.map((t) => `
    <tr><td>${esc(t.task_id)}</td><td><a href="#/workers/${encodeURIComponent(t.worker_id)}">${esc(t.worker_id)}</a></td>
      <td>${stateBadge(t.state)}</td><td class="num">${bytes(t.reserved_bytes)}</td>
      <td class="num">${num(t.metrics && t.metrics.rows_written)}</td>
      <td>${fill((t.metrics && t.metrics.sink_buffer_bytes) || 0, (t.metrics && t.metrics.sink_buffer_max_bytes) || 0, bytes)}</td>
      <td class="reason">${esc(t.state_reason)}${t.metrics && t.metrics.last_error ? `<div class="error">${esc(t.metrics.last_error)}</div>` : ""}</td></tr>`).join("");
  const rows = history.jobs.get(detail.job_id) || [];
  const lagSeries = [{ name: "job lag", color: "var(--limit)", points: rows.filter((r) => r[3] >= 0).map((r) => [r[0], r[3]]) }];
  const palette = ["#2f6fdb", "#1f8f4e", "#8e44ad", "#e08a1e", "#16a085", "#7f8c8d"];
  splits.slice(0, palette.length).forEach(({ s }, i) => {
    const lag = (history.splits.get(detail.job_id + "/" + s.split) || []).filter((r) => r[1] >= 0);
    lagSeries.push({ name: s.split, color: palette[i], points: lag });
  });
  const c = detail.checkpoints;
  const seen = (history.checkpoints.get(detail.job_id) || []).map((k) => `
    <tr><td>#${k.id}</td><td>${new Date(k.at).toLocaleTimeString()}</td><td class="num">${num(k.duration)} ms</td></tr>`).join("");
  return `<h1>${esc(detail.name)} ${stateBadge(detail.state)}</h1>
    <div class="muted">${esc(detail.job_id)} · parallelism ${detail.parallelism} · ${bytes(detail.subtask_reservation_bytes)} reserved per subtask</div>
    <div class="reason">${esc(detail.state_reason)}</div>
    <div class="figures">
      <span>rows read <b>${num(detail.rows_read)}</b></span><span>rows written <b>${num(detail.rows_written)}</b></span>
      <span>rows/s <b>${num(detail.rows_per_second)}</b>${limit.rows_per_second ? " of " + num(limit.rows_per_second) : ""}</span>
      <span>bytes/s <b>${bytes(detail.bytes_per_second)}/s</b>${limit.bytes_per_second ? " of " + bytes(limit.bytes_per_second) + "/s" : ""}</span>
      <span>lag <b>${num(detail.consumer_lag)}</b></span><span>skipped <b>${num(detail.records_skipped)}</b></span>
      <span>queues <b>${bytes(detail.queue_bytes)}</b></span>
    </div>
    <div class="grid">
      <div class="card"><h3>Throughput</h3>${chart([
        { name: "rows/s", color: "var(--rss)", points: rows.map((r) => [r[0], r[1]]) },
      ], axisNumber, "rows per second")}</div>
      <div class="card"><h3>Consumer lag</h3>${chart(lagSeries, axisNumber, "consumer lag")}</div>
    </div>
    <h2>Splits</h2>
    <table><thead><tr><th>Split</th><th>Task</th><th class="num">Rows/s (of limit)</th><th class="num">Bytes/s (of limit)</th>
      <th>Queue bytes</th><th>Queue rows</th><th class="num">Prefetch</th><th class="num">Lag</th><th class="num">Skipped</th></tr></thead>
      <tbody>${splitRows || '<tr><td colspan="9" class="muted">No split is being read.</td></tr>'}</tbody></table>
    <h2>Subtasks</h2>
    <table><thead><tr><th>Task</th><th>Worker</th><th>State</th><th class="num">Reserved</th><th class="num">Rows written</th>
      <th>Sink buffer</th><th>Reason / error</th></tr></thead><tbody>${tasks}</tbody></table>
    <h2>Checkpoints</h2>
    <div class="figures"><span>completed <b>${c.completed}</b></span><span>failed <b>${c.failed}</b></span>
      <span>last <b>${c.last_completed_id ? "#" + c.last_completed_id + " " + age(c.last_completed_at_ms) + ", " + num(c.last_duration_ms) + " ms" : "none"}</b></span>
      ${c.restored_from_id ? `<span>restored from <b>#${c.restored_from_id}</b></span>` : ""}</div>
    ${c.last_failure ? `<div class="error">Latest failure: ${esc(c.last_failure)}</div>` : ""}
    <table><thead><tr><th>Checkpoint</th><th>Completed</th><th class="num">Duration</th></tr></thead>
      <tbody>${seen || '<tr><td colspan="3" class="muted">None seen since this page opened.</td></tr>'}</tbody></table>
    <details><summary>Job file (secrets redacted)</summary><pre class="config">${esc(detail.config)}</pre></details>`;
}

function workerPage(worker) {
  const tasks = worker.tasks.map((t) => `
    <tr><td>${esc(t.task_id)}</td><td><a href="#/jobs/${encodeURIComponent(t.job_id)}">${esc(t.job_name)}</a></td>
      <td>${stateBadge(t.state)}</td><td class="num">${bytes(t.reserved_bytes)}</td>
      <td class="num">${num(t.metrics && t.metrics.rows_per_second)}</td>
      <td class="num">${bytes(t.metrics && t.metrics.queue_bytes)}</td>
      <td class="reason">${esc(t.state_reason)}</td></tr>`).join("");
  return `<h1>Worker ${esc(worker.worker_id)} ${stateBadge(worker.state)} ${stateBadge(worker.pressure)}</h1>
    <div class="muted">${esc(worker.address)} · ${worker.cores} cores · last heartbeat ${num(worker.last_heartbeat_age_ms)} ms ago</div>
    <div class="figures">
      <span>RSS <b>${bytes(worker.rss_bytes)}</b></span><span>reserved <b>${bytes(worker.reserved_bytes)}</b>
      ${worker.worker_reserved_bytes !== worker.reserved_bytes ? "(worker says " + bytes(worker.worker_reserved_bytes) + ")" : ""}</span>
      <span>limit <b>${bytes(worker.memory_limit_bytes)}</b></span>
      <span>cgroup limit <b>${worker.cgroup_limit_bytes ? bytes(worker.cgroup_limit_bytes) : "none"}</b></span>
      <span>host <b>${bytes(worker.system_available_bytes)}</b> free of <b>${bytes(worker.system_total_bytes)}</b></span>
    </div>
    <div class="card">${memoryChart(worker.worker_id)}</div>
    <h2>Tasks</h2>
    <table><thead><tr><th>Task</th><th>Job</th><th>State</th><th class="num">Reserved</th><th class="num">Rows/s</th>
      <th class="num">Queues</th><th>Reason</th></tr></thead>
      <tbody>${tasks || '<tr><td colspan="7" class="muted">No task runs here.</td></tr>'}</tbody></table>`;
}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const job = hash.match(/^\/jobs\/(.+)$/);
  if (job) return { kind: "job", id: decodeURIComponent(job[1]) };
  const worker = hash.match(/^\/workers\/(.+)$/);
  if (worker) return { kind: "worker", id: decodeURIComponent(worker[1]) };
  return { kind: "cluster" };
}

// A master with a tokens file answers 401 without a token: the console asks for one and keeps
// it in this tab's session storage only (never in a cookie, so other sites cannot send it).
const TOKEN_KEY = "weir-token";
let needToken = false;

class Unauthorized extends Error {}

async function getJson(path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, { cache: "no-store", headers });
  if (response.status === 401) {
    throw new Unauthorized((await response.text()).trim());
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function tokenForm(message) {
  return `<form id="token-form" class="card login">
    <h3>This master needs a token</h3>
    <p class="muted">${esc(message)}</p>
    <label>Token <input id="token-input" type="password" autocomplete="off" placeholder="weir_…" required></label>
    <button type="submit">Open the console</button>
    <p class="muted">Any role may read the console; <code>weir token new --role viewer</code> makes one.</p>
  </form>`;
}

function showTokenForm(message) {
  const page = document.getElementById("page");
  if (document.getElementById("token-form")) return;
  page.innerHTML = tokenForm(message);
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
    needToken = false;
    tick();
  });
}

function render() {
  if (needToken) return;
  const page = document.getElementById("page");
  const here = route();
  if (lastError && !lastCluster) {
    page.innerHTML = `<p class="error">${esc(lastError)}</p>`;
  } else if (here.kind === "job" && lastDetail && lastDetail.job_id === here.id) {
    page.innerHTML = jobPage(lastDetail);
  } else if (here.kind === "worker" && lastDetail && lastDetail.worker_id === here.id) {
    page.innerHTML = workerPage(lastDetail);
  } else if (here.kind !== "cluster" && lastError) {
    page.innerHTML = `<p class="error">${esc(lastError)}</p>`;
  } else if (lastCluster && here.kind === "cluster") {
    page.innerHTML = clusterPage(lastCluster);
  }
}

async function tick() {
  if (needToken) return;
  const status = document.getElementById("status");
  const here = route();
  try {
    lastCluster = await getJson("/api/v1/cluster");
    record(lastCluster);
    lastError = null;
    if (here.kind === "job") {
      lastDetail = await getJson("/api/v1/jobs/" + encodeURIComponent(here.id));
      recordDetail(lastDetail);
    } else if (here.kind === "worker") {
      lastDetail = await getJson("/api/v1/workers/" + encodeURIComponent(here.id));
    } else {
      lastDetail = null;
    }
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.classList.remove("down");
  } catch (error) {
    if (error instanceof Unauthorized) {
      const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
      sessionStorage.removeItem(TOKEN_KEY);
      needToken = true;
      status.textContent = "token needed";
      status.classList.add("down");
      showTokenForm(hadToken ? "The token was refused: " + error.message : error.message);
      return;
    }
    lastError = String(error.message || error);
    status.textContent = "master unreachable: " + lastError;
    status.classList.add("down");
  }
  render();
}

window.addEventListener("hashchange", () => { lastDetail = null; tick(); });
tick();
setInterval(tick, POLL_MS);
