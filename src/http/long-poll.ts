import type { Operation } from "effection";
import type { RequestContext } from "./context.js";
import { FormatCache, openFailure } from "./pump.js";
import { BodyReply, error, json, NO_CONTENT, StreamReply, writeValue } from "./reply.js";

/** Options of {@link longPoll}. */
export interface LongPollOptions {
  /** How long to wait before answering 204 No Content, in ms. Default 30000. */
  timeoutMs?: number;
}

class LongPollReply<T> extends StreamReply {
  constructor(
    private op: Operation<T>,
    private timeoutMs: number,
  ) {
    super();
  }

  *run(ctx: RequestContext): Operation<void> {
    const res = ctx.response;
    const cancel = ctx.host.timers.after(this.timeoutMs, () => {
      NO_CONTENT.writeTo(res);
      ctx.halt();
    });
    const stopShutdown = ctx.host.onShutdown(() => {
      error("server shutting down", 503, { "retry-after": "1" }).writeTo(res);
      ctx.halt();
    });
    try {
      let value: T;
      try {
        value = yield* this.op;
      } catch (error) {
        throw openFailure(error); // a malformed cursor is a 400, an expired one a 410
      }
      cancel();
      if (value instanceof StreamReply) yield* value.run(ctx);
      else if (value === undefined || value instanceof BodyReply) writeValue(res, value);
      else sharedJson(value).writeTo(res);
    } finally {
      cancel();
      stopShutdown();
    }
  }
}

/** JSON replies by the value they answer (see {@link sharedJson}). */
const replies = new FormatCache<BodyReply>();

/**
 * The JSON reply for `value`, shared by every waiter answered with the same
 * object in one turn: a publish wakes thousands of waiters with one hub
 * message, and serializing and measuring it once instead of once per waiter
 * was a tenth of the wake's CPU time (5,000 waiters, bench/http.ts). As for
 * SSE, the cache is dropped at the end of the turn, so an object mutated
 * and sent again later is never served stale.
 */
function sharedJson(value: unknown): BodyReply {
  let reply = replies.get(value, json, undefined, undefined);
  if (reply === undefined) {
    reply = json(value);
    replies.set(value, json, undefined, undefined, reply);
  }
  return reply;
}

/**
 * A long-poll reply: waits for `op` and answers with its result (a reply, or
 * any value as JSON), or `204 No Content` after `timeoutMs`. A malformed
 * cursor (`InvalidCursorError`) gets 400, an expired one
 * (`CursorExpiredError`) 410: start again without a cursor. The timeout
 * halts `op`; a client that leaves halts it too. Timeouts share one timer per
 * distinct `timeoutMs`, so thousands of waiters cost no timer each.
 *
 * @example
 * ```ts
 * router.get("/next", function* (ctx) {
 *   return longPoll(hub.next(ctx.query.after), { timeoutMs: 25_000 });
 * });
 * ```
 */
export function longPoll<T>(op: Operation<T>, options: LongPollOptions = {}): StreamReply {
  return new LongPollReply(op, options.timeoutMs ?? 30_000);
}
