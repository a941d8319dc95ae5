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
}

/** A consistent view of the queue: a bounded page of jobs, the counts, and the event id they reflect. */
export interface QueueSnapshot {
  /** The runner's instance (see {@link JobRunner.instance}). */
  instance: string;
  /** The id of the last event included; subscribe `after` it to continue without gap. */
  cursor: string;
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
  const pageSize = options.statePageSize ?? 200;
  return resource(function* (provide) {
    const lastEvent = new Map<number, string>();
    const store: JobStore = yield* useJobStore({
      db: options.db,
      retainFinished: options.retainFinished,
      onDrop: (ids) => {
        for (const id of ids) lastEvent.delete(id);
      },
    });
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
    const queue = new Set<number>();
    for (const job of store.list()) if (job.status === "pending") queue.add(job.id);
    let active = 0;
    let processed = 0;
    const worker = (): WorkerStats => ({
      active,
      capacity: concurrency,
      processed,
      is_running: 1,
    });

    /** Publishes an event; with the memory broker this never suspends. */
    function* publish(event: JobEvent): Operation<Message<JobEvent>> {
      const message = yield* events.publish(event);
      cursor = message.id;
      if ("job" in event && store.get(event.job.id) !== undefined) {
        lastEvent.set(event.job.id, message.id);
      }
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
      yield* publish(type === "job_progress" ? { type, job } : { type, job, stats: stats() });
      return job;
    }

    function* finish(
      id: number,
      status: "completed" | "failed" | "cancelled",
      changes: Partial<JobRecord>,
    ): Operation<JobRecord> {
      const job = yield* change(
        id,
        { status, completed_at: epochSeconds(), ...changes },
        finalEventType(status),
      );
      return job;
    }

    function* runJob(id: number): Operation<void> {
      const pending = store.get(id);
      if (pending === undefined || pending.status !== "pending") return;
      const job = yield* change(
        id,
        {
          status: "running",
          started_at: epochSeconds(),
          progress: { percent: 0, message: "Starting..." },
        },
        "job_started",
      );
      active++;
      yield* publish({ type: "worker_stats", worker: worker() });
      try {
        yield* label(`job ${id} (${job.type})`);
        const type = JOB_TYPES[job.type];
        const ctx: JobContext = {
          pool,
          *progress(percent, message) {
            const whole = Math.max(0, Math.min(100, Math.floor(percent)));
            yield* change(id, { progress: { percent: whole, message } }, "job_progress");
          },
        };
        let result: unknown;
        try {
          result = yield* type.run(job.params, ctx);
        } catch (error) {
          const message = error instanceof Error ? error.message : describe(error);
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
        yield* publish({ type: "worker_stats", worker: worker() });
      }
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
      return { instance, cursor, jobs: page, stats: stats(), worker: worker() };
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
        yield* publish({ type: "job_created", job, stats: stats() });
        queue.add(job.id);
        scheduler.notify();
        return job;
      },
      *cancel(id) {
        const job = get(id);
        if (isFinal(job.status)) throw new JobNotCancellableError(job.status);
        queue.delete(job.id);
        // final first: whatever the job does while it unwinds cannot change it any more
        const cancelled = yield* finish(job.id, "cancelled", {});
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
        yield* publish({ type: "jobs_cleared", ids, stats: stats() });
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
