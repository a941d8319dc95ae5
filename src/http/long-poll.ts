import type { Operation } from "effection";
import type { RequestContext } from "./context.js";
import { openFailure } from "./pump.js";
import { error, NO_CONTENT, StreamReply, writeValue } from "./reply.js";

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
      else writeValue(res, value);
    } finally {
      cancel();
      stopShutdown();
    }
  }
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
