// The job-runner dashboard, on the same protocol as PAGI's job runner: forms
// from the job types in `queue_state`, the live queue from the WebSocket
// /ws/queue (reconnecting, answering the server's pings), a progress bar per
// running job from its SSE stream /api/jobs/:id/progress. Every update
// carries its position in the server's event topic (`seq`, or the SSE id
// "<instance>-<seq>"), so an older update never overwrites a newer one,
// whichever way it came.

const $ = (selector, root = document) => root.querySelector(selector);
const jobs = new Map(); // id -> { job, seq, el }
const streams = new Map(); // id -> EventSource
const MAX_STREAMS = 3; // browsers allow ~6 connections per host; keep room for the API
const FINAL = new Set(["completed", "failed", "cancelled"]);

// ---- rendering -------------------------------------------------------------

function describeParams(job) {
  return Object.entries(job.params)
    .map(([key, value]) => {
      const text = typeof value === "string" ? JSON.stringify(value) : String(value);
      return `${key}: ${text.length > 60 ? `${text.slice(0, 57)}…` : text}`;
    })
    .join(", ");
}

function describeResult(job) {
  if (job.status === "failed") return job.error ?? "failed";
  if (job.status !== "completed" || job.result == null) return "";
  const result = job.result;
  if (job.type === "fibonacci") return `${result.message}:\n[${result.sequence.join(", ")}]`;
  if (job.type === "prime") {
    const sample = result.sample.filter((p) => p !== null).join(", ");
    return `${result.message}, largest ${result.largest}\nfirst: ${sample}`;
  }
  return result.message ?? JSON.stringify(result);
}

function render(entry) {
  const { job } = entry;
  let el = entry.el;
  if (!el) {
    el = $("#job-template").content.firstElementChild.cloneNode(true);
    el.dataset.jobId = String(job.id);
    $(".cancel", el).addEventListener("click", () => cancelJob(job.id));
    entry.el = el;
    const list = $("#jobs");
    const after = [...list.children].find((other) => Number(other.dataset.jobId) < job.id);
    list.insertBefore(el, after ?? null); // newest first
  }
  el.dataset.status = job.status;
  $(".job-title", el).textContent = `#${job.id} ${job.type}`;
  $(".status", el).textContent = job.status;
  $(".params", el).textContent = describeParams(job);
  const pct = Math.max(0, Math.min(100, Math.round(job.progress?.percent ?? 0)));
  $(".fill", el).style.width = `${pct}%`;
  $(".pct", el).textContent = `${pct}%`;
  $(".bar", el).setAttribute("aria-valuenow", String(pct));
  $(".message", el).textContent = job.progress?.message ?? "";
  const result = describeResult(job);
  const pre = $(".result", el);
  pre.hidden = result === "";
  pre.textContent = result;
  $(".cancel", el).hidden = FINAL.has(job.status);
}

