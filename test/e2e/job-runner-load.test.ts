import { afterEach, beforeEach, describe, expect, it } from "vitest";
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
let baselineThreads = 0;

beforeEach(() => {
  baselineThreads = workerThreads();
});

afterEach(async () => {
  await started?.stop();
  started = undefined;
  // the pool's worker threads are gone with the app
  await eventually(() => workerThreads() <= baselineThreads, 5000, "worker threads exit");
});

const FINAL = new Set(["job_completed", "job_failed", "job_cancelled"]);

/** The most jobs running at once, replayed from one client's events. */
function peakRunning(messages: any[]): number {
  let running = 0;
  let peak = 0;
  const startedIds = new Set<number>();
  for (const message of messages) {
    if (message.type === "job_started") peak = Math.max(peak, ++running);
    else if (FINAL.has(message.type) && startedIds.has(message.data.job_id)) running--;
    if (message.type === "job_started") startedIds.add(message.data.job_id);
  }
  return peak;
}

describe("the job runner under load", () => {
  it("runs 200 jobs submitted at once, never more than 3 at a time, with 100 SSE watchers and 50 WebSocket clients", async () => {
    started = await startApp({ concurrency: 3 });
    const { url, app } = started;

    const sockets = await Promise.all(
      Array.from({ length: 50 }, () => WsClient.open(`${url}/ws/queue`)),
    );
    await Promise.all(sockets.map((ws) => ws.next((m) => m.type === "queue_state")));

    // three long countdowns hold every slot until the watchers are in; prime jobs use the worker pool
    const bodies = Array.from({ length: 200 }, (_, i) => {
      // PAGI's bounds make countdown and echo take whole seconds: the bulk is prime jobs
      if (i < 3) return { job_type: "countdown", params: { seconds: 60 } };
      if (i % 40 === 1) return { job_type: "fibonacci", params: { count: 5 } };
      return { job_type: "prime", params: { limit: 10 + (i % 7) * 500 } };
    });
    let maxSampled = 0;
    const sampler = setInterval(() => {
      maxSampled = Math.max(maxSampled, app.runner.stats().running);
    }, 5);
    try {
      const created = await Promise.all(
        bodies.map((body) => request(`${url}/api/jobs`, { method: "POST", body })),
      );
      expect(created.every((res) => res.status === 201)).toBe(true);
      const ids = created.map((res) => res.json().id).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

      // 100 watchers on the later half of the queue
      const watchers = await Promise.all(
        ids.slice(100).map((id) => SseClient.open(`${url}/api/jobs/${id}/progress`)),
      );
      expect(watchers.every((sse) => sse.status === 200)).toBe(true);
      await Promise.all(watchers.map((sse) => sse.waitFor((events) => events.length > 0)));
      expect(app.runner.stats()).toMatchObject({ running: 3, pending: 197 });
      // cancelling the blockers lets the queue drain
      const cancels = await Promise.all(
        [1, 2, 3].map((id) => request(`${url}/api/jobs/${id}`, { method: "DELETE" })),
      );
      expect(cancels.map((res) => res.json())).toEqual(
        [1, 2, 3].map((id) => ({ success: true, job_id: String(id) })),
      );

      await Promise.all(
        sockets.map((ws) =>
          ws.waitFor((ms) => ms.filter((m) => m.type === "job_completed").length === 197, 110_000),
        ),
      );
      await Promise.all(watchers.map((sse) => sse.closed));
      // the last completion is not the last event: wait until each client has every event the
      // hub published (the memory broker numbers them 1, 2, …), not only the one it had first
      const lastSeq = (ms: any[]) => ms.findLast((m) => m.seq !== undefined)?.seq;
      await Promise.all(
        sockets.map((ws) =>
          ws.waitFor((ms) => lastSeq(ms) === app.runner.events.stats().published, 10_000),
        ),
      );

      expect(app.runner.stats()).toMatchObject({
        total: 200,
        completed: 197,
        cancelled: 3,
        running: 0,
        pending: 0,
      });
      expect(app.runner.scheduler.peak).toBe(3);
      expect(maxSampled).toBeLessThanOrEqual(3);

      // the hub's events after queue_state; the app-level ping (every 25 s) lands wherever the
      // clock puts it, which differs per client when a loaded machine makes this test run long
      const events = (ws: WsClient) => ws.messages.slice(1).filter((m) => m.type !== "ping");
      const reference = events(sockets[0]);
      expect(peakRunning(reference)).toBe(3);
      const count = (type: string) => reference.filter((m) => m.type === type).length;
      expect(["job_created", "job_started", "job_completed", "job_cancelled"].map(count)).toEqual([
        200, 200, 197, 3,
      ]);
      // first come, first served
      const startedOrder = reference
        .filter((m) => m.type === "job_started")
        .map((m) => m.data.job_id);
      expect(startedOrder).toEqual(ids);
      // every client saw the same events in the same order, and is still connected
      for (const ws of sockets) {
        expect(events(ws).map((m) => m.seq)).toEqual(reference.map((m) => m.seq));
        expect(ws.closedCode).toBeUndefined();
      }
      for (const sse of watchers) {
        const names = sse.names;
        // watched from the queue: pending, then running (bough's extra status), then the end
        expect(names.slice(0, 2)).toEqual(["status", "status"]);
        expect(JSON.parse(sse.events[0].data).status).toBe("pending");
        expect(JSON.parse(sse.events[1].data).status).toBe("running");
        expect(names.at(-1)).toBe("complete");
        expect(names.filter((n) => n === "complete")).toHaveLength(1);
        const eventIds = sse.events.map((e) => seqOf(e.id));
        expect([...eventIds].sort((a, b) => a - b)).toEqual(eventIds);
      }
      const hub = app.runner.events.stats();
      expect(hub.dropped).toEqual({ "drop-oldest": 0, "drop-newest": 0, close: 0, block: 0 });
      expect(hub.subscribers).toBe(50);
    } finally {
      clearInterval(sampler);
      await Promise.all(sockets.map((ws) => ws.close()));
    }
    // every connection's task and subscription is gone once its client is
    await eventually(
      () => app.runner.events.stats().subscribers === 0,
      5000,
      "subscriptions closed",
    );
    expect(app.runner.pool.stats().busy).toBe(0);
  }, 120_000); // about 25 s on an idle 2-core machine, 36 s at load average 20: past the default 30 s
});
