/**
 * The job runner: the store, the `jobs` event topic, the worker pool and the
 * scheduler, behind the operations the API and the WebSocket call. Every
 * change to a job is made and published in one synchronous step, so the
 * store and the event stream never disagree, and a final status is never
 * overwritten: a job cancelled in its last second stays cancelled.
 *
 * With `redis`, the process is one of a cluster: the jobs and the queue live
 * in Redis (`cluster.ts`), the `jobs` topic is a Redis stream
 * (`bough/hub/redis`), and the local store is a replica fed by that topic, so
 * every process serves the same view and reads stay synchronous. A change is
 * written by a Lua script, then published; the caller returns once its own
 * replica has applied it (read your writes).
 */
import { randomBytes } from "node:crypto";
import { action, type Operation, race, resource, type Subscription, spawn } from "effection";
import {
  CursorExpiredError,
  type Hub,
  type Message,
  SubscriptionOverflowError,
  useHub,
} from "../../src/hub/index.js";
import { useRedisBroker } from "../../src/hub/redis.js";
import { delay, describeError, label } from "../../src/index.js";
import { usePool } from "../../src/pool/index.js";
import { type ClusterQueue, useClusterQueue, type Written } from "./cluster.js";
import { JobNotCancellableError, JobNotFoundError } from "./errors.js";
import { finalEventType, type JobEvent, type JobEventType } from "./events.js";
import { epochSeconds, isFinal, type JobRecord, type QueueStats, type WorkerStats } from "./job.js";
import { JOB_TYPES, type JobContext, type PrimePool, validateJob } from "./job-types.js";
import { type Scheduler, useScheduler } from "./scheduler.js";
import { type JobStore, useJobStore } from "./store.js";

/** Options of {@link useJobRunner}. */
export interface JobRunnerOptions {
  /** The most jobs running at once. Default 3. */
  concurrency?: number;
  /** A SQLite file that keeps the jobs across restarts. Default: memory only. */
  db?: string;
  /** Events the `jobs` topic keeps for SSE `Last-Event-ID` resumes. Default 10 000. */
  history?: number;
  /**
   * Events one SSE or WebSocket subscriber may fall behind before it is cut
   * off (an SSE stream ends and its EventSource resumes from Last-Event-ID; a
   * WebSocket is closed with 1013 and the dashboard reconnects). Default 4096.
   */
  subscriberBuffer?: number;
  /** Milliseconds one pool call of a `prime` job may take. Default 60 000. */
  primeCallTimeoutMs?: number;
  /**
   * Finished jobs kept; beyond it the oldest finished jobs are dropped (from
   * memory and from `db`). Default 1000. Unfinished jobs are always kept.
   */
  retainFinished?: number;
  /**
   * The most jobs a `queue_state` carries (running first, then pending oldest
   * first, then the newest finished); the counts always cover every job.
   * Default 200.
   */
  statePageSize?: number;
  /**
   * A Redis url: run as one process of a cluster sharing the queue and the
   * view (see `cluster.ts`). Default: alone, in memory.
   */
  redis?: string;
  /** Prefix of the cluster's Redis keys. Default `"bough:job-runner:"`. */
  redisPrefix?: string;
  /** A running job whose process stops renewing its hold is reclaimed after this long. Default 5000 ms. */
  claimMs?: number;
  /** What a reclaimed job becomes: failed "interrupted", or pending again. Default `"fail"`. */
  onInterrupted?: "fail" | "rerun";
}

/** A consistent view of the queue: a bounded page of jobs, the counts, and the event id they reflect. */
export interface QueueSnapshot {
  /** The runner's instance (see {@link JobRunner.instance}). */
  instance: string;
  /** The id of the last event included; subscribe `after` it to continue without gap. */
  cursor: string;
  /** The `seq` of that event (0 before the first). */
  seq: number;
  /** At most `statePageSize` jobs, in id order: running, pending, then the newest finished. */
  jobs: JobRecord[];
  /** Counts of every job kept, not only the page. */
  stats: QueueStats;
  worker: WorkerStats;
}

