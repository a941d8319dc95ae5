/**
 * The job record the API, the SSE stream and the WebSocket all send: PAGI's
 * job-runner record, field for field (`JobRunner::Queue::_job_summary`).
 */

/**
 * Where a job is in its life, with PAGI's names. `completed`, `failed` and
 * `cancelled` are final.
 */
export type JobStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** A job's progress: a whole percentage 0–100 and a human message. */
export interface JobProgress {
  percent: number;
  message: string;
}

/**
 * One job. Times are Unix epoch seconds with a fraction (PAGI's
 * `Time::HiRes::time`), `null` until they happen.
 */
export interface JobRecord {
  id: number;
  type: string;
  params: Record<string, unknown>;
  status: JobStatus;
  progress: JobProgress;
  result: unknown;
  error: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
}

/** Counts by status, as `GET /api/stats` serves them under `queue`. */
export interface QueueStats {
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

/** The worker's counters, as PAGI's `get_worker_stats` gives them. */
export interface WorkerStats {
  /** Jobs executing now (a cancelled job counts until its cleanup is over). */
  active: number;
  /** The most jobs executing at once (`--concurrency`). */
  capacity: number;
  /** Jobs that started and then ended, whatever the outcome. */
  processed: number;
  /** 1 while the worker takes jobs (PAGI sends a number, not a boolean). */
  is_running: 0 | 1;
}

/** The current time as PAGI sends it: epoch seconds with a fraction. */
export function epochSeconds(): number {
  return Date.now() / 1000;
}

/**
 * True for the statuses nothing may change any more.
 *
 * @example
 * ```ts
 * isFinal("cancelled"); // true
 * isFinal("running"); // false
 * ```
 */
export function isFinal(status: JobStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}
