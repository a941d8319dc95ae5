import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import {
  eventually,
  osThreads,
  request,
  SseClient,
  type Started,
  seqOf,
  startApp,
  WsClient,
} from "./fixtures/job-runner/helpers.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

let started: Started;
let url: string;

beforeEach(async () => {
  started = await startApp({ concurrency: 3 });
  url = started.url;
});

afterEach(async () => {
  await started.stop();
});

const post = (body: unknown) => request(`${url}/api/jobs`, { method: "POST", body });

async function waitForStatus(id: number, status: string, ms = 10_000): Promise<any> {
  let job: any;
  await eventually(
    () => {
      job = started.app.runner.list().find((j) => j.id === id);
      return job?.status === status;
    },
    ms,
    `job ${id} ${status}`,
  );
  return job;
}

describe("the REST API", () => {
  it("serves the job types with their defaults and bounds", async () => {
    const res = await request(`${url}/api/job-types`);
    expect(res.status).toBe(200);
    const types = res.json();
    expect(types.map((t: any) => t.name)).toEqual(["countdown", "prime", "fibonacci", "echo"]);
    const byName = Object.fromEntries(types.map((t: any) => [t.name, t.params]));
    expect(byName.countdown.seconds).toMatchObject({
      type: "integer",
      min: 1,
      max: 300,
      default: 10,
    });
    expect(byName.prime.limit).toMatchObject({
      type: "integer",
      min: 2,
      max: 10_000_000,
      default: 100_000,
    });
    expect(byName.fibonacci.terms).toMatchObject({
      type: "integer",
      min: 1,
      max: 10_000,
      default: 100,
    });
    expect(byName.echo.message).toMatchObject({ type: "string", maxLength: 10_000 });
    expect(byName.echo.delay).toMatchObject({ type: "number", min: 0, max: 60, default: 1 });
  });

  it("creates a job with 201, filling in default parameters", async () => {
    const res = await post({ job_type: "echo", params: { message: "hi", delay: 0 } });
    expect(res.status).toBe(201);
    const job = res.json();
    expect(job).toMatchObject({
      id: 1,
      job_type: "echo",
      params: { message: "hi", delay: 0 },
      status: "queued",
      progress: 0,
      result: null,
      error: null,
      started_at: null,
      finished_at: null,
    });
    expect(new Date(job.created_at).toISOString()).toBe(job.created_at);
    const second = (await post({ job_type: "countdown" })).json();
    expect(second.id).toBe(2);
    expect(second.params).toEqual({ seconds: 10 });
  });

  it("runs every job type to completion with its result", async () => {
    const ids = [
      (await post({ job_type: "echo", params: { message: "héllo", delay: 0 } })).json().id,
      (await post({ job_type: "fibonacci", params: { terms: 120 } })).json().id,
      (await post({ job_type: "prime", params: { limit: 100 } })).json().id,
      (await post({ job_type: "countdown", params: { seconds: 1 } })).json().id,
    ];
    const jobs = await Promise.all(ids.map((id) => waitForStatus(id, "completed")));
    expect(jobs[0].result).toEqual({ message: "héllo" });
    expect(jobs[1].result.terms).toBe(120);
    expect(jobs[1].result.sequence.slice(0, 8)).toEqual(["0", "1", "1", "2", "3", "5", "8", "13"]);
    expect(jobs[1].result.sequence).toHaveLength(100);
    expect(jobs[1].result.truncated).toBe(true);
    // F(119), beyond 2^53: computed with BigInt, sent as a decimal string
    expect(jobs[1].result.last).toBe("3311648143516982017180081");
    expect(jobs[2].result).toEqual({ count: 25, largest: 97 });
    expect(jobs[3].result).toEqual({ seconds: 1 });
    for (const job of jobs) {
      expect(job.progress).toBe(100);
      expect(Date.parse(job.finished_at)).toBeGreaterThanOrEqual(Date.parse(job.started_at));
    }
    const got = (await request(`${url}/api/jobs/${ids[2]}`)).json();
    expect(got).toEqual(jobs[2]);
  });

  it.each([
    [{ job_type: "nope" }, "job_type must be one of countdown, prime, fibonacci, echo"],
    [{ params: {} }, "job_type must be one of"],
    [
      { job_type: "countdown", params: { seconds: 0 } },
      "params.seconds must be an integer from 1 to 300, got 0",
    ],
    [
      { job_type: "countdown", params: { seconds: 301 } },
      "params.seconds must be an integer from 1 to 300",
    ],
    [{ job_type: "countdown", params: { seconds: 1.5 } }, "params.seconds must be an integer"],
    [
      { job_type: "countdown", params: { seconds: "5" } },
      'params.seconds must be an integer from 1 to 300, got "5"',
    ],
    [
      { job_type: "prime", params: { limit: 10_000_001 } },
      "params.limit must be an integer from 2 to 10000000",
    ],
    [{ job_type: "prime", params: { limit: 1 } }, "params.limit must be"],
    [
      { job_type: "fibonacci", params: { terms: 10_001 } },
      "params.terms must be an integer from 1 to 10000",
    ],
    [{ job_type: "echo", params: { message: 42 } }, "params.message must be a string, got 42"],
    [
      { job_type: "echo", params: { message: "x".repeat(10_001) } },
      "params.message must be at most 10000 characters",
    ],
    [
      { job_type: "echo", params: { delay: 61 } },
      "params.delay must be a number from 0 to 60, got 61",
    ],
    [{ job_type: "echo", params: { delay: null } }, "params.delay must be a number"],
    [
      { job_type: "countdown", params: { secs: 5 } },
      "params.secs is not a parameter of countdown (expected: seconds)",
    ],
    [{ job_type: "countdown", params: [5] }, "params must be an object"],
    [[1, 2], "body must be a JSON object"],
  ])("answers 400 naming the field for %j", async (body, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.json().error).toContain(message);
    expect((await request(`${url}/api/stats`)).json().total).toBe(0);
  });

  it("answers 400 for malformed JSON", async () => {
    const res = await request(`${url}/api/jobs`, { method: "POST", raw: '{"job_type":' });
    expect(res.status).toBe(400);
    expect(res.json().error).toMatch(/^malformed JSON body/);
  });

  it("answers 404 for an unknown job on every job route", async () => {
    for (const [method, path] of [
      ["GET", "/api/jobs/7"],
      ["DELETE", "/api/jobs/7"],
      ["GET", "/api/jobs/7/progress"],
    ]) {
      const res = await request(`${url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.json()).toEqual({ error: "Job not found: 7" });
    }
    const res = await request(`${url}/api/jobs/abc`);
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ error: "Job not found: abc" });
  });

  it("lists jobs oldest first and counts them in stats", async () => {
    await post({ job_type: "echo", params: { delay: 0 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(1, "completed");
    await waitForStatus(4, "running");
    const list = (await request(`${url}/api/jobs`)).json();
    expect(list.map((j: any) => j.id)).toEqual([1, 2, 3, 4, 5]);
    expect(list.map((j: any) => j.status)).toEqual([
      "completed",
      "running",
      "running",
      "running",
      "queued",
    ]);
    expect((await request(`${url}/api/stats`)).json()).toEqual({
      total: 5,
      queued: 1,
      running: 3,
      completed: 1,
      failed: 0,
      cancelled: 0,
      concurrency: 3,
    });
  });

  it("cancels a queued job, which then never runs", async () => {
    for (let i = 0; i < 3; i++) await post({ job_type: "countdown", params: { seconds: 30 } });
    const queued = (await post({ job_type: "echo", params: { delay: 0 } })).json();
    const res = await request(`${url}/api/jobs/${queued.id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: queued.id, status: "cancelled", started_at: null });
    await request(`${url}/api/jobs/1`, { method: "DELETE" });
    await waitForStatus(1, "cancelled");
    await new Promise((r) => setTimeout(r, 100));
    expect(started.app.runner.get(queued.id).status).toBe("cancelled");
    expect(started.app.runner.scheduler.running().sort()).toEqual([2, 3]);
  });

  it("cancels a running job, halting it, and answers 409 for a finished one", async () => {
    const job = (await post({ job_type: "countdown", params: { seconds: 30 } })).json();
    await waitForStatus(job.id, "running");
    const res = await request(`${url}/api/jobs/${job.id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: "cancelled", message: "cancelled" });
    expect(res.json().finished_at).not.toBeNull();
    expect(started.app.runner.scheduler.running()).toEqual([]);
    const again = await request(`${url}/api/jobs/${job.id}`, { method: "DELETE" });
    expect(again.status).toBe(409);
    expect(again.json()).toEqual({ error: "Cannot cancel job in status: cancelled" });

    const done = (await post({ job_type: "echo", params: { delay: 0 } })).json();
    await waitForStatus(done.id, "completed");
    const late = await request(`${url}/api/jobs/${done.id}`, { method: "DELETE" });
    expect(late.status).toBe(409);
    expect(late.json()).toEqual({ error: "Cannot cancel job in status: completed" });
  });

  it("cancels a running prime job: its worker call is cancelled and the worker is gone", async () => {
    const baseline = osThreads();
    const job = (await post({ job_type: "prime", params: { limit: 10_000_000 } })).json();
    await eventually(() => started.app.runner.get(job.id).progress >= 2, 20_000, "prime progress");
    expect(started.app.runner.pool.stats().busy).toBe(1);
    expect(osThreads()).toBeGreaterThan(baseline);
    const res = await request(`${url}/api/jobs/${job.id}`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.json().status).toBe("cancelled");
    // the DELETE answers only once the halted call's worker is confirmed gone
    expect(started.app.runner.pool.stats()).toMatchObject({ workers: 0, busy: 0 });
    await eventually(() => osThreads() <= baseline, 5000, "worker thread exit");
    const final = started.app.runner.get(job.id);
    expect(final.status).toBe("cancelled");
    expect(final.progress).toBeLessThan(100);
  });

  it("marks a job that throws as failed with its message", async () => {
    // the pool refuses a call whose deadline is already over: the job throws
    await started.stop();
    started = await startApp({ primeCallTimeoutMs: 0 });
    url = started.url;
    const job = (await post({ job_type: "prime", params: { limit: 10 } })).json();
    const failed = await waitForStatus(job.id, "failed");
    expect(failed.error).toBeTruthy();
    expect(failed.message).toBe(`failed: ${failed.error}`);
    expect(failed.result).toBeNull();
  });

  it("clears finished jobs and keeps the others", async () => {
    await post({ job_type: "echo", params: { delay: 0 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await post({ job_type: "countdown", params: { seconds: 30 } });
    await waitForStatus(1, "completed");
    await request(`${url}/api/jobs/2`, { method: "DELETE" });
    const res = await request(`${url}/api/jobs/clear-completed`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ cleared: [1, 2] });
    expect((await request(`${url}/api/jobs`)).json().map((j: any) => j.id)).toEqual([3]);
    expect((await request(`${url}/api/jobs/1`)).status).toBe(404);
    expect((await request(`${url}/api/jobs/clear-completed`, { method: "POST" })).json()).toEqual({
      cleared: [],
    });
  });

  it("serves the dashboard", async () => {
    const page = await request(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    expect(page.body).toContain("/app.js");
    const script = await request(`${url}/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers["content-type"]).toContain("javascript");
  });
});

