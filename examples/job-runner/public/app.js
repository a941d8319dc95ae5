// The job-runner dashboard: forms from /api/job-types, the live queue from the
// WebSocket /ws/queue (reconnecting), a progress bar per running job from its
// SSE stream /api/jobs/:id/progress. Every update carries the topic's sequence
// number, so an older update never overwrites a newer one, whichever way it came.

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
  if (job.job_type === "fibonacci") {
    const shown = result.sequence.slice(0, 20).join(", ");
    return `${result.terms} terms, last has ${result.digits} digits:\n${result.last}\n[${shown}${result.terms > 20 ? ", …" : ""}]`;
  }
  if (job.job_type === "prime") return `${result.count} primes, largest ${result.largest}`;
  return JSON.stringify(result);
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
    list.insertBefore(el, list.firstChild); // newest first
  }
  el.dataset.status = job.status;
  $(".job-title", el).textContent = `#${job.id} ${job.job_type}`;
  $(".status", el).textContent = job.status;
  $(".params", el).textContent = describeParams(job);
  const pct = Math.max(0, Math.min(100, Math.round(job.progress)));
  $(".fill", el).style.width = `${pct}%`;
  $(".pct", el).textContent = `${pct}%`;
  $(".bar", el).setAttribute("aria-valuenow", String(pct));
  $(".message", el).textContent = job.message ?? "";
  const result = describeResult(job);
  const pre = $(".result", el);
  pre.hidden = result === "";
  pre.textContent = result;
  $(".cancel", el).hidden = FINAL.has(job.status);
}

function renderStats() {
  const counts = { total: 0, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const { job } of jobs.values()) {
    counts.total++;
    counts[job.status]++;
  }
  for (const [key, value] of Object.entries(counts))
    $(`[data-stat="${key}"]`).textContent = String(value);
  $("#empty").hidden = counts.total > 0;
}

/** The server run our positions belong to: they start again at 1 after a restart. */
let instance;

/**
 * Applies a job record seen at topic position `seq`, unless something newer
 * is known (`force` for the state of a new server run).
 */
function apply(job, seq, force = false) {
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
  const onEvent = (event) => {
    // ids are "<instance>-<seq>"; ignore a stream from another server run
    const [from, seq] = event.lastEventId.split("-");
    if (from !== instance) return;
    apply(JSON.parse(event.data), Number(seq));
    renderStats();
  };
  for (const name of ["status", "progress"]) source.addEventListener(name, onEvent);
  for (const name of ["complete", "failed", "cancelled"]) {
    source.addEventListener(name, (event) => {
      source.close(); // the stream is over; do not let EventSource reconnect
      streams.delete(job.id);
      onEvent(event);
      startWaitingStreams();
    });
  }
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

function connect() {
  setConnection("connecting", "connecting…");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/queue`;
  socket = new WebSocket(url);
  socket.addEventListener("open", () => {
    retryMs = 500;
    setConnection("connected", "live");
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "queue_state": {
        const restarted = message.instance !== instance;
        if (restarted) {
          // a new server run: its positions are not comparable with ours
          instance = message.instance;
          for (const source of streams.values()) source.close();
          streams.clear();
        }
        const seen = new Set();
        for (const job of message.jobs) {
          seen.add(job.id);
          apply(job, message.seq, restarted);
        }
        for (const id of [...jobs.keys()]) if (!seen.has(id)) remove(id);
        break;
      }
      case "jobs_cleared":
        for (const id of message.ids) remove(id);
        break;
      case "error":
        showError(message.error);
        break;
      case "ack":
        break;
      default:
        if (message.job) apply(message.job, message.seq);
    }
    renderStats();
  });
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

function buildForms(types) {
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
    for (const [name, schema] of Object.entries(type.params)) {
      const label = document.createElement("label");
      const unit = schema.unit ? ` (${schema.unit})` : "";
      label.append(`${schema.description}${unit}`);
      const input = document.createElement("input");
      input.name = name;
      input.required = true;
      if (schema.type === "string") {
        input.type = "text";
        input.maxLength = schema.maxLength;
      } else {
        input.type = "number";
        input.min = String(schema.min);
        input.max = String(schema.max);
        input.step = schema.type === "integer" ? "1" : "any";
        input.inputMode = schema.type === "integer" ? "numeric" : "decimal";
      }
      input.value = String(schema.default);
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
      for (const [name, schema] of Object.entries(type.params)) {
        const raw = form.elements[name].value;
        params[name] = schema.type === "string" ? raw : Number(raw);
      }
      submit.disabled = true;
      try {
        const job = await request("POST", "/api/jobs", { job_type: type.name, params });
        showError("");
        apply(job, 0);
        renderStats();
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

request("GET", "/api/job-types")
  .then(buildForms)
  .catch((error) => showError(`could not load job types: ${error.message}`));
connect();
