/**
 * The WebSocket `/ws/queue`, as PAGI's `JobRunner::WebSocket` speaks it:
 * `queue_state` `{ jobs, stats, worker, job_types }` on connect, then every
 * event of the `jobs` topic as `{ type, data }`, in order, to every client; an
 * app-level `{ type: "ping", ts }` every 25 s; and the client's requests, each
 * answered as PAGI does: `create_job` → `job_created_ack`, `cancel_job` →
 * `job_cancelled_ack`, `clear_completed` → `jobs_cleared_ack`, `get_state` →
 * `queue_state`, `get_job_types` → `job_types`, `ping` → `pong`, a refusal →
 * `{ type: "error", message }` (the socket stays open); anything else is
 * ignored. bough adds `seq` and `instance` to `queue_state`, `seq` to every
 * event, `code`/`field` to errors, and echoes a request's `id` in its answer.
 */
import { type Operation, spawn } from "effection";
import type { WebSocketConnection, WebSocketHandler } from "../../src/http/index.js";
import { HttpError } from "../../src/http/index.js";
import { type Message, SubscriptionOverflowError } from "../../src/hub/index.js";
import { delay } from "../../src/index.js";
import { errorBody } from "./errors.js";
import type { JobEvent } from "./events.js";
import { jobTypeSchema } from "./job-types.js";
import type { JobRunner, QueueSnapshot } from "./runner.js";
import { encodeEvent, eventData } from "./wire.js";

/** Options of {@link queueSocket}. */
export interface QueueSocketOptions {
  /** How often the app-level `{ type: "ping", ts }` is sent. Default 25 000 ms (PAGI's). */
  appPingIntervalMs?: number;
}

/** The `queue_state` message: a bounded page of jobs, every count, the worker and the job types. */
export function stateMessage(snapshot: QueueSnapshot, id?: unknown): string {
  return JSON.stringify({
    type: "queue_state",
    ...(id === undefined ? {} : { id }),
    jobs: snapshot.jobs,
    stats: snapshot.stats,
    worker: snapshot.worker,
    job_types: jobTypeSchema(),
    instance: snapshot.instance,
    seq: snapshot.seq,
  });
}

/** An answer with the request's `id` echoed when it had one. */
function reply(body: Record<string, unknown>, id: unknown): string {
  return JSON.stringify(id === undefined ? body : { ...body, id });
}

function refusal(error: unknown, id: unknown): string {
  if (!(error instanceof HttpError)) throw error;
  const { error: message, ...extra } = errorBody(error);
  return reply({ type: "error", message, ...extra }, id);
}

const truthy = (value: unknown) =>
  value !== undefined && value !== null && value !== "" && value !== 0 && value !== "0";

/** Answers one client message (PAGI's `_handle_message`); `undefined` when there is nothing to say. */
function* answer(runner: JobRunner, raw: string | Buffer): Operation<string | undefined> {
  if (typeof raw !== "string") return undefined;
  let request: Record<string, unknown>;
  try {
    request = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) return undefined;
  const id = request.id;
  switch (request.type) {
    case "create_job":
      try {
        const job = yield* runner.create({ job_type: request.job_type, params: request.params });
        return reply({ type: "job_created_ack", job_id: job.id }, id);
      } catch (error) {
        return refusal(error, id);
      }
    case "cancel_job": {
      const jobId = request.job_id;
      if (!truthy(jobId)) return reply({ type: "error", message: "Missing 'job_id' field" }, id);
      try {
        yield* runner.cancel(typeof jobId === "number" ? jobId : String(jobId));
        return reply({ type: "job_cancelled_ack", job_id: jobId, success: true }, id);
      } catch (error) {
        return refusal(error, id);
      }
    }
    case "clear_completed": {
      const cleared = yield* runner.clearCompleted();
      return reply({ type: "jobs_cleared_ack", cleared: cleared.length }, id);
    }
    case "get_state":
      return stateMessage(runner.snapshot(), id);
    case "get_job_types":
      return reply({ type: "job_types", job_types: jobTypeSchema() }, id);
    case "ping":
      return reply({ type: "pong", ts: request.ts }, id);
    default:
      // `pong` and anything unknown: PAGI says nothing
      return undefined;
  }
}

function* serveRequests(runner: JobRunner, socket: WebSocketConnection): Operation<void> {
  const messages = yield* socket.messages;
  for (;;) {
    const next = yield* messages.next();
    if (next.done) return;
    const text = yield* answer(runner, next.value);
    if (text !== undefined) yield* socket.send(text);
  }
}

function* ping(socket: WebSocketConnection, intervalMs: number): Operation<void> {
  for (;;) {
    yield* delay(intervalMs);
    yield* socket.send(JSON.stringify({ type: "ping", ts: Math.floor(Date.now() / 1000) }));
  }
}

/**
 * The `/ws/queue` handler for `router.ws`.
 *
 * @example
 * ```ts
 * router.ws("/ws/queue", queueSocket(runner), { pingIntervalMs: 20_000 });
 * ```
 */
export function queueSocket(runner: JobRunner, options: QueueSocketOptions = {}): WebSocketHandler {
  const pingMs = options.appPingIntervalMs ?? 25_000;
  return function* (socket) {
    const snapshot = runner.snapshot();
    yield* socket.send(stateMessage(snapshot));
    const events = yield* runner.events.subscribe({ after: snapshot.cursor });
    yield* spawn(() => serveRequests(runner, socket));
    yield* spawn(() => ping(socket, pingMs));
    for (;;) {
      let message: IteratorResult<Message<JobEvent>, never>;
      try {
        message = yield* events.next();
      } catch (error) {
        if (!(error instanceof SubscriptionOverflowError)) throw error;
        // too far behind to catch up: the client reconnects and gets a fresh queue_state
        socket.close(1013, "too far behind; reconnect");
        return;
      }
      const event = message.value.value;
      // in a cluster the publisher's counts are not this replica's: the counts as sent
      const text =
        runner.clustered && "job" in event && event.type !== "job_progress"
          ? JSON.stringify({
              type: event.type,
              data: eventData(event),
              seq: message.value.seq,
              stats: runner.stats(),
            })
          : encodeEvent(message.value);
      yield* socket.send(text);
    }
  };
}
