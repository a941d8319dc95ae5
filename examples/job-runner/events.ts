/**
 * The job events: one hub topic that every mutation publishes to and that
 * both the SSE progress streams and the WebSocket broadcast read, so every
 * client sees the same changes in the same order. The wire forms (PAGI's) are
 * made from these in `wire.ts`.
 */
import type { JobRecord, QueueStats, WorkerStats } from "./job.js";

/** The type of an event about one job. */
export type JobEventType =
  | "job_created"
  | "job_started"
  | "job_progress"
  | "job_completed"
  | "job_failed"
  | "job_cancelled";

/**
 * One event of the `jobs` topic. Every job event carries the job's record as
 * it is after the change (an immutable snapshot); `jobs_cleared` carries the
 * ids that "clear completed" removed; `worker_stats` the worker's counters
 * after a job started or ended. An event that changes the counts by status
 * carries them as they are after it (`stats`), so that a dashboard showing a
 * page of the jobs still shows exact counts.
 */
export type JobEvent =
  | {
      readonly type: JobEventType;
      readonly job: JobRecord;
      readonly stats?: QueueStats;
      /** The record's revision in a cluster (replicas keep the newest). */
      readonly rev?: number;
      /** In a cluster: the process that started the job (`job_started`). */
      readonly instance?: string;
    }
  | { readonly type: "jobs_cleared"; readonly ids: readonly number[]; readonly stats?: QueueStats }
  | {
      readonly type: "worker_stats";
      /** The workers' counters as the publisher sees them (a cluster's sum). */
      readonly worker: WorkerStats;
      /** In a cluster: the process these counters are from, and its own counters. */
      readonly instance?: string;
      readonly own?: WorkerStats;
      /** In a cluster: that process is gone (its jobs were reclaimed). */
      readonly gone?: boolean;
    };

/**
 * The event announcing a job's final status.
 *
 * @example
 * ```ts
 * finalEventType("cancelled"); // "job_cancelled"
 * ```
 */
export function finalEventType(status: "completed" | "failed" | "cancelled"): JobEventType {
  return status === "completed"
    ? "job_completed"
    : status === "failed"
      ? "job_failed"
      : "job_cancelled";
}