/** The counts of every job (the queue shows a page of them); `statsSeq` orders them. */
let stats = { total: 0, pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
let statsSeq = -1;

function setStats(next, seq) {
  if (!next || seq < statsSeq) return;
  stats = next;
  statsSeq = seq;
}

function renderStats() {
  for (const [key, value] of Object.entries(stats))
    $(`[data-stat="${key}"]`).textContent = String(value);
  $("#empty").hidden = jobs.size > 0;
}

function renderWorker(worker) {
  if (!worker) return;
  $("#worker-active").textContent = String(worker.active);
  $("#worker-capacity").textContent = String(worker.capacity);
  $("#worker-processed").textContent = String(worker.processed);
}

/** The server run our positions belong to: they start again at 1 after a restart. */
let instance;

/** Applies `change` to job `id` as of topic position `seq`, unless something newer is known. */
function update(id, seq, change) {
  const entry = jobs.get(id);
  if (!entry || seq <= entry.seq) return;
  change(entry.job);
  entry.seq = seq;
  render(entry);
  follow(entry.job);
}

/** Takes a whole record seen at `seq` (`force` for the state of a new server run). */
function put(job, seq, force = false) {
  let entry = jobs.get(job.id);
  if (entry && seq <= entry.seq && !force) return;
  if (!entry) {
    entry = { job, seq, el: undefined };
    jobs.set(job.id, entry);
  }
  entry.job = job;
  entry.seq = seq;
  render(entry);
  follow(job);
}

function remove(id) {
  const entry = jobs.get(id);
  entry?.el?.remove();
  jobs.delete(id);
  streams.get(id)?.close();
  streams.delete(id);
}

/** What each job event (WebSocket `data`, or an SSE payload) changes in a record. */
const changes = {
  job_started: (data) => (job) => {
    job.status = "running";
    job.started_at = data.started_at;
    job.progress = { percent: 0, message: "Starting..." };
  },
  job_progress: (data) => (job) => {
    job.progress = { percent: data.percent, message: data.message };
  },
  job_completed: (data) => (job) => {
    job.status = "completed";
    job.result = data.result;
    job.progress = { percent: 100, message: "Complete" };
  },
  job_failed: (data) => (job) => {
    job.status = "failed";
    job.error = data.error;
  },
  job_cancelled: () => (job) => {
    job.status = "cancelled";
  },
};

// ---- SSE: one progress stream per running job --------------------------------

function follow(job) {
  if (FINAL.has(job.status)) {
    streams.get(job.id)?.close();
    streams.delete(job.id);
    return;
  }
  if (job.status !== "running" || streams.has(job.id) || streams.size >= MAX_STREAMS) return;
  const source = new EventSource(`/api/jobs/${job.id}/progress`);
  streams.set(job.id, source);
  const on = (name, change, last = false) =>
    source.addEventListener(name, (event) => {
      if (last) {
        source.close(); // the stream is over; do not let EventSource reconnect
        streams.delete(job.id);
      }
      // ids are "<instance>-<seq>"; ignore a stream from another server run
      const [from, seq] = event.lastEventId.split("-");
      if (from === instance) update(job.id, Number(seq), change(JSON.parse(event.data)));
      if (last) startWaitingStreams();
    });
  on("status", (data) => (record) => {
    record.status = data.status;
    record.progress = data.progress;
    record.started_at = data.started_at;
  });
  on("progress", changes.job_progress);
  on("complete", changes.job_completed, true);
  on("failed", changes.job_failed, true);
  on("cancelled", changes.job_cancelled, true);
}

function startWaitingStreams() {
  for (const { job } of jobs.values()) follow(job);
}

// ---- WebSocket: the queue, reconnecting --------------------------------------

let socket;
let retryMs = 500;

function setConnection(state, text) {
  const el = $("#conn");
  el.className = `conn ${state}`;
  el.textContent = text;
}

function onMessage(message) {
  switch (message.type) {
    case "queue_state": {
      const restarted = message.instance !== instance;
      if (restarted) {
        // a new server run: its positions are not comparable with ours
        instance = message.instance;
        for (const source of streams.values()) source.close();
        streams.clear();
        statsSeq = -1;
      }
      if (message.job_types) buildForms(message.job_types);
      const seen = new Set();
      for (const job of message.jobs) {
        seen.add(job.id);
        put(job, message.seq, restarted);
      }
      for (const id of [...jobs.keys()]) if (!seen.has(id)) remove(id);
      setStats(message.stats, message.seq);
      renderWorker(message.worker);
      break;
    }
    case "job_created":
      put(message.data, message.seq);
      break;
    case "jobs_cleared":
      for (const id of message.data.ids ?? []) remove(id);
      break;
    case "worker_stats":
      renderWorker(message.data);
      break;
    case "ping":
      socket.send(JSON.stringify({ type: "pong", ts: message.ts }));
      break;
    case "error":
      showError(message.message);
      break;
    default: {
      const change = changes[message.type];
      if (change) update(message.data.job_id, message.seq, change(message.data));
    }
  }
  setStats(message.stats, message.seq);
  renderStats();
}

function connect() {
  setConnection("connecting", "connecting…");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/queue`;
  socket = new WebSocket(url);
  socket.addEventListener("open", () => {
    retryMs = 500;
    setConnection("connected", "live");
  });
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    const seconds = Math.round(retryMs / 100) / 10;
    setConnection("reconnecting", `reconnecting in ${seconds}s`);
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 8000);
  });
}

// ---- actions -----------------------------------------------------------------

function showError(text) {
  const el = $("#form-error");
  el.textContent = text;
  el.hidden = !text;
}

async function request(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

async function cancelJob(id) {
  try {
    await request("DELETE", `/api/jobs/${id}`);
  } catch (error) {
    showError(error.message);
  }
}

let formsBuilt = "";

function buildForms(types) {
  const key = JSON.stringify(types);
  if (key === formsBuilt) return; // keep what the user typed across reconnects
  formsBuilt = key;
  const forms = $("#forms");
  forms.textContent = "";
  for (const type of types) {
    const form = document.createElement("form");
    form.dataset.type = type.name;
    const title = document.createElement("h3");
    title.textContent = type.name;
    const about = document.createElement("p");
    about.textContent = type.description;
    form.append(title, about);
    for (const param of type.params) {
      const label = document.createElement("label");
      label.append(param.description);
      const input = document.createElement("input");
      input.name = param.name;
      input.required = true;
      if (param.type === "string") {
        input.type = "text";
        if (param.max_length !== undefined) input.maxLength = param.max_length;
      } else {
        input.type = "number";
        input.min = String(param.min);
        input.max = String(param.max);
        input.step = "1";
        input.inputMode = "numeric";
      }
      input.value = String(param.default);
      label.append(input);
      form.append(label);
    }
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.textContent = `Run ${type.name}`;
    form.append(submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const params = {};
      for (const param of type.params) {
        const raw = form.elements[param.name].value;
        params[param.name] = param.type === "string" ? raw : Number(raw);
      }
      submit.disabled = true;
      try {
        await request("POST", "/api/jobs", { job_type: type.name, params });
        showError("");
      } catch (error) {
        showError(error.message);
      } finally {
        submit.disabled = false;
      }
    });
    forms.append(form);
  }
}

$("#clear").addEventListener("click", async () => {
  try {
    await request("POST", "/api/jobs/clear-completed");
  } catch (error) {
    showError(error.message);
  }
});

connect();
