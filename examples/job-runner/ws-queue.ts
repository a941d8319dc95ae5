/**
 * The WebSocket `/ws/queue`: `queue_state` on connect, then every job event
 * of the `jobs` topic, in order, to every client; and the client's requests
 * (`create_job`, `cancel_job`, `clear_completed`, `get_state`), each answered
 * with an `ack` carrying the request's `id`, or an `error` (the socket stays open).
 */
import { type Operation, spawn } from "effection";
import type { WebSocketConnection, WebSocketHandler } from "../../src/http/index.js";
import { HttpError } from "../../src/http/index.js";
import { type Message, SubscriptionOverflowError } from "../../src/hub/index.js";
import type { JobEvent } from "./events.js";
import type { JobRunner, QueueSnapshot } from "./runner.js";

/** A message the client sends. `id` is echoed in the answer. */
export type ClientRequest =
  | { type: "create_job"; id?: unknown; job_type: string; params?: Record<string, unknown> }
  | { type: "cancel_job"; id?: unknown; job_id: number }
  | { type: "clear_completed"; id?: unknown }
  | { type: "get_state"; id?: unknown };

/** Encoded broadcasts, one per topic message, shared by every client. */
const encoded = new WeakMap<Message<JobEvent>, string>();

/**
 * The wire form of a job event: `{ type, seq, job }` (or `{ type: "jobs_cleared", seq, ids }`).
 * `seq` orders it against a `queue_state`'s `seq`.
 *
 * @example
 * ```ts
 * encodeEvent(message); // '{"type":"job_started","seq":12,"job":{…}}'
 * ```
 */
export function encodeEvent(message: Message<JobEvent>): string {
  let text = encoded.get(message);
  if (text === undefined) {
    text = JSON.stringify({ ...message.value, seq: message.seq });
    encoded.set(message, text);
  }
  return text;
}

function stateMessage(snapshot: QueueSnapshot, id?: unknown): string {
  return JSON.stringify({
    type: "queue_state",
    ...(id === undefined ? {} : { id }),
    instance: snapshot.instance,
    seq: Number(snapshot.cursor),
    jobs: snapshot.jobs,
    stats: snapshot.stats,
  });
}

function errorMessage(message: string, id?: unknown, status = 400): string {
  return JSON.stringify({ type: "error", id: id ?? null, status, error: message });
}

/** Answers one client message; never throws for the client's mistakes. */
function* answer(runner: JobRunner, raw: string | Buffer): Operation<string> {
  if (typeof raw !== "string") return errorMessage("binary messages are not supported");
  let request: ClientRequest;
  try {
    request = JSON.parse(raw);
  } catch (error) {
    return errorMessage(`malformed message: ${(error as Error).message}`);
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    return errorMessage("malformed message: expected a JSON object with a type");
  }
  const id = request.id;
  try {
    switch (request.type) {
      case "create_job": {
        const job = yield* runner.create({ job_type: request.job_type, params: request.params });
        return JSON.stringify({ type: "ack", id: id ?? null, request: request.type, job });
      }
      case "cancel_job": {
        if (typeof request.job_id !== "number" && typeof request.job_id !== "string") {
          return errorMessage("job_id must be a job id", id);
        }
        const job = yield* runner.cancel(request.job_id);
        return JSON.stringify({ type: "ack", id: id ?? null, request: request.type, job });
      }
      case "clear_completed": {
        const cleared = yield* runner.clearCompleted();
        return JSON.stringify({ type: "ack", id: id ?? null, request: request.type, cleared });
      }
      case "get_state":
        return stateMessage(runner.snapshot(), id ?? null);
      default:
        return errorMessage(
          `unknown message type ${JSON.stringify((request as { type?: unknown }).type)}; ` +
            "expected create_job, cancel_job, clear_completed or get_state",
          id,
        );
    }
  } catch (error) {
    if (error instanceof HttpError) return errorMessage(error.message, id, error.status);
    throw error;
  }
}

function* serveRequests(runner: JobRunner, socket: WebSocketConnection): Operation<void> {
  const messages = yield* socket.messages;
  for (;;) {
    const next = yield* messages.next();
    if (next.done) return;
    yield* socket.send(yield* answer(runner, next.value));
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
export function queueSocket(runner: JobRunner): WebSocketHandler {
  return function* (socket) {
    const snapshot = runner.snapshot();
    yield* socket.send(stateMessage(snapshot));
    const events = yield* runner.events.subscribe({ after: snapshot.cursor });
    yield* spawn(() => serveRequests(runner, socket));
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
      yield* socket.send(encodeEvent(message.value));
    }
  };
}
