/**
 * The job runner's wire protocol, message by message and field by field,
 * against what PAGI's job runner (jjn1056/pagi, examples/11-job-runner,
 * lib/JobRunner/{HTTP,SSE,WebSocket,Queue,Worker,Jobs}.pm) sends: REST bodies
 * and statuses, SSE events and payloads, the WebSocket envelope, events,
 * replies and pings, the job record, the job types. Fields bough adds are
 * listed as extras and nothing else may appear. This is the suite CI relies
 * on; job-runner-pagi-client.test.ts drives PAGI's own client when a mirror
 * of it is present.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { JobRecord } from "../../examples/job-runner/job.js";
import { eventData, sseFinal } from "../../examples/job-runner/wire.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { workerThreads } from "../helpers/threads.js";
import {
  eventually,
  request,
  SseClient,
  type Started,
  seqOf,
  startApp,
  WsClient,
} from "./fixtures/job-runner/helpers.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

let started: Started | undefined;
let url: string;

async function start(options: Parameters<typeof startApp>[0] = {}): Promise<void> {
  started = await startApp({ concurrency: 3, ...options });
  url = started.url;
}

afterEach(async () => {
  await started?.stop();
  started = undefined;
});

const post = (body: unknown) => request(`${url}/api/jobs`, { method: "POST", body });
const postRaw = (raw: string) => request(`${url}/api/jobs`, { method: "POST", raw });

/** Waits for a job to reach `status`; the bound matters only when something is wrong (the first
 * prime job starts a pool worker that compiles through tsx: seconds on a loaded machine). */
async function waitForStatus(id: number, status: string, ms = 25_000): Promise<any> {
  let job: any;
  await eventually(
    () => {
      job = started?.app.runner.list().find((j) => j.id === id);
      return job?.status === status;
    },
    ms,
    `job ${id} ${status}`,
  );
  return job;
}

/** Asserts that `value` has every one of PAGI's `keys` and nothing but them and bough's `extras`. */
function shape(value: unknown, keys: string[], extras: string[] = []): void {
  expect(value).toBeTypeOf("object");
  const own = Object.keys(value as object);
  for (const key of keys) expect(own, `missing ${key}`).toContain(key);
  for (const key of own) expect([...keys, ...extras], `unexpected ${key}`).toContain(key);
}

/** PAGI's `_job_summary` (and `get_job`) fields. */
const JOB = [
  "id",
  "type",
  "params",
  "status",
  "progress",
  "result",
  "error",
  "created_at",
  "started_at",
  "completed_at",
];
const QUEUE_STATS = ["pending", "running", "completed", "failed", "cancelled", "total"];
const WORKER_STATS = ["active", "capacity", "processed", "is_running"];

/** An epoch-seconds time (PAGI's `Time::HiRes::time`), within a minute of now. */
function epoch(value: unknown): void {
  expect(value).toBeTypeOf("number");
  expect(Math.abs((value as number) - Date.now() / 1000)).toBeLessThan(60);
}

/** The job types exactly as `JobRunner::Jobs` defines them. */
const PAGI_JOB_TYPES = [
  {
    name: "countdown",
    description: "Count down from N seconds",
    params: [
      {
        name: "seconds",
        type: "integer",
        default: 10,
        min: 1,
        max: 60,
        description: "Number of seconds to count down",
      },
    ],
  },
  {
    name: "echo",
    description: "Echo a message after delay",
    params: [
      {
        name: "message",
        type: "string",
        default: "Hello, World!",
        max_length: 200,
        description: "Message to echo back",
      },
      {
        name: "delay",
        type: "integer",
        default: 3,
        min: 1,
        max: 30,
        description: "Delay in seconds before echoing",
      },
    ],
  },
  {
    name: "fibonacci",
    description: "Calculate Fibonacci sequence",
    params: [
      {
        name: "count",
        type: "integer",
        default: 20,
        min: 5,
        max: 50,
        description: "Number of Fibonacci numbers to calculate",
      },
    ],
  },
  {
    name: "prime",
    description: "Find prime numbers up to N",
    params: [
      {
        name: "limit",
        type: "integer",
        default: 1000,
        min: 10,
        max: 100000,
        description: "Find primes up to this number",
      },
    ],
  },
];

const byName = (types: any[]) => [...types].sort((a, b) => a.name.localeCompare(b.name));

