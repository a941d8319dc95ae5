/**
 * PAGI's wire forms of the job events (`JobRunner::Queue`'s broadcasts): the
 * WebSocket envelope `{ type, data }` with PAGI's `data` for each type, and
 * the SSE payloads. bough's additions are extra fields PAGI's client ignores:
 * `seq` on every WebSocket event (its position in the topic, to order it
 * against a `queue_state`), `stats` (the counts after it) on the events that
 * change them, `ids` on `jobs_cleared`, `job_id` on SSE `cancelled`.
 */
import type { Message } from "../../src/hub/index.js";
import type { JobEvent } from "./events.js";
import type { JobRecord } from "./job.js";

/** A job's run time in seconds, as PAGI computes it (`completed_at - (started_at // created_at)`). */
export function durationOf(job: JobRecord): number {
  return (job.completed_at ?? job.created_at) - (job.started_at ?? job.created_at);
}

/**
 * The `data` of a WebSocket event, as PAGI broadcasts it.
 *
 * @example
 * ```ts
 * eventData({ type: "job_progress", job }); // { job_id: 1, percent: 40, message: "3 seconds remaining..." }
 * ```
 */
export function eventData(event: JobEvent): Record<string, unknown> {
  switch (event.type) {
    case "job_created":
      return event.job as unknown as Record<string, unknown>;
    case "job_started":
      return event.instance === undefined
        ? { job_id: event.job.id, started_at: event.job.started_at }
        : { job_id: event.job.id, started_at: event.job.started_at, instance: event.instance };
    case "job_progress":
      return {
        job_id: event.job.id,
        percent: event.job.progress.percent,
        message: event.job.progress.message,
      };
    case "job_completed":
      return { job_id: event.job.id, result: event.job.result, duration: durationOf(event.job) };
    case "job_failed":
      return { job_id: event.job.id, error: event.job.error };
    case "job_cancelled":
      return { job_id: event.job.id };
    case "jobs_cleared":
      return { count: event.ids.length, ids: event.ids };
    case "worker_stats":
      return event.worker as unknown as Record<string, unknown>;
  }
}

/** Encoded broadcasts, one per topic message, shared by every client. */
const encoded = new WeakMap<Message<JobEvent>, string>();

/**
 * The WebSocket text of a topic message: `{ type, data, seq }`, encoded once
 * for every client.
 *
 * @example
 * ```ts
 * encodeEvent(message); // '{"type":"job_started","data":{"job_id":1,"started_at":1764660000.123},"seq":12}'
 * ```
 */
export function encodeEvent(message: Message<JobEvent>): string {
  let text = encoded.get(message);
  if (text === undefined) {
    const event = message.value;
    const stats = "stats" in event ? event.stats : undefined;
    text = JSON.stringify({ type: event.type, data: eventData(event), seq: message.seq, stats });
    encoded.set(message, text);
  }
  return text;
}

/** The SSE `status` payload (PAGI's `_send_job_status`). */
export function sseStatus(job: JobRecord): Record<string, unknown> {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    progress: job.progress,
    started_at: job.started_at,
  };
}

/**
 * The SSE payload of a final event: `complete` `{ status, result, duration }`,
 * `failed` `{ status, error }`, `cancelled` `{ status, job_id }` (PAGI sends
 * `{ job_id }` live and `{ status }` to a late watcher; this is both).
 */
export function sseFinal(job: JobRecord): Record<string, unknown> {
  if (job.status === "completed")
    return { status: job.status, result: job.result, duration: durationOf(job) };
  if (job.status === "failed") return { status: job.status, error: job.error };
  return { status: job.status, job_id: job.id };
}

/** The response to `POST /api/jobs` (PAGI's five fields). */
export function createdBody(job: JobRecord): Record<string, unknown> {
  return {
    id: job.id,
    type: job.type,
    params: job.params,
    status: job.status,
    created_at: job.created_at,
  };
}
