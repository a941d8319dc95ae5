/**
 * One job's progress as a stream for SSE (`GET /api/jobs/:id/progress`), with
 * PAGI's events and payloads: `status` `{ id, type, status, progress,
 * started_at }` with the job as it is now, then `progress` `{ percent,
 * message }` as it runs, then exactly one of `complete` `{ status, result,
 * duration }`, `failed` `{ status, error }`, `cancelled` `{ status, job_id }`,
 * and the end (PAGI leaves the stream open). bough adds a `status` event
 * when a pending job starts, an `id` on every event and a `retry` hint: it
 * reads the same `jobs` topic as the WebSocket, and each event's id is the
 * topic's cursor, so `Last-Event-ID` resumes without a gap.
 */
import { type Operation, resource, type Stream, type Subscription } from "effection";
import type { SseOptions } from "../../src/http/index.js";
import {
  CursorExpiredError,
  InvalidCursorError,
  type Message,
  SubscriptionOverflowError,
} from "../../src/hub/index.js";
import type { JobEvent } from "./events.js";
import { isFinal, type JobRecord } from "./job.js";
import { compareCursors, type JobRunner } from "./runner.js";
import { sseFinal, sseStatus } from "./wire.js";

/** An SSE event name of the progress stream. */
export type ProgressEventName = "status" | "progress" | "complete" | "failed" | "cancelled";

/** One item of a progress stream. */
export interface ProgressItem {
  /**
   * The SSE event id: `<instance>-<cursor>`, the runner's instance and the
   * topic cursor, so that an id from before a restart is never mistaken for
   * a position in the new topic.
   */
  readonly id: string;
  readonly event: ProgressEventName;
  readonly job: JobRecord;
}

const NAMES: Record<string, ProgressEventName> = {
  job_created: "status",
  job_started: "status",
  job_progress: "progress",
  job_completed: "complete",
  job_failed: "failed",
  job_cancelled: "cancelled",
};

const FINAL_NAMES: Record<string, ProgressEventName> = {
  completed: "complete",
  failed: "failed",
  cancelled: "cancelled",
};

/** Items made once per topic message, so that many watchers of one job share them (and their SSE encoding). */
const items = new WeakMap<Message<JobEvent>, ProgressItem>();

function itemOf(runner: JobRunner, message: Message<JobEvent>, job: JobRecord): ProgressItem {
  let item = items.get(message);
  if (item === undefined) {
    item = { id: `${runner.instance}-${message.id}`, event: NAMES[message.value.type], job };
    items.set(message, item);
  }
  return item;
}

/**
 * The SSE options of a progress stream: event id, name and JSON data of an
 * item. Defined once, so each broadcast item is encoded once for all watchers.
 *
 * @example
 * ```ts
 * return sse(progressStream(runner, job.id, ctx.lastEventId), PROGRESS_SSE);
 * ```
 */
export const PROGRESS_SSE: SseOptions<ProgressItem> = {
  id: (item) => item.id,
  event: (item) => item.event,
  data: (item) =>
    JSON.stringify(
      item.event === "status"
        ? sseStatus(item.job)
        : item.event === "progress"
          ? item.job.progress
          : sseFinal(item.job),
    ),
  retryMs: 1000,
  heartbeatMs: 15_000,
};

/** The topic cursor in an SSE id of this runner's instance, or undefined. */
function cursorOf(runner: JobRunner, lastEventId: string | undefined): string | undefined {
  if (lastEventId === undefined) return undefined;
  const prefix = `${runner.instance}-`;
  if (!lastEventId.startsWith(prefix)) return undefined;
  const cursor = lastEventId.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,15})(-[0-9]{1,15})?$/.test(cursor) ? cursor : undefined;
}

/**
 * The progress stream of job `id`, fresh or resumed after `lastEventId`.
 *
 * @example
 * ```ts
 * router.get("/api/jobs/:id/progress", function* (ctx) {
 *   const job = runner.get(ctx.params.id!);
 *   return sse(progressStream(runner, job.id, ctx.lastEventId), PROGRESS_SSE);
 * });
 * ```
 */
export function progressStream(
  runner: JobRunner,
  id: number,
  lastEventId?: string,
): Stream<ProgressItem, void> {
  return resource(function* (provide) {
    const first: ProgressItem[] = [];
    let ended = false;
    let after: string | undefined;

    const sseId = (cursor: string) => `${runner.instance}-${cursor}`;

    /** Starts from the job as it is now: its final state, or a `status` event and the changes after it. */
    const fresh = () => {
      const job = runner.get(id);
      const cursor = runner.cursor;
      if (isFinal(job.status)) {
        // as PAGI: the status, then the final event, then the end
        const at = sseId(runner.lastEventOf(id) ?? cursor);
        first.push(
          { id: at, event: "status", job },
          { id: at, event: FINAL_NAMES[job.status], job },
        );
        ended = true;
      } else {
        first.push({ id: sseId(cursor), event: "status", job });
        after = cursor;
      }
    };

    const job = runner.get(id);
    const last = runner.lastEventOf(id);
    const resumeFrom = cursorOf(runner, lastEventId);
    if (resumeFrom !== undefined && compareCursors(resumeFrom, runner.cursor) <= 0) {
      if (isFinal(job.status) && (last === undefined || compareCursors(last, resumeFrom) <= 0)) {
        // it ended before the watcher left: its final state, at once
        first.push({ id: sseId(last ?? resumeFrom), event: FINAL_NAMES[job.status], job });
        ended = true;
      } else {
        after = resumeFrom;
      }
    } else {
      fresh();
    }

    let source: Subscription<Message<JobEvent>, never> | undefined;
    if (after !== undefined) {
      try {
        source = yield* runner.events.subscribe({ after });
      } catch (error) {
        if (!(error instanceof CursorExpiredError || error instanceof InvalidCursorError))
          throw error;
        // too old to resume: start over from the job as it is now
        first.length = 0;
        after = undefined;
        fresh();
        if (after !== undefined) source = yield* runner.events.subscribe({ after });
      }
    }

    const done: IteratorResult<ProgressItem, void> = { done: true, value: undefined };
    const subscription: Subscription<ProgressItem, void> = {
      *next(): Operation<IteratorResult<ProgressItem, void>> {
        const queued = first.shift();
        if (queued !== undefined) return { done: false, value: queued };
        if (ended || source === undefined) return done;
        for (;;) {
          let message: IteratorResult<Message<JobEvent>, never>;
          try {
            message = yield* source.next();
          } catch (error) {
            // too far behind: end here; the EventSource comes back with its Last-Event-ID
            if (error instanceof SubscriptionOverflowError) return done;
            throw error;
          }
          const event = message.value.value;
          if (event.type === "jobs_cleared") {
            if (event.ids.includes(id)) ended = true;
            if (ended) return done;
            continue;
          }
          if (!("job" in event) || event.job.id !== id) continue;
          const item = itemOf(runner, message.value, event.job);
          if (isFinal(event.job.status)) ended = true;
          return { done: false, value: item };
        }
      },
    };
    yield* provide(subscription);
  });
}
