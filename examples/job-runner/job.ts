/**
 * The job record the API, the SSE stream and the WebSocket all send: one shape
 * everywhere, as the issue specifies.
 */

/** Where a job is in its life. `completed`, `failed` and `cancelled` are final. */
export type JobStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

/** One job. Times are ISO 8601 strings; `progress` is 0–100. */
export interface JobRecord {
  id: number;
  job_type: string;
  params: Record<string, unknown>;
  status: JobStatus;
  progress: number;
  message: string;
  result: unknown;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** Counts by status, as served by `GET /api/stats`. */
export interface JobStats {
  total: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  concurrency: number;
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