describe("the SSE progress stream", () => {
  it("sends status, progress, then exactly one complete, and ends", async () => {
    const job = (await post({ job_type: "countdown", params: { seconds: 2 } })).json();
    const sse = await SseClient.open(`${url}/api/jobs/${job.id}/progress`);
    expect(sse.status).toBe(200);
    expect(sse.headers["content-type"]).toBe("text/event-stream");
    await sse.closed;
    const names = sse.names;
    expect(names[0]).toBe("status");
    expect(names.at(-1)).toBe("complete");
    expect(names.filter((n) => ["complete", "failed", "cancelled"].includes(n))).toHaveLength(1);
    const middle = names.slice(1, -1);
    // any status events come before the progress events
    expect(middle.join(",")).toMatch(/^(status,)*(progress,?)*$/);
    const jobs = sse.events.map((e) => JSON.parse(e.data));
    const progress = jobs.map((j) => j.progress);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(jobs.at(-1)).toMatchObject({ id: job.id, status: "completed", progress: 100 });
    expect(jobs.some((j) => j.message === "1 second remaining")).toBe(true);
    const ids = sse.events.map((e) => seqOf(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it("gives a finished job its final state at once", async () => {
    const job = (await post({ job_type: "echo", params: { delay: 0 } })).json();
    await waitForStatus(job.id, "completed");
    const sse = await SseClient.open(`${url}/api/jobs/${job.id}/progress`);
    await sse.closed;
    expect(sse.names).toEqual(["complete"]);
    expect(JSON.parse(sse.events[0].data).result).toEqual({ message: "Hello, bough!" });
  });

  it("starts over for an id from another run of the server", async () => {
    const job = (await post({ job_type: "countdown", params: { seconds: 30 } })).json();
    await waitForStatus(job.id, "running");
    const { instance, cursor } = started.app.runner;
    const other = instance === "00000000" ? "11111111" : "00000000";
    const stranger = await SseClient.open(`${url}/api/jobs/${job.id}/progress`, {
      "last-event-id": `${other}-1`,
    });
    const resumed = await SseClient.open(`${url}/api/jobs/${job.id}/progress`, {
      "last-event-id": `${instance}-1`,
    });
    await stranger.waitFor((events) => events.length >= 1);
    await resumed.waitFor((events) => events.length >= 1);
    // from the job as it is now, not from position 1 of this run's topic
    expect(stranger.events[0].event).toBe("status");
    expect(stranger.events[0].id?.startsWith(`${instance}-`)).toBe(true);
    expect(seqOf(stranger.events[0].id)).toBeGreaterThanOrEqual(Number(cursor));
    expect(JSON.parse(stranger.events[0].data).status).toBe("running");
    // a resume of this run replays what came after position 1 (job_started)
    expect(resumed.events[0]).toMatchObject({ id: `${instance}-2`, event: "status" });
    stranger.close();
    resumed.close();
  });

  it("ends with cancelled when the job is cancelled", async () => {
    const job = (await post({ job_type: "countdown", params: { seconds: 30 } })).json();
    await waitForStatus(job.id, "running");
    const sse = await SseClient.open(`${url}/api/jobs/${job.id}/progress`);
    await sse.waitFor((events) => events.length >= 1);
    await request(`${url}/api/jobs/${job.id}`, { method: "DELETE" });
    await sse.closed;
    expect(sse.names).toEqual(["status", "cancelled"]);
  });

  it("resumes from Last-Event-ID without a gap or a duplicate", async () => {
    const job = (await post({ job_type: "countdown", params: { seconds: 3 } })).json();
    const whole = await SseClient.open(`${url}/api/jobs/${job.id}/progress`);
    const first = await SseClient.open(`${url}/api/jobs/${job.id}/progress`);
    await first.waitFor((events) => events.some((e) => e.event === "progress"));
    const seen = first.events.slice();
    first.close();
    // events go on while no one listens; the watcher comes back with its last id
    await eventually(() => started.app.runner.get(job.id).progress >= 66, 10_000, "countdown 66%");
    const resumed = await SseClient.open(`${url}/api/jobs/${job.id}/progress`, {
      "last-event-id": seen.at(-1)?.id ?? "",
    });
    await resumed.closed;
    await whole.closed;
    const ids = (events: { id?: string }[]) => events.map((e) => e.id);
    expect([...ids(seen), ...ids(resumed.events)]).toEqual(ids(whole.events));
    expect(resumed.names.at(-1)).toBe("complete");

    // a watcher that saw the end comes back to the final state only
    const after = await SseClient.open(`${url}/api/jobs/${job.id}/progress`, {
      "last-event-id": whole.events.at(-1)?.id ?? "",
    });
    await after.closed;
    expect(after.names).toEqual(["complete"]);

    // an unusable id starts over from the job as it is
    const garbage = await SseClient.open(`${url}/api/jobs/${job.id}/progress`, {
      "last-event-id": "x",
    });
    await garbage.closed;
    expect(garbage.names).toEqual(["complete"]);
  });
});

describe("the WebSocket /ws/queue", () => {
  it("sends queue_state, then a job's whole life in order to every client", async () => {
    await post({ job_type: "echo", params: { delay: 0 } });
    await waitForStatus(1, "completed");
    const a = await WsClient.open(`${url}/ws/queue`);
    const b = await WsClient.open(`${url}/ws/queue`);
    for (const ws of [a, b]) {
      const state = await ws.next((m) => m.type === "queue_state");
      expect(ws.messages[0]).toBe(state);
      expect(state.jobs.map((j: any) => j.status)).toEqual(["completed"]);
      expect(state.stats).toMatchObject({ total: 1, completed: 1, concurrency: 3 });
    }
    const job = (await post({ job_type: "countdown", params: { seconds: 2 } })).json();
    for (const ws of [a, b]) {
      await ws.waitFor((ms) => ms.some((m) => m.type === "job_completed"));
      const life = ws.messages.slice(1).filter((m) => m.job?.id === job.id);
      const types = life.map((m) => m.type);
      expect(types[0]).toBe("job_created");
      expect(types[1]).toBe("job_started");
      expect(types.at(-1)).toBe("job_completed");
      expect(types.slice(2, -1).every((t) => t === "job_progress")).toBe(true);
      expect(types.length).toBeGreaterThanOrEqual(4);
      const seqs = life.map((m) => m.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(seqs[0]).toBeGreaterThan(ws.messages[0].seq);
    }
    expect(b.messages.slice(1)).toEqual(a.messages.slice(1));
    await a.close();
    await b.close();
  });

  it("answers each request with an ack or an error and stays open", async () => {
    const ws = await WsClient.open(`${url}/ws/queue`);
    await ws.next((m) => m.type === "queue_state");
    ws.send({ type: "create_job", id: "c1", job_type: "countdown", params: { seconds: 30 } });
    const created = await ws.next((m) => m.id === "c1");
    expect(created).toMatchObject({
      type: "ack",
      request: "create_job",
      job: { id: 1, status: "queued" },
    });
    await ws.next((m) => m.type === "job_started" && m.job.id === 1);

    ws.send("{not json");
    const malformed = await ws.next((m) => m.type === "error");
    expect(malformed.error).toMatch(/^malformed message/);
    ws.send({ type: "create_job", id: "c2", job_type: "countdown", params: { seconds: 0 } });
    expect(await ws.next((m) => m.id === "c2")).toMatchObject({
      type: "error",
      status: 400,
      error: "params.seconds must be an integer from 1 to 300, got 0",
    });
    ws.send({ type: "explode", id: "x" });
    expect((await ws.next((m) => m.id === "x")).error).toMatch(/unknown message type "explode"/);
    ws.send({ type: "cancel_job", id: "k0", job_id: 99 });
    expect(await ws.next((m) => m.id === "k0")).toMatchObject({
      type: "error",
      status: 404,
      error: "Job not found: 99",
    });

    ws.send({ type: "cancel_job", id: "k1", job_id: 1 });
    expect(await ws.next((m) => m.id === "k1")).toMatchObject({
      type: "ack",
      request: "cancel_job",
      job: { id: 1, status: "cancelled" },
    });
    await ws.next((m) => m.type === "job_cancelled");
    ws.send({ type: "cancel_job", id: "k2", job_id: 1 });
    expect(await ws.next((m) => m.id === "k2")).toMatchObject({
      type: "error",
      status: 409,
      error: "Cannot cancel job in status: cancelled",
    });
    ws.send({ type: "get_state", id: "s1" });
    const state = await ws.next((m) => m.id === "s1");
    expect(state).toMatchObject({ type: "queue_state", stats: { total: 1, cancelled: 1 } });
    ws.send({ type: "clear_completed", id: "z" });
    expect(await ws.next((m) => m.id === "z")).toMatchObject({ type: "ack", cleared: [1] });
    expect(await ws.next((m) => m.type === "jobs_cleared")).toMatchObject({ ids: [1] });
    expect(ws.closedCode).toBeUndefined();
    await ws.close();
  });
});