/** The job runner, as provided by {@link useJobRunner}. */
export interface JobRunner {
  readonly concurrency: number;
  /**
   * Names this run of the process. Event positions (`seq`, SSE ids) start
   * again at 1 after a restart; clients compare this to tell the runs apart.
   */
  readonly instance: string;
  /** The `jobs` topic: every change, in order. */
  readonly events: Hub<JobEvent>;
  /** The worker pool the `prime` job uses. */
  readonly pool: PrimePool;
  /** The scheduler (for its counters). */
  readonly scheduler: Scheduler;
  /** Validates `{ job_type, params }`, queues the job and returns its record. */
  create(request: unknown): Operation<JobRecord>;
  /**
   * Cancels a job: a pending one never runs; a running one is halted, and this
   * returns once its cleanup is over (a `prime` job's worker is gone).
   */
  cancel(id: string | number): Operation<JobRecord>;
  /** Removes every finished job; returns their ids. */
  clearCompleted(): Operation<number[]>;
  /** The job with this id; throws {@link JobNotFoundError}. */
  get(id: string | number): JobRecord;
  /** Every job kept, oldest first. */
  list(): JobRecord[];
  /** Counts by status (PAGI's `get_queue_stats`). */
  stats(): QueueStats;
  /** The worker's counters (PAGI's `get_worker_stats`). */
  worker(): WorkerStats;
  /** Finished jobs dropped by retention so far. */
  readonly dropped: number;
  /** A page of jobs, the counts and the event id they reflect, taken in one step. */
  snapshot(): QueueSnapshot;
  /** The id of the last event published (`"0"` before the first). */
  readonly cursor: string;
  /** The id of the last event about job `id` this process saw. */
  lastEventOf(id: number): string | undefined;
  /** In a cluster: this process's name in it. */
  readonly member: string;
  /** True when this process is a member of a cluster (`redis`). */
  readonly clustered: boolean;
}

/**
 * Compares two topic cursors (`"17"` in memory, `"1764660000000-3"` on
 * Redis): negative, zero or positive.
 *
 * @example
 * ```ts
 * compareCursors("1764660000000-3", "1764660000000-12"); // < 0
 * ```
 */
export function compareCursors(a: string, b: string): number {
  const [a1, a2 = "0"] = a.split("-");
  const [b1, b2 = "0"] = b.split("-");
  return Number(a1) - Number(b1) || Number(a2) - Number(b2);
}

/** Thrown inside a job whose record is no longer this process's to write (cancelled, or reclaimed). */
class LostJob extends Error {}

function parseId(id: string | number): number | undefined {
  if (typeof id === "number") return Number.isSafeInteger(id) ? id : undefined;
  return /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : undefined;
}

/**
 * Starts the job runner for the calling scope: store, topic, pool and
 * scheduler. When the scope ends, running jobs are halted and the pool's
 * workers are gone before it returns.
 *
 * @example
 * ```ts
 * const runner = yield* useJobRunner({ concurrency: 3 });
 * const job = yield* runner.create({ job_type: "countdown", params: { seconds: 3 } });
 * yield* runner.cancel(job.id);
 * ```
 */
