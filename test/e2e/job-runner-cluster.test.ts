/**
 * Three job-runner processes (main.ts --redis) on one real redis-server: one
 * queue and one view. Jobs run once each, at most --concurrency per process,
 * first come first served; a dashboard on one process sees what another
 * created; a cancel sent to any process reaches the one running the job; a
 * process killed with SIGKILL mid-job has its jobs reclaimed; a Redis restart
 * loses no accepted job.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { run, suspend, type Task } from "effection";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useHub } from "../../src/hub/index.js";
import { useRedisBroker } from "../../src/hub/redis.js";
import { type RedisServer, useRedisServer } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { eventually, request, startApp, WsClient } from "./fixtures/job-runner/helpers.js";

checkLeaksAfterEach({ timeoutMs: 5000 });

const ROOT = resolve(import.meta.dirname, "../..");
const CONCURRENCY = 2;
// generous: a process touches its jobs every CLAIM_MS / 3, so a heartbeat late by more than
// two thirds of this (a starved CI box) counts as a dead process and its jobs are reclaimed
// (at 3000, a live process lost a job once in ~10 runs beside a busy test suite)
const CLAIM_MS = 5000;

interface Member {
  name: string;
  child: ChildProcess;
  url: string;
  /** Its name in the cluster (the consumer of the queue's group). */
  member: string;
  output: () => string;
}

let redisTask: Task<void>;
let redis: RedisServer;
const members: Member[] = [];

async function startMember(name: string): Promise<Member> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "examples/job-runner/main.ts",
      "--port",
      "0",
      "--redis",
      redis.url,
      "--concurrency",
      String(CONCURRENCY),
      "--claim-ms",
      String(CLAIM_MS),
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stderr?.setEncoding("utf8").on("data", (s: string) => (output += s));
  await eventually(
    () => /listening on http/.test(output) || child.exitCode !== null,
    30_000,
    `${name} start`,
  );
  const match = /listening on (http:\/\/\S+) .*member ([0-9a-f]+) of cluster/.exec(output);
  if (!match) throw new Error(`${name} did not start: ${output}`);
  return { name, child, url: match[1], member: match[2], output: () => output };
}

async function kill(member: Member, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (member.child.exitCode !== null || member.child.signalCode !== null) return;
  const exited = new Promise((r) => member.child.once("exit", r));
  member.child.kill(signal);
  await exited;
}

beforeAll(async () => {
  let ready!: (server: RedisServer) => void;
  const started = new Promise<RedisServer>((r) => {
    ready = r;
  });
  // every acknowledged write on disk before the reply, so a crash of Redis loses none
  redisTask = run(function* () {
    ready(yield* useRedisServer({ args: ["--appendfsync", "always"] }));
    yield* suspend();
  });
  redis = await started;
  members.push(...(await Promise.all(["A", "B", "C"].map((name) => startMember(name)))));
}, 60_000);

afterAll(async () => {
  await Promise.all(members.map((member) => kill(member)));
  // the processes' own output, for a failure's post-mortem
  const log = process.env.JOB_RUNNER_CLUSTER_LOG;
  if (log)
    writeFileSync(log, members.map((m) => `== ${m.name} ${m.member}\n${m.output()}`).join("\n"));
  await redisTask?.halt();
});

const [a, b, c] = [0, 1, 2].map((i) => () => members[i]);
const post = (member: Member, body: unknown) =>
  request(`${member.url}/api/jobs`, { method: "POST", body });
const stats = async (member: Member) => (await request(`${member.url}/api/stats`)).json();
const jobOn = async (member: Member, id: number) =>
  (await request(`${member.url}/api/jobs/${id}`)).json();

/**
 * Reads `read()` every 50 ms until `done` holds for its value or `ms` pass; returns the last value
 * (the caller asserts on it). Each process's view is a replica fed by the topic: right after one
 * process saw an event, another may not have applied it yet, so a check of another process's view
 * waits for it.
 */
async function settled<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await read();
  }
  return value;
}

/** Replays job_started and final events: the most jobs running at once, overall and per process. */
function peaks(messages: any[]): { overall: number; perMember: Map<string, number> } {
  const owner = new Map<number, string>();
  const running = new Map<string, number>();
  const perMember = new Map<string, number>();
  let overall = 0;
  let now = 0;
  for (const m of messages) {
    if (m.type === "job_started") {
      owner.set(m.data.job_id, m.data.instance);
      const n = (running.get(m.data.instance) ?? 0) + 1;
      running.set(m.data.instance, n);
      perMember.set(m.data.instance, Math.max(perMember.get(m.data.instance) ?? 0, n));
      overall = Math.max(overall, ++now);
    } else if (["job_completed", "job_failed", "job_cancelled"].includes(m.type)) {
      const who = owner.get(m.data.job_id);
      if (who === undefined) continue;
      owner.delete(m.data.job_id);
      running.set(who, (running.get(who) ?? 1) - 1);
      now--;
    }
  }
  return { overall, perMember };
}

