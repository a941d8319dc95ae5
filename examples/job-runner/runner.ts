/**
 * The job runner: the store, the `jobs` event topic, the worker pool and the
 * scheduler, behind the operations the API and the WebSocket call. Every
 * change to a job is made and published in one synchronous step, so the
 * store and the event stream never disagree, and a final status is never
 * overwritten: a job cancelled in its last second stays cancelled.
 */
import { randomBytes } from "node:crypto";
import { type Operation, resource } from "effection";
import { type Hub, type Message, useHub } from "../../src/hub/index.js";
import { describe, label } from "../../src/index.js";
import { usePool } from "../../src/pool/index.js";
import { JobNotCancellableError, JobNotFoundError } from "./errors.js";
import { finalEventType, type JobEvent, type JobEventType } from "./events.js";
import { isFinal, type JobRecord, type JobStats } from "./job.js";
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
}

/** A consistent view of the queue: every job, and the event id it reflects. */
export interface QueueSnapshot {
  /** The runner's instance (see {@link JobRunner.instance}). */
  instance: string;
  /** The id of the last event included; subscribe `after` it to continue without gap. */
  cursor: string;
  jobs: JobRecord[];
  stats: JobStats;
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
   * Cancels a job: a queued one never runs; a running one is halted, and this
   * returns once its cleanup is over (a `prime` job's worker is gone).
   */
  cancel(id: string | number): Operation<JobRecord>;
  /** Removes every finished job; returns their ids. */
  clearCompleted(): Operation<number[]>;
  /** The job with this id; throws {@link JobNotFoundError}. */
  get(id: string | number): JobRecord;
  /** Every job, oldest first. */
  list(): JobRecord[];
  stats(): JobStats;
  /** Every job and the event id they reflect, taken in one step. */
  snapshot(): QueueSnapshot;
  /** The id of the last event published (`"0"` before the first). */
  readonly cursor: string;
  /** The id of the last event about job `id`, if this process published one. */
  lastEventOf(id: number): string | undefined;
}

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
  return resource(function* (provide) {
    const store: JobStore = yield* useJobStore({ db: options.db });
    const events = yield* useHub<JobEvent>({
      topic: "jobs",
      history: options.history ?? 10_000,
      buffer: options.subscriberBuffer ?? 4096,
      overflow: "close",
    });
    const pool: PrimePool = yield* usePool({
      worker: new URL("./prime-worker.ts", import.meta.url),
      maxWorkers: concurrency,
      timeout: options.primeCallTimeoutMs ?? 60_000,
    });

    const instance = randomBytes(4).toString("hex");
    let cursor = "0";
    const lastEvent = new Map<number, string>();
    const queue = new Set<number>();
    for (const job of store.list()) if (job.status === "queued") queue.add(job.id);

    /** Publishes an event; with the memory broker this never suspends. */
    function* publish(event: JobEvent): Operation<Message<JobEvent>> {
      const message = yield* events.publish(event);
      cursor = message.id;
      if (event.type !== "jobs_cleared") lastEvent.set(event.job.id, message.id);
      return message;
    }

    /** Changes a job that is not final yet and publishes the change; a no-op on a final job. */
    function* change(
      id: number,
      changes: Partial<JobRecord>,
      type: JobEventType,
    ): Operation<JobRecord> {
      const current = store.get(id);
      if (current === undefined || isFinal(current.status)) return current as JobRecord;
      const job = store.update(id, changes);
      yield* publish({ type, job });
      return job;
    }

    function* finish(
      id: number,
      status: "completed" | "failed" | "cancelled",
      changes: Partial<JobRecord>,
    ): Operation<JobRecord> {
      return yield* change(
        id,
        { status, finished_at: new Date().toISOString(), ...changes },
        finalEventType(status),
      );
    }

    function* runJob(id: number): Operation<void> {
      const queued = store.get(id);
      if (queued === undefined || queued.status !== "queued") return;
      const job = yield* change(
        id,
        { status: "running", started_at: new Date().toISOString(), message: "started" },
        "job_started",
      );
      yield* label(`job ${id} (${job.job_type})`);
      const type = JOB_TYPES[job.job_type];
      const ctx: JobContext = {
        pool,
        *progress(percent, message) {
          const progress = Math.max(0, Math.min(100, Math.floor(percent)));
          yield* change(id, { progress, message }, "job_progress");
        },
      };
      let result: unknown;
      try {
        result = yield* type.run(job.params, ctx);
      } catch (error) {
        const message = error instanceof Error ? error.message : describe(error);
        yield* finish(id, "failed", { error: message, message: `failed: ${message}` });
        return;
      }
      yield* finish(id, "completed", {
        progress: 100,
        result: result ?? null,
        message: "completed",
      });
    }

    const scheduler = yield* useScheduler({
      concurrency,
      take() {
        for (const id of queue) {
          queue.delete(id);
          return id;
        }
        return undefined;
      },
      run: runJob,
    });

    function get(id: string | number): JobRecord {
      const n = parseId(id);
      const job = n === undefined ? undefined : store.get(n);
      if (job === undefined) throw new JobNotFoundError(id);
      return job;
    }

    function stats(): JobStats {
      const counts: JobStats = {
        total: 0,
        queued: 0,
        running: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
        concurrency,
      };
      for (const job of store.list()) {
        counts.total++;
        counts[job.status]++;
      }
      return counts;
    }

    yield* label("job-runner");
    yield* provide({
      concurrency,
      instance,
      events,
      pool,
      scheduler,
      *create(request) {
        const { job_type, params } = validateJob(request);
        const job = store.insert(job_type, params);
        yield* publish({ type: "job_created", job });
        queue.add(job.id);
        scheduler.notify();
        return job;
      },
      *cancel(id) {
        const job = get(id);
        if (isFinal(job.status)) throw new JobNotCancellableError(job.status);
        queue.delete(job.id);
        // final first: whatever the job does while it unwinds cannot change it any more
        const cancelled = yield* finish(job.id, "cancelled", { message: "cancelled" });
        yield* scheduler.halt(job.id);
        return cancelled;
      },
      *clearCompleted() {
        const ids = store
          .list()
          .filter((job) => isFinal(job.status))
          .map((job) => job.id);
        if (ids.length === 0) return ids;
        store.remove(ids);
        for (const id of ids) lastEvent.delete(id);
        yield* publish({ type: "jobs_cleared", ids });
        return ids;
      },
      get,
      list: () => store.list(),
      stats,
      snapshot: () => ({ instance, cursor, jobs: store.list(), stats: stats() }),
      get cursor() {
        return cursor;
      },
      lastEventOf: (id) => lastEvent.get(id),
    });
  });
}