export function useJobRunner(options: JobRunnerOptions = {}): Operation<JobRunner> {
  const concurrency = options.concurrency ?? 3;
  const pageSize = options.statePageSize ?? 200;
  const retainFinished = options.retainFinished ?? 1000;
  const prefix = options.redisPrefix ?? "bough:job-runner:";
  const claimMs = options.claimMs ?? 5000;
  return resource(function* (provide) {
    const lastEvent = new Map<number, string>();
    const store: JobStore = yield* useJobStore({
      db: options.redis ? undefined : options.db,
      retainFinished,
      onDrop: (ids) => {
        for (const id of ids) lastEvent.delete(id);
      },
    });
    const broker = options.redis
      ? yield* useRedisBroker({ url: options.redis, prefix: `${prefix}hub:` })
      : undefined;
    const events = yield* useHub<JobEvent>({
      topic: "jobs",
      broker,
      history: options.history ?? 10_000,
      buffer: options.subscriberBuffer ?? 4096,
      overflow: "close",
    });
    const cq: ClusterQueue | undefined = options.redis
      ? yield* useClusterQueue({
          url: options.redis,
          prefix,
          retainFinished,
          claimMs,
          onInterrupted: options.onInterrupted,
        })
      : undefined;
    const pool: PrimePool = yield* usePool({
      worker: new URL("./prime-worker.ts", import.meta.url),
      maxWorkers: concurrency,
      timeoutMs: options.primeCallTimeoutMs ?? 60_000,
    });

    // in a cluster, every process has the cluster's name, so SSE ids resume on any of them
    const instance = cq ? cq.cluster : randomBytes(4).toString("hex");
    const member = cq ? cq.consumer : instance;
    let cursor = "0";
    let cursorSeq = 0;
    /** Jobs this process will run next (memory: every pending job; cluster: the ones it took). */
    const queue = new Set<number>();
    /** Cluster: the queue entry of each job this process took. */
    const entries = new Map<number, string>();
    /** Cluster: the record of each job this process runs, as it last wrote it. */
    const held = new Map<number, JobRecord>();
    for (const job of store.list()) if (job.status === "pending") queue.add(job.id);
    let active = 0;
    let processed = 0;
    let taken = 0;
    const own = (): WorkerStats => ({
      active,
      capacity: concurrency,
      processed,
      is_running: 1,
    });
    /** Cluster: the other processes' counters, by member. */
    const members = new Map<string, { stats: WorkerStats; at: number }>();
    const worker = (): WorkerStats => {
      const total = own();
      for (const { stats: other } of members.values()) {
        total.active += other.active;
        total.capacity += other.capacity;
        total.processed += other.processed;
      }
      return total;
    };

    /** Wakes whoever waits for the replica to reach a cursor, or for a free slot. */
    const waiters = new Set<() => void>();
    const wakeAll = () => {
      for (const wake of [...waiters]) wake();
    };
    function waitFor(ready: () => boolean): Operation<void> {
      return action<void>((resolve) => {
        const check = () => {
          if (!ready()) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
        return () => {
          waiters.delete(check);
        };
      });
    }

    /** Publishes an event; in a cluster, with `own`, returns once this process's replica has it (read your writes). */
    function* publish(event: JobEvent, own = false): Operation<Message<JobEvent>> {
      const message = yield* events.publish(event);
      if (cq) {
        if (own) yield* waitFor(() => compareCursors(cursor, message.id) >= 0);
        return message;
      }
      cursor = message.id;
      cursorSeq = message.seq;
      if ("job" in event && store.get(event.job.id) !== undefined) {
        lastEvent.set(event.job.id, message.id);
      }
      return message;
    }

    /** Cluster: applies one message of the topic to the replica. */
    function* applyMessage(message: Message<JobEvent>): Operation<void> {
      const event = message.value;
      if ("job" in event) {
        if (store.apply(event.job, event.rev ?? 0)) lastEvent.set(event.job.id, message.id);
        if (event.type === "job_cancelled" || event.type === "job_failed") {
          // cancelled (or reclaimed) elsewhere while it runs here: stop it
          const id = event.job.id;
          if (entries.has(id)) yield* spawn(() => scheduler.halt(id));
        }
      } else if (event.type === "jobs_cleared") {
        store.remove(event.ids);
        for (const id of event.ids) lastEvent.delete(id);
      } else if (event.instance !== undefined && event.instance !== member) {
        if (event.gone) members.delete(event.instance);
        else if (event.own && message.time >= (members.get(event.instance)?.at ?? 0)) {
          members.set(event.instance, { stats: event.own, at: message.time });
        }
      }
      cursor = message.id;
      cursorSeq = message.seq;
      wakeAll();
    }

    function* publishWorker(): Operation<void> {
      yield* publish({ type: "worker_stats", worker: worker(), instance: member, own: own() });
    }

    /** Memory: changes a job that is not final yet and publishes the change; a no-op on a final job. */
    function* changeHere(
      id: number,
      changes: Partial<JobRecord>,
      type: JobEventType,
      _base?: JobRecord,
    ): Operation<JobRecord | undefined> {
      const current = store.get(id);
      if (current === undefined || isFinal(current.status)) return undefined;
      const job = store.update(id, changes);
      yield* publish(type === "job_progress" ? { type, job } : { type, job, stats: stats() });
      return job;
    }

    /** Cluster: writes a change to a job this process owns and publishes it. */
    function* changeThere(
      id: number,
      changes: Partial<JobRecord>,
      type: JobEventType,
      base?: JobRecord,
    ): Operation<JobRecord | undefined> {
      // the record as this process last wrote it: the replica may not have applied that yet
      const current = base ?? held.get(id);
      const entry = entries.get(id);
      if (!cq || current === undefined || entry === undefined) return undefined;
      const next = { ...current, ...changes };
      const written = yield* cq.write(next, type === "job_started" ? "pending" : "running", entry);
      if (written === undefined) return undefined;
      held.set(id, written.job);
      yield* publishWritten(type, written, type === "job_started" ? member : undefined);
      return written.job;
    }

    function* publishWritten(
      type: JobEventType,
      written: Written,
      by?: string,
      own = false,
    ): Operation<void> {
      yield* publish({ type, job: written.job, rev: written.rev, instance: by }, own);
    }

    const change = cq ? changeThere : changeHere;

    function* finish(
      id: number,
      status: "completed" | "failed" | "cancelled",
      changes: Partial<JobRecord>,
    ): Operation<JobRecord | undefined> {
      return yield* change(
        id,
        { status, completed_at: epochSeconds(), ...changes },
        finalEventType(status),
      );
    }

    /**
     * The record of a job this process took from the cluster's queue, as Redis
     * has it. Not the replica's: a job reclaimed and queued again ("rerun")
     * can be taken before the replica applies the event that made it pending
     * again, and a replica still saying "running" made the taker drop the
     * queue entry and so lose the job.
     */
    function* takenRecord(id: number): Operation<JobRecord | undefined> {
      const record = yield* (cq as ClusterQueue).read(id);
      if (record === undefined) return undefined;
      // wait (briefly) until the replica has that revision, so that the events that led
      // here (job_created) go out before this process's job_started
      yield* race([waitFor(() => store.rev(id) >= record.rev), delay(2000)]);
      return record.job;
    }

    function* runJob(id: number): Operation<void> {
      const pending = cq ? yield* takenRecord(id) : store.get(id);
      if (pending === undefined || pending.status !== "pending") {
        const entry = entries.get(id);
        if (cq && entry) yield* cq.ack(entry);
        return;
      }
      const job = yield* change(
        id,
        {
          status: "running",
          started_at: epochSeconds(),
          progress: { percent: 0, message: "Starting..." },
        },
        "job_started",
        pending,
      );
      if (job === undefined) return;
      active++;
      yield* publishWorker();
      try {
        yield* label(`job ${id} (${job.type})`);
        const type = JOB_TYPES[job.type];
        const ctx: JobContext = {
          pool,
          *progress(percent, message) {
            const whole = Math.max(0, Math.min(100, Math.floor(percent)));
            const done = yield* change(
              id,
              { progress: { percent: whole, message } },
              "job_progress",
            );
            if (done === undefined) throw new LostJob(`job ${id} is no longer ours`);
          },
        };
        let result: unknown;
        try {
          result = yield* type.run(job.params, ctx);
        } catch (error) {
          if (error instanceof LostJob) return;
          const message = error instanceof Error ? error.message : describeError(error);
          yield* finish(id, "failed", { error: message });
          return;
        }
        yield* finish(id, "completed", {
          progress: { percent: 100, message: "Complete" },
          result: result ?? null,
        });
      } finally {
        active--;
        processed++;
        yield* publishWorker();
      }
    }

    const scheduler: Scheduler = yield* useScheduler({
      concurrency,
      take() {
        for (const id of queue) {
          queue.delete(id);
          return id;
        }
        return undefined;
      },
      *run(id) {
        try {
          yield* runJob(id);
        } finally {
          entries.delete(id);
          held.delete(id);
          if (cq) {
            taken--;
            wakeAll();
          }
        }
      },
    });

    if (cq) {
      const clusterQueue = cq;
      // the replica: everything from Redis, then every event after the cursor taken before
      function* sync(): Operation<Subscription<Message<JobEvent>, never>> {
        const latest = yield* events.latest();
        for (const { job, rev } of yield* clusterQueue.load()) store.apply(job, rev);
        if (latest) {
          cursor = latest.id;
          cursorSeq = latest.seq;
        }
        return yield* events.subscribe({ after: latest?.id });
      }
      const first = yield* sync();
      for (const [name, seen] of yield* clusterQueue.members(own())) {
        if (name !== member) members.set(name, seen);
      }
      yield* spawn(function* () {
        yield* label("replica");
        let subscription = first;
        for (;;) {
          try {
            for (;;) yield* applyMessage((yield* subscription.next()).value);
          } catch (error) {
            if (
              !(error instanceof SubscriptionOverflowError || error instanceof CursorExpiredError)
            )
              throw error;
            // fell too far behind the topic: read the records again and carry on from now
            subscription = yield* sync();
          }
        }
      });
      // announce this process; once its replica has the announcement, its cursor is a
      // position of the topic that every subscriber can start after (the stream exists)
      yield* publish(
        { type: "worker_stats", worker: worker(), instance: member, own: own() },
        true,
      );
      // the feeder: takes a job from the cluster's queue whenever a slot is free
      yield* spawn(function* () {
        yield* label("feeder");
        for (;;) {
          yield* waitFor(() => taken < concurrency);
          const next = yield* clusterQueue.take(1000);
          if (next === undefined) continue;
          taken++;
          entries.set(next.id, next.entry);
          queue.add(next.id);
          scheduler.notify();
        }
      });
      // the hold on running jobs, and the sweep for dead processes' jobs
      yield* spawn(function* () {
        yield* label("heartbeat");
        for (;;) {
          yield* delay(claimMs / 3);
          const held = [...entries].map(([id, entry]) => ({ id, entry }));
          for (const id of yield* clusterQueue.touch(held)) yield* spawn(() => scheduler.halt(id));
          // the members heard from lately, with their counters (events keep them fresh between)
          const live = yield* clusterQueue.members(own());
          live.delete(member);
          for (const name of members.keys()) if (!live.has(name)) members.delete(name);
          // keep whichever is newer: this heartbeat's record or the last event
          for (const [name, seen] of live) {
            if (seen.at >= (members.get(name)?.at ?? 0)) members.set(name, seen);
          }
        }
      });
      yield* spawn(function* () {
        yield* label("sweeper");
        for (;;) {
          yield* delay(claimMs / 2);
          for (const { written, owner } of yield* clusterQueue.sweep()) {
            if (written) {
              const type = written.job.status === "failed" ? "job_failed" : "job_created";
              yield* publishWritten(type, written);
            }
            if (owner && owner !== member && members.has(owner)) {
              yield* publish({
                type: "worker_stats",
                worker: worker(),
                instance: owner,
                gone: true,
              });
            }
          }
        }
      });
    }

    function get(id: string | number): JobRecord {
      const n = parseId(id);
      const job = n === undefined ? undefined : store.get(n);
      if (job === undefined) throw new JobNotFoundError(id);
      return job;
    }

    function stats(): QueueStats {
      const { pending, running, completed, failed, cancelled, total } = store.counts();
      return { pending, running, completed, failed, cancelled, total };
    }

    function snapshot(): QueueSnapshot {
      const running: JobRecord[] = [];
      const waiting: JobRecord[] = [];
      const done: JobRecord[] = [];
      for (const job of store.list()) {
        if (job.status === "running") running.push(job);
        else if (job.status === "pending") waiting.push(job);
        else done.push(job);
      }
      const page = [...running, ...waiting].slice(0, pageSize);
      const room = pageSize - page.length;
      if (room > 0) page.push(...done.slice(-room));
      page.sort((a, b) => a.id - b.id);
      return { instance, cursor, seq: cursorSeq, jobs: page, stats: stats(), worker: worker() };
    }

    yield* label("job-runner");
    yield* provide({
      concurrency,
      instance,
      member,
      clustered: cq !== undefined,
      events,
      pool,
      scheduler,
      *create(request) {
        const { job_type, params } = validateJob(request);
        if (cq) {
          const written = yield* cq.create(job_type, params);
          yield* publishWritten("job_created", written, undefined, true);
          return store.get(written.job.id) ?? written.job;
        }
        const job = store.insert(job_type, params);
        yield* publish({ type: "job_created", job, stats: stats() });
        queue.add(job.id);
        scheduler.notify();
        return job;
      },
      *cancel(id) {
        const n = parseId(id);
        if (cq) {
          if (n === undefined) throw new JobNotFoundError(id);
          const outcome = yield* cq.cancel(n, epochSeconds());
          if (outcome.outcome === "missing") throw new JobNotFoundError(id);
          if (outcome.outcome === "final") throw new JobNotCancellableError(outcome.status);
          // the process running it (this one or another) halts it when its replica applies this
          yield* publishWritten("job_cancelled", outcome, undefined, true);
          // running here: answer once its cleanup is over, as alone
          yield* waitFor(() => !entries.has(n));
          return outcome.job;
        }
        const job = get(id);
        if (isFinal(job.status)) throw new JobNotCancellableError(job.status);
        queue.delete(job.id);
        // final first: whatever the job does while it unwinds cannot change it any more
        const cancelled = (yield* finish(job.id, "cancelled", {})) as JobRecord;
        yield* scheduler.halt(job.id);
        return cancelled;
      },
      *clearCompleted() {
        const ids = cq
          ? yield* cq.clear()
          : store
              .list()
              .filter((job) => isFinal(job.status))
              .map((job) => job.id);
        // PAGI announces a clear even when it removed nothing (count 0)
        if (!cq) {
          store.remove(ids);
          for (const id of ids) lastEvent.delete(id);
        }
        yield* publish({ type: "jobs_cleared", ids, stats: cq ? undefined : stats() }, true);
        return ids;
      },
      get,
      list: () => store.list(),
      stats,
      worker,
      get dropped() {
        return store.dropped;
      },
      snapshot,
      get cursor() {
        return cursor;
      },
      lastEventOf: (id) => lastEvent.get(id),
    });
  });
}