describe("three job-runner processes on one Redis", () => {
  it("runs 200 jobs created on all three, each once, at most --concurrency per process, seen live from A", async () => {
    const dashboard = await WsClient.open(`${a().url}/ws/queue`);
    await dashboard.next((m) => m.type === "queue_state");
    try {
      const bodies = Array.from({ length: 200 }, (_, i) =>
        i % 10 === 0
          ? { job_type: "fibonacci", params: { count: 5 } }
          : { job_type: "prime", params: { limit: 10 + (i % 5) * 10 } },
      );
      const created = await Promise.all(bodies.map((body, i) => post(members[i % 3], body)));
      expect(created.every((res) => res.status === 201)).toBe(true);
      const ids = created.map((res) => res.json().id);
      expect(new Set(ids).size).toBe(200);
      const fromC = ids.filter((_, i) => i % 3 === 2);

      await dashboard
        .waitFor((ms) => ms.filter((m) => m.type === "job_completed").length === 200, 120_000)
        .catch(async (error) => {
          // a post-mortem: did the work stall, or only the events on their way to A?
          const seen = new Map<string, number>();
          for (const m of dashboard.messages) seen.set(m.type, (seen.get(m.type) ?? 0) + 1);
          const views = await Promise.all(
            members.map(async (m) => `${m.name}: ${JSON.stringify(await stats(m).catch(String))}`),
          );
          throw new Error(
            `${error.message}\nmessages by type on A: ${JSON.stringify([...seen])}\n${views.join("\n")}\n` +
              members.map((m) => `== ${m.name}\n${m.output().slice(-2000)}`).join("\n"),
          );
        });
      const events = dashboard.messages.slice(1);
      // the dashboard on A saw every job created on C
      const createdSeen = new Set(
        events.filter((m) => m.type === "job_created").map((m) => m.data.id),
      );
      for (const id of fromC) expect(createdSeen.has(id)).toBe(true);
      // each job started once and completed once
      const startedCount = new Map<number, number>();
      for (const m of events.filter((m) => m.type === "job_started")) {
        startedCount.set(m.data.job_id, (startedCount.get(m.data.job_id) ?? 0) + 1);
      }
      const twice = [...startedCount].filter(([, n]) => n !== 1).map(([id]) => id);
      expect(
        events
          .filter((m) => m.type === "job_started" && twice.includes(m.data.job_id))
          .map((m) => `${m.data.job_id}@${m.seq} by ${m.data.instance}`),
        "the events of jobs started more than once",
      ).toEqual([]);
      expect(startedCount.size).toBe(200);
      const { overall, perMember } = peaks(events);
      expect(overall).toBeLessThanOrEqual(3 * CONCURRENCY);
      for (const peak of perMember.values()) expect(peak).toBeLessThanOrEqual(CONCURRENCY);
      // the work was shared
      expect(perMember.size).toBe(3);
      // and all three serve the same view
      const idle = { completed: 200, running: 0, pending: 0 };
      for (const member of members) {
        const { queue } = await settled(
          () => stats(member),
          (s) => s.queue.completed === 200 && s.queue.running === 0 && s.queue.pending === 0,
        );
        expect(queue).toMatchObject(idle);
      }
      // each process's worker_stats follows its last job_completed
      const { worker } = await settled(
        () => stats(a()),
        (s) => s.worker.active === 0,
      );
      expect(worker).toMatchObject({ active: 0, capacity: 3 * CONCURRENCY });
    } finally {
      await dashboard.close();
    }
    // leave the next tests an empty queue
    await request(`${c().url}/api/jobs/clear-completed`, { method: "POST" });
  }, 150_000);

  it("takes a cancel sent to any process to the process running the job", async () => {
    const job = (await post(a(), { job_type: "countdown", params: { seconds: 30 } })).json();
    const running = await settled(
      () => jobOn(b(), job.id),
      (j) => j.status === "running",
    );
    expect(running.status).toBe("running");
    const watcher = await WsClient.open(`${c().url}/ws/queue`);
    try {
      await watcher.next((m) => m.type === "queue_state");
      // the running process's worker_stats event follows its job_started: C may not have it yet
      const { worker } = await settled(
        () => stats(c()),
        (s) => s.worker.active === 1,
      );
      expect(worker.active).toBe(1);
      // cancelled through every process in turn: the first one wins, wherever the job runs
      const res = await request(`${c().url}/api/jobs/${job.id}`, { method: "DELETE" });
      expect(res.json()).toEqual({ success: true, job_id: String(job.id) });
      await watcher.next((m) => m.type === "job_cancelled" && m.data.job_id === job.id);
      // the owner halted it: its worker slot is free again, as every process sees
      await watcher.next((m) => m.type === "worker_stats" && m.data.active === 0);
      for (const member of members) {
        const seen = await settled(
          () => jobOn(member, job.id),
          (j) => j.status === "cancelled",
        );
        expect(seen.status).toBe("cancelled");
      }
      const again = await request(`${a().url}/api/jobs/${job.id}`, { method: "DELETE" });
      expect(again.status).toBe(400);
    } finally {
      await watcher.close();
      // a failure above leaves the next tests no 30 s job holding a slot
      await request(`${a().url}/api/jobs/${job.id}`, { method: "DELETE" });
      await request(`${a().url}/api/jobs/clear-completed`, { method: "POST" });
    }
  }, 30_000);

  it("reclaims the jobs of a process killed with SIGKILL mid-job as failed 'interrupted', within a bounded time", async () => {
    const watcher = await WsClient.open(`${a().url}/ws/queue`);
    await watcher.next((m) => m.type === "queue_state");
    try {
      // six long jobs fill the six slots: two on each process
      const jobs = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          post(members[i % 3], { job_type: "countdown", params: { seconds: 60 } }),
        ),
      );
      const ids = jobs.map((res) => res.json().id);
      await watcher.waitFor(
        (ms) =>
          ms.filter((m) => m.type === "job_started" && ids.includes(m.data.job_id)).length === 6,
        15_000,
      );
      const owners = new Map<number, string>(
        watcher.messages
          .filter((m) => m.type === "job_started")
          .map((m) => [m.data.job_id, m.data.instance]),
      );
      const onB = ids.filter((id) => owners.get(id) === b().member);
      expect(onB).toHaveLength(CONCURRENCY);

      const killedAt = Date.now();
      await kill(b());
      await watcher.waitFor(
        (ms) => onB.every((id) => ms.some((m) => m.type === "job_failed" && m.data.job_id === id)),
        CLAIM_MS * 3,
      );
      const reclaimMs = Date.now() - killedAt;
      // bounded: claimMs since the last touch, plus one sweep interval, plus a margin for CPU
      expect(reclaimMs, `reclaimed ${reclaimMs} ms after the kill`).toBeLessThan(
        CLAIM_MS * 2 + 2000,
      );
      for (const id of onB) {
        const job = await settled(
          () => jobOn(a(), id),
          (j) => j.status === "failed",
        );
        expect(job).toMatchObject({ status: "failed", error: "interrupted" });
      }
      // B drops out of the workers' counts once it has not been heard from for claimMs
      const { worker } = await settled(
        () => stats(a()),
        (s) => s.worker.capacity === 2 * CONCURRENCY,
        CLAIM_MS * 3,
      );
      expect(worker.capacity).toBe(2 * CONCURRENCY);
      // the others still run, once each
      for (const id of ids.filter((id) => !onB.includes(id))) {
        const job = await jobOn(c(), id);
        expect(job.status, `job ${id}, not on B: ${JSON.stringify(job)}`).toBe("running");
      }
      for (const id of ids.filter((id) => !onB.includes(id))) {
        await request(`${c().url}/api/jobs/${id}`, { method: "DELETE" });
      }
    } finally {
      await watcher.close();
    }
    await request(`${a().url}/api/jobs/clear-completed`, { method: "POST" });
  }, 60_000);

  it("loses no accepted job when Redis is killed and restarted", async () => {
    const before = await Promise.all(
      // three of the four slots left (B is gone): the job created after the restart gets the fourth
      Array.from({ length: 3 }, () =>
        post(a(), { job_type: "countdown", params: { seconds: 60 } }),
      ),
    );
    const ids = before.map((res) => res.json().id);
    await run(() => redis.kill("SIGKILL"));
    await run(() => redis.restart());
    // both live processes reconnect; every job accepted before the crash is still there
    for (const member of [a(), c()]) {
      const listed = await settled(
        async () => {
          const res = await request(`${member.url}/api/jobs`).catch(() => undefined);
          return res?.status === 200 ? (res.json().map((j: any) => j.id) as number[]) : [];
        },
        (listed) => ids.every((id) => listed.includes(id)),
        15_000,
      );
      expect(ids.filter((id) => !listed.includes(id))).toEqual([]);
    }
    // and the cluster still takes and runs new jobs
    const after = (await post(c(), { job_type: "fibonacci", params: { count: 5 } })).json();
    const { status } = await settled(
      () => jobOn(a(), after.id),
      (j) => j.status === "completed",
      20_000,
    );
    expect(status).toBe("completed");
    for (const id of ids) await request(`${a().url}/api/jobs/${id}`, { method: "DELETE" });
  }, 60_000);
  it("runs a job queued again while its replica still says running (the taker reads Redis, not its replica)", async () => {
    // The state a rerun leaves when the taker's replica lags: in Redis the job is pending again
    // (rev 3) with a new queue entry, while the replica has only seen it running (rev 2)
    const prefix = "lag-test:";
    const app = await startApp({ concurrency: 1, redis: redis.url, redisPrefix: prefix });
    const raw = new Redis(redis.url);
    try {
      const id = 77;
      const record = (status: "pending" | "running") => ({
        id,
        type: "countdown",
        params: { seconds: 1 },
        status,
        progress: { percent: 0, message: status === "pending" ? "Queued" : "Starting..." },
        result: null,
        error: null,
        created_at: Date.now() / 1000,
        started_at: status === "running" ? Date.now() / 1000 : null,
        completed_at: null,
      });
      const running = record("running");
      await raw
        .multi()
        .hset(`${prefix}records`, id, JSON.stringify(running))
        .hset(`${prefix}status`, id, "running")
        .hset(`${prefix}owner`, id, "gone")
        .hset(`${prefix}rev`, id, 2)
        .exec();
      // the replica learns "running, rev 2" the way it learns everything: from the topic
      await run(function* () {
        const broker = yield* useRedisBroker({ url: redis.url, prefix: `${prefix}hub:` });
        const events = yield* useHub<unknown>({ topic: "jobs", broker });
        yield* events.publish({ type: "job_started", job: running, rev: 2, instance: "gone" });
      });
      await eventually(() => app.app.runner.list().some((j) => j.id === id), 10_000, "replica");
      // queued again, with no event (yet) for the replica
      await raw
        .multi()
        .hset(`${prefix}records`, id, JSON.stringify(record("pending")))
        .hset(`${prefix}status`, id, "pending")
        .hdel(`${prefix}owner`, String(id))
        .hset(`${prefix}rev`, id, 3)
        .xadd(`${prefix}queue`, "*", "id", id)
        .exec();
      const status = await settled(
        () => raw.hget(`${prefix}status`, String(id)),
        (status) => status === "completed",
        20_000,
      );
      expect(status).toBe("completed");
    } finally {
      raw.disconnect();
      await app.stop();
    }
  }, 30_000);

  it("runs a job again on another member when its member went away mid-job (onInterrupted rerun)", async () => {
    // two in-process members on keys of their own, so the processes above do not take their jobs
    const options = {
      concurrency: 1,
      redis: redis.url,
      redisPrefix: "rerun-test:",
      claimMs: 900,
      onInterrupted: "rerun" as const,
    };
    const first = await startApp(options);
    const second = await startApp(options);
    try {
      const job = (
        await request(`${first.url}/api/jobs`, {
          method: "POST",
          body: { job_type: "countdown", params: { seconds: 4 } },
        })
      ).json();
      await eventually(
        () =>
          first.app.runner.scheduler.running().includes(job.id) ||
          second.app.runner.scheduler.running().includes(job.id),
        10_000,
        "the job runs",
      );
      const [owner, survivor] = first.app.runner.scheduler.running().includes(job.id)
        ? [first, second]
        : [second, first];
      // the owner goes away with the job running: it stays "running" in Redis until reclaimed
      await owner.stop();
      const stoppedAt = Date.now() / 1000;
      await eventually(
        () => survivor.app.runner.list().some((j) => j.id === job.id && j.status === "completed"),
        30_000,
        "it completes",
      ).catch(async (error) => {
        // a post-mortem: where the job is in Redis, and what the survivor's replica says
        const r = new Redis(redis.url);
        const key = (name: string) => `${options.redisPrefix}${name}`;
        const dump = {
          replica: survivor.app.runner.list().find((j) => j.id === job.id),
          running: survivor.app.runner.scheduler.running(),
          status: await r.hget(key("status"), String(job.id)),
          owner: await r.hget(key("owner"), String(job.id)),
          pending: await r.xpending(key("queue"), "workers"),
          consumers: await r.xinfo("CONSUMERS", key("queue"), "workers"),
          events: await r.xrevrange(key("hub:{jobs}"), "+", "-", "COUNT", 6),
        };
        r.disconnect();
        throw new Error(`${error.message}\n${JSON.stringify(dump)}`);
      });
      const done = survivor.app.runner.get(job.id);
      // started again by the survivor after the owner was gone, and run to its end
      expect(done.started_at).toBeGreaterThan(stoppedAt);
      expect(done.result).toEqual({ message: "Countdown complete!", duration: 4 });
    } finally {
      await first.stop();
      await second.stop();
    }
  }, 60_000);
});