describe("REST, as JobRunner::HTTP answers", () => {
  it("serves the job types as PAGI defines them: params an array with bounds and defaults", async () => {
    await start();
    const res = await request(`${url}/api/job-types`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(byName(res.json())).toEqual(PAGI_JOB_TYPES);
  });

  it("creates a job: 201 with PAGI's five fields, defaults filled in, status pending", async () => {
    await start();
    const res = await post({ job_type: "countdown", params: { seconds: 30 } });
    expect(res.status).toBe(201);
    const body = res.json();
    shape(body, ["id", "type", "params", "status", "created_at"]);
    expect(body).toMatchObject({ id: 1, type: "countdown", params: { seconds: 30 } });
    expect(body.status).toBe("pending");
    epoch(body.created_at);
    const defaults = await Promise.all(
      ["prime", "fibonacci", "echo"].map(async (job_type) => (await post({ job_type })).json()),
    );
    expect(defaults.map((job) => job.params)).toEqual([
      { limit: 1000 },
      { count: 20 },
      { message: "Hello, World!", delay: 3 },
    ]);
    // a digit string is an integer to PAGI (`/^\d+$/`) and is stored as a number
    expect((await post({ job_type: "countdown", params: { seconds: "7" } })).json().params).toEqual(
      { seconds: 7 },
    );
  });

  it("refuses bad input with 400 and PAGI's own error texts, plus bough's code and field", async () => {
    await start();
    const cases: [string | object, string, string | undefined][] = [
      ["{nope", "Invalid JSON body", undefined],
      ["[1,2]", "Invalid JSON body", "body"],
      ['"countdown"', "Invalid JSON body", "body"],
      [{}, "Missing 'job_type' field", "job_type"],
      [{ job_type: "" }, "Missing 'job_type' field", "job_type"],
      [{ job_type: "nope" }, "Unknown job type: nope", "job_type"],
      [
        { job_type: "countdown", params: { seconds: -1 } },
        "Parameter 'seconds' must be an integer",
        "params.seconds",
      ],
      [
        { job_type: "countdown", params: { seconds: 1.5 } },
        "Parameter 'seconds' must be an integer",
        "params.seconds",
      ],
      [
        { job_type: "countdown", params: { seconds: "ten" } },
        "Parameter 'seconds' must be an integer",
        "params.seconds",
      ],
      [
        { job_type: "countdown", params: { seconds: 0 } },
        "Parameter 'seconds' must be at least 1",
        "params.seconds",
      ],
      [
        { job_type: "countdown", params: { seconds: 61 } },
        "Parameter 'seconds' must be at most 60",
        "params.seconds",
      ],
      [
        { job_type: "prime", params: { limit: 9 } },
        "Parameter 'limit' must be at least 10",
        "params.limit",
      ],
      [
        { job_type: "prime", params: { limit: 100001 } },
        "Parameter 'limit' must be at most 100000",
        "params.limit",
      ],
      [
        { job_type: "fibonacci", params: { count: 51 } },
        "Parameter 'count' must be at most 50",
        "params.count",
      ],
      [
        { job_type: "echo", params: { message: "" } },
        "Parameter 'message' cannot be empty",
        "params.message",
      ],
      [
        { job_type: "echo", params: { message: "x".repeat(201) } },
        "Parameter 'message' is too long (max 200)",
        "params.message",
      ],
      [
        { job_type: "echo", params: { delay: 31 } },
        "Parameter 'delay' must be at most 30",
        "params.delay",
      ],
      // where PAGI would die with a 500, bough refuses with a 400 that names the field
      [
        { job_type: "echo", params: { message: { a: 1 } } },
        "Parameter 'message' must be a string",
        "params.message",
      ],
      [{ job_type: "echo", params: [1] }, "Parameter 'params' must be an object", "params"],
    ];
    for (const [body, error, field] of cases) {
      const res = typeof body === "string" ? await postRaw(body) : await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const json = res.json();
      expect(json.error, JSON.stringify(body)).toBe(error);
      expect(json.code).toMatch(/^(JOB_RUNNER_INVALID_JOB|BOUGH_HTTP_MALFORMED_JSON)$/);
      if (field) expect(json.field).toBe(field);
    }
    expect(started?.app.runner.stats().total).toBe(0);
  });

  it("serves a job's record field by field through its life: pending, running, completed", async () => {
    await start({ concurrency: 1 });
    await post({ job_type: "countdown", params: { seconds: 1 } });
    await post({ job_type: "echo", params: { message: "hi", delay: 1 } });
    const pending = (await request(`${url}/api/jobs/2`)).json();
    shape(pending, JOB);
    expect(pending).toMatchObject({
      id: 2,
      type: "echo",
      params: { message: "hi", delay: 1 },
      status: "pending",
      progress: { percent: 0, message: "Queued" },
      result: null,
      error: null,
      started_at: null,
      completed_at: null,
    });
    await waitForStatus(2, "running");
    const running = (await request(`${url}/api/jobs/2`)).json();
    shape(running, JOB);
    epoch(running.started_at);
    expect(running.progress).toEqual({ percent: 0, message: "Echoing in 1 second..." });
    await waitForStatus(2, "completed");
    const done = (await request(`${url}/api/jobs/2`)).json();
    shape(done, JOB);
    expect(done).toMatchObject({
      status: "completed",
      progress: { percent: 100, message: "Complete" },
      result: { message: "hi", echoed: "hi", delay: 1 },
      error: null,
    });
    epoch(done.completed_at);
    expect(done.completed_at).toBeGreaterThanOrEqual(done.started_at);

    const list = (await request(`${url}/api/jobs`)).json();
    expect(list.map((job: any) => job.id)).toEqual([1, 2]);
    for (const job of list) shape(job, JOB);
  });

  it("runs every job type to PAGI's result shape", async () => {
    await start();
    await post({ job_type: "countdown", params: { seconds: 1 } });
    await post({ job_type: "prime", params: { limit: 100 } });
    await post({ job_type: "fibonacci", params: { count: 6 } });
    for (const id of [1, 2, 3]) await waitForStatus(id, "completed");
    const result = async (id: number) => (await request(`${url}/api/jobs/${id}`)).json().result;
    expect(await result(1)).toEqual({ message: "Countdown complete!", duration: 1 });
    expect(await result(2)).toEqual({
      message: "Found 25 prime numbers up to 100",
      prime_count: 25,
      largest: 97,
      sample: [2, 3, 5, 7, 11, 13, 17, 19, 23, 29],
    });
    expect(await result(3)).toEqual({
      message: "Calculated 6 Fibonacci numbers",
      count: 6,
      sequence: [0, 1, 1, 2, 3, 5],
      last: 5,
    });
    // PAGI's `@primes[0..9]`: ten entries, null past the last prime
    await post({ job_type: "prime", params: { limit: 10 } });
    await waitForStatus(4, "completed");
    expect((await result(4)).sample).toEqual([2, 3, 5, 7, null, null, null, null, null, null]);
  });

  it("serves /api/stats as { queue, worker }", async () => {
    await start();
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await post({ job_type: "fibonacci", params: { count: 5 } });
    await waitForStatus(2, "completed");
    const stats = (await request(`${url}/api/stats`)).json();
    shape(stats, ["queue", "worker"], ["instance"]);
    shape(stats.queue, QUEUE_STATS);
    shape(stats.worker, WORKER_STATS);
    expect(stats.queue).toEqual({
      pending: 0,
      running: 1,
      completed: 1,
      failed: 0,
      cancelled: 0,
      total: 2,
    });
    expect(stats.worker).toEqual({ active: 1, capacity: 3, processed: 1, is_running: 1 });
  });

  it("cancels with { success, job_id }; a finished job gets 400, an unknown one 404", async () => {
    await start({ concurrency: 1 });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(1, "running");
    const pending = await request(`${url}/api/jobs/2`, { method: "DELETE" });
    expect(pending.status).toBe(200);
    // PAGI echoes the id as it came in the path: a string
    expect(pending.json()).toEqual({ success: true, job_id: "2" });
    const running = await request(`${url}/api/jobs/1`, { method: "DELETE" });
    expect(running.json()).toEqual({ success: true, job_id: "1" });
    const job = (await request(`${url}/api/jobs/1`)).json();
    expect(job.status).toBe("cancelled");
    epoch(job.completed_at);
    const again = await request(`${url}/api/jobs/1`, { method: "DELETE" });
    expect(again.status).toBe(400);
    shape(again.json(), ["error", "job_id"], ["code"]);
    expect(again.json()).toMatchObject({
      error: "Cannot cancel job in status: cancelled",
      job_id: "1",
    });
    for (const [method, path] of [
      ["GET", "/api/jobs/99"],
      ["DELETE", "/api/jobs/99"],
    ]) {
      const res = await request(`${url}${path}`, { method });
      expect(res.status).toBe(404);
      expect(res.json().error).toBe("Job not found: 99");
    }
    const unknown = await request(`${url}/api/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toEqual({ error: "Not found: /api/nope" });
    expect(started?.app.runner.scheduler.running()).toEqual([]);
  });

  it("cancels a running prime job: no worker call is left running, and the threads go with the app", async () => {
    const baseline = workerThreads();
    await start();
    await post({ job_type: "prime", params: { limit: 100000 } });
    await waitForStatus(1, "running");
    const res = await request(`${url}/api/jobs/1`, { method: "DELETE" });
    // a cancel that lands after the last chunk still wins: the job is cancelled either way
    expect(res.json()).toEqual({ success: true, job_id: "1" });
    expect(started?.app.runner.get(1).status).toBe("cancelled");
    // a call halted mid-chunk killed its worker; one between chunks left it idle
    expect(started?.app.runner.pool.stats().busy).toBe(0);
    await started?.stop();
    started = undefined;
    await eventually(() => workerThreads() <= baseline, 5000, "worker threads exit");
  });

  it("clears finished jobs with { cleared: count } and keeps the others", async () => {
    await start();
    await post({ job_type: "fibonacci", params: { count: 5 } });
    await post({ job_type: "fibonacci", params: { count: 5 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(1, "completed");
    await waitForStatus(2, "completed");
    const res = await request(`${url}/api/jobs/clear-completed`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ cleared: 2 });
    expect((await request(`${url}/api/jobs`)).json().map((j: any) => j.id)).toEqual([3]);
  });
});

describe("SSE /api/jobs/:id/progress, as JobRunner::SSE sends", () => {
  it("sends status, progress { percent, message }…, then complete { status, result, duration }", async () => {
    await start();
    await post({ job_type: "countdown", params: { seconds: 2 } });
    await waitForStatus(1, "running");
    const sse = await SseClient.open(`${url}/api/jobs/1/progress`);
    expect(sse.status).toBe(200);
    expect(sse.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(sse.headers["cache-control"]).toMatch(/no-cache/);
    expect(sse.headers["x-accel-buffering"]).toBe("no");
    await sse.closed;
    const [status, ...rest] = sse.events;
    expect(status.event).toBe("status");
    const first = JSON.parse(status.data);
    shape(first, ["id", "type", "status", "progress", "started_at"]);
    expect(first).toMatchObject({ id: 1, type: "countdown", status: "running" });
    shape(first.progress, ["percent", "message"]);
    epoch(first.started_at);
    const last = rest.pop();
    expect(rest.length).toBeGreaterThan(0);
    for (const event of rest) {
      expect(event.event).toBe("progress");
      shape(JSON.parse(event.data), ["percent", "message"]);
    }
    expect(rest.map((e) => JSON.parse(e.data).message)).toContain("1 second remaining...");
    expect(JSON.parse(rest.at(-1)?.data ?? "")).toEqual({ percent: 100, message: "Complete!" });
    expect(last?.event).toBe("complete");
    const complete = JSON.parse(last?.data ?? "");
    shape(complete, ["status", "result", "duration"]);
    expect(complete.status).toBe("completed");
    expect(complete.result).toEqual({ message: "Countdown complete!", duration: 2 });
    expect(complete.duration).toBeGreaterThanOrEqual(1.9);
    // bough's additions: an id on every event, for Last-Event-ID
    for (const event of sse.events) seqOf(event.id);
  });

  it("gives a finished job its status, then its final event, at once", async () => {
    await start();
    await post({ job_type: "fibonacci", params: { count: 5 } });
    await waitForStatus(1, "completed");
    const sse = await SseClient.open(`${url}/api/jobs/1/progress`);
    await sse.closed;
    expect(sse.names).toEqual(["status", "complete"]);
    expect(JSON.parse(sse.events[0].data)).toMatchObject({ status: "completed" });
    expect(JSON.parse(sse.events[1].data).result.last).toBe(3);
  });

  it("ends with cancelled { status, job_id } when the job is cancelled", async () => {
    await start();
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(1, "running");
    const sse = await SseClient.open(`${url}/api/jobs/1/progress`);
    await sse.waitFor((events) => events.length > 0);
    await request(`${url}/api/jobs/1`, { method: "DELETE" });
    await sse.closed;
    expect(sse.names.at(-1)).toBe("cancelled");
    // PAGI sends { job_id } live and { status } to a late watcher: bough sends both fields
    expect(JSON.parse(sse.events.at(-1)?.data ?? "")).toEqual({ status: "cancelled", job_id: 1 });
  });

  it("answers a bad id 400 and a missing job 404, in text/plain with PAGI's texts", async () => {
    await start();
    for (const [path, status, text] of [
      ["/api/jobs/abc/progress", 400, "Invalid job ID"],
      ["/api/jobs/0/progress", 400, "Invalid job ID"],
      ["/api/jobs/42/progress", 404, "Job not found"],
    ] as const) {
      const res = await request(`${url}${path}`, { headers: { accept: "text/event-stream" } });
      expect(res.status, path).toBe(status);
      expect(res.headers["content-type"]).toMatch(/^text\/plain/);
      expect(res.body).toBe(text);
    }
  });

  it("resumes from Last-Event-ID without a gap or a duplicate; an id from another run starts over", async () => {
    await start();
    await post({ job_type: "countdown", params: { seconds: 3 } });
    await waitForStatus(1, "running");
    const a = await SseClient.open(`${url}/api/jobs/1/progress`);
    await a.waitFor((events) => events.some((e) => e.event === "progress"));
    a.close();
    const lastId = a.events.at(-1)?.id ?? "";
    const b = await SseClient.open(`${url}/api/jobs/1/progress`, { "last-event-id": lastId });
    await b.closed;
    const seqs = [...a.events, ...b.events].map((e) => seqOf(e.id));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(b.names.at(-1)).toBe("complete");
    expect(b.names[0]).not.toBe("status");
    const other = await SseClient.open(`${url}/api/jobs/1/progress`, {
      "last-event-id": "00000000-3",
    });
    await other.closed;
    expect(other.names).toEqual(["status", "complete"]);
  });
});

describe("WebSocket /ws/queue, as JobRunner::WebSocket speaks", () => {
  it("sends queue_state { jobs, stats, worker, job_types } on connect", async () => {
    await start();
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(1, "running");
    const ws = await WsClient.open(`${url}/ws/queue`);
    const state = await ws.next((m) => m.type === "queue_state");
    expect(ws.messages[0]).toBe(state);
    shape(state, ["type", "jobs", "stats", "worker", "job_types"], ["instance", "seq"]);
    expect(state.jobs).toHaveLength(1);
    shape(state.jobs[0], JOB);
    expect(state.jobs[0].status).toBe("running");
    shape(state.stats, QUEUE_STATS);
    expect(state.stats).toMatchObject({ running: 1, total: 1 });
    expect(state.worker).toEqual({ active: 1, capacity: 3, processed: 0, is_running: 1 });
    expect(byName(state.job_types)).toEqual(PAGI_JOB_TYPES);
    await ws.close();
  });

  it("broadcasts { type, data } events with PAGI's data, in order, to every client", async () => {
    await start();
    const a = await WsClient.open(`${url}/ws/queue`);
    const b = await WsClient.open(`${url}/ws/queue`);
    for (const ws of [a, b]) await ws.next((m) => m.type === "queue_state");
    await post({ job_type: "countdown", params: { seconds: 1 } });
    for (const ws of [a, b]) {
      await ws.waitFor((ms) => ms.filter((m) => m.type === "worker_stats").length === 2);
    }
    const life = a.messages.slice(1);
    expect(life.map((m) => m.type)).toEqual([
      "job_created",
      "job_started",
      "worker_stats",
      "job_progress",
      "job_progress",
      "job_completed",
      "worker_stats",
    ]);
    for (const message of life) shape(message, ["type", "data"], ["seq", "stats"]);
    const [created, startedMsg, busy, p0, p100, completed, idle] = life.map((m) => m.data);
    shape(created, JOB);
    expect(created).toMatchObject({ id: 1, type: "countdown", status: "pending" });
    expect(created.progress).toEqual({ percent: 0, message: "Queued" });
    shape(startedMsg, ["job_id", "started_at"]);
    expect(startedMsg.job_id).toBe(1);
    epoch(startedMsg.started_at);
    shape(busy, WORKER_STATS);
    expect(busy).toEqual({ active: 1, capacity: 3, processed: 0, is_running: 1 });
    expect(p0).toEqual({ job_id: 1, percent: 0, message: "1 second remaining..." });
    expect(p100).toEqual({ job_id: 1, percent: 100, message: "Complete!" });
    shape(completed, ["job_id", "result", "duration"]);
    expect(completed.result).toEqual({ message: "Countdown complete!", duration: 1 });
    expect(idle).toEqual({ active: 0, capacity: 3, processed: 1, is_running: 1 });
    // bough's additions: a topic position, and the counts after a change of status
    const seqs = life.map((m) => m.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(life[0].stats).toMatchObject({ pending: 1, total: 1 });
    expect(b.messages.slice(1)).toEqual(a.messages.slice(1));
    await a.close();
    await b.close();
  });

  it("answers requests with PAGI's acks and errors, ignores what PAGI ignores, and stays open", async () => {
    await start();
    const ws = await WsClient.open(`${url}/ws/queue`);
    await ws.next((m) => m.type === "queue_state");
    const answer = async (request: unknown) => {
      const before = ws.messages.length;
      ws.send(request);
      ws.send({ type: "get_job_types" }); // a marker: whatever came before it answered `request`
      await ws.waitFor((ms) => ms.slice(before).some((m) => m.type === "job_types"));
      const types = ws.messages.slice(before).filter((m) => m.type !== "job_types");
      return types.filter((m) => !["worker_stats", "job_progress", "job_started"].includes(m.type));
    };

    const created = await answer({
      type: "create_job",
      job_type: "countdown",
      params: { seconds: 30 },
    });
    const ack = created.find((m) => m.type === "job_created_ack");
    expect(ack).toEqual({ type: "job_created_ack", job_id: 1 });
    await ws.next((m) => m.type === "job_created");

    const refused = await answer({
      type: "create_job",
      job_type: "countdown",
      params: { seconds: 0 },
    });
    expect(refused).toHaveLength(1);
    shape(refused[0], ["type", "message"], ["code", "field"]);
    expect(refused[0]).toMatchObject({
      type: "error",
      message: "Parameter 'seconds' must be at least 1",
      field: "params.seconds",
    });
    expect((await answer({ type: "create_job" }))[0].message).toBe("Missing 'job_type' field");
    expect((await answer({ type: "cancel_job" }))[0]).toEqual({
      type: "error",
      message: "Missing 'job_id' field",
    });
    expect((await answer({ type: "cancel_job", job_id: 99 }))[0]).toMatchObject({
      type: "error",
      message: "Job not found: 99",
    });
    // nothing at all for what PAGI ignores
    expect(await answer("{not json")).toEqual([]);
    expect(await answer({ type: "explode" })).toEqual([]);
    expect(await answer({ type: "pong", ts: 1 })).toEqual([]);
    expect(await answer([1, 2])).toEqual([]);

    expect(await answer({ type: "ping", ts: 12345 })).toEqual([{ type: "pong", ts: 12345 }]);
    const jobTypes = ws.messages.findLast((m) => m.type === "job_types");
    shape(jobTypes, ["type", "job_types"]);
    expect(byName(jobTypes.job_types)).toEqual(PAGI_JOB_TYPES);

    const cancelled = await answer({ type: "cancel_job", job_id: 1 });
    expect(cancelled).toContainEqual({ type: "job_cancelled_ack", job_id: 1, success: true });
    const broadcast = await ws.next((m) => m.type === "job_cancelled");
    expect(broadcast.data).toEqual({ job_id: 1 });
    expect((await answer({ type: "cancel_job", job_id: 1 }))[0]).toMatchObject({
      type: "error",
      message: "Cannot cancel job in status: cancelled",
    });

    const state = (await answer({ type: "get_state" }))[0];
    expect(state.type).toBe("queue_state");
    expect(state.stats).toMatchObject({ cancelled: 1, total: 1 });

    const cleared = await answer({ type: "clear_completed" });
    expect(cleared).toContainEqual({ type: "jobs_cleared_ack", cleared: 1 });
    const clearedEvent = cleared.find((m) => m.type === "jobs_cleared");
    shape(clearedEvent.data, ["count"], ["ids"]);
    expect(clearedEvent.data).toEqual({ count: 1, ids: [1] });
    // as in PAGI, a clear that removes nothing is announced too
    const none = await answer({ type: "clear_completed" });
    expect(none).toContainEqual({ type: "jobs_cleared_ack", cleared: 0 });
    expect(none.find((m) => m.type === "jobs_cleared").data).toEqual({ count: 0, ids: [] });

    // bough's addition: a request's id comes back in its answer
    ws.send({ type: "ping", ts: 1, id: "p1" });
    expect(await ws.next((m) => m.id === "p1")).toEqual({ type: "pong", ts: 1, id: "p1" });
    expect(ws.closedCode).toBeUndefined();
    await ws.close();
  });

  it("pings every appPingIntervalMs with { type: ping, ts } in whole seconds", async () => {
    await start({ appPingIntervalMs: 100 });
    const ws = await WsClient.open(`${url}/ws/queue`);
    const ping = await ws.next((m) => m.type === "ping");
    shape(ping, ["type", "ts"]);
    expect(Number.isInteger(ping.ts)).toBe(true);
    expect(Math.abs(ping.ts - Date.now() / 1000)).toBeLessThan(5);
    await ws.close();
  });
});

describe("the wire forms of what is hard to provoke over a socket", () => {
  const job: JobRecord = {
    id: 7,
    type: "prime",
    params: { limit: 10 },
    status: "failed",
    progress: { percent: 40, message: "Checked 4 numbers, found 2 primes..." },
    result: null,
    error: "worker crashed",
    created_at: 100,
    started_at: 101,
    completed_at: 103.5,
  };

  it("sends a failure as job_failed { job_id, error } and SSE failed { status, error }", () => {
    expect(eventData({ type: "job_failed", job })).toEqual({ job_id: 7, error: "worker crashed" });
    expect(sseFinal(job)).toEqual({ status: "failed", error: "worker crashed" });
  });

  it("computes duration as PAGI does: completed_at - (started_at // created_at)", () => {
    const done = { ...job, status: "completed" as const, result: {}, error: null };
    expect(eventData({ type: "job_completed", job: done })).toEqual({
      job_id: 7,
      result: {},
      duration: 2.5,
    });
  });
});

describe("what the runner keeps and sends (issue 16)", () => {
  it("drops finished jobs beyond retainFinished, oldest finish first, and never an unfinished one", async () => {
    await start({ retainFinished: 2 });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    for (let i = 0; i < 4; i++) await post({ job_type: "fibonacci", params: { count: 5 } });
    for (const id of [2, 3, 4, 5]) {
      await eventually(
        () =>
          started?.app.runner.list().every((j) => j.id !== id || j.status === "completed") ?? false,
        10_000,
        `job ${id} done`,
      );
    }
    await eventually(() => started?.app.runner.stats().completed === 2, 10_000, "retention");
    const kept = (await request(`${url}/api/jobs`)).json();
    expect(kept.map((j: any) => j.status).filter((s: string) => s === "completed")).toHaveLength(2);
    expect(kept[0]).toMatchObject({ id: 1, status: "running" });
    expect(started?.app.runner.dropped).toBe(2);
    const stats = (await request(`${url}/api/stats`)).json();
    expect(stats.queue).toMatchObject({ running: 1, completed: 2, total: 3 });
    const dropped = [2, 3, 4, 5].filter((id) => !kept.some((j: any) => j.id === id));
    expect((await request(`${url}/api/jobs/${dropped[0]}`)).status).toBe(404);
  });

  it("sends a bounded page on connect, running and pending first, with the counts of every job", async () => {
    await start({ concurrency: 1, statePageSize: 3 });
    for (let i = 0; i < 2; i++) await post({ job_type: "fibonacci", params: { count: 5 } });
    await waitForStatus(2, "completed");
    for (let i = 0; i < 4; i++) await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(3, "running");
    const ws = await WsClient.open(`${url}/ws/queue`);
    const state = await ws.next((m) => m.type === "queue_state");
    expect(state.jobs.map((j: any) => [j.id, j.status])).toEqual([
      [3, "running"],
      [4, "pending"],
      [5, "pending"],
    ]);
    expect(state.stats).toEqual({
      pending: 3,
      running: 1,
      completed: 2,
      failed: 0,
      cancelled: 0,
      total: 6,
    });
    await ws.close();
  });
});
