import { BoughError } from "../core/errors.js";

// The cursor errors are core concepts (an HTTP stream maps them to 400 or a reset
// without importing the hub); `bough/hub` keeps exporting them.
export { CursorExpiredError, InvalidCursorError } from "../core/errors.js";

/**
 * Thrown by a subscription whose overflow policy is `"close"` once its buffer
 * overflowed: the consumer first receives every message it had buffered, then
 * this error. `lastId` is the id of the last message it received, so it can
 * resubscribe with `{ after: lastId }` (if the history still has it).
 *
 * @example
 * ```ts
 * const sub = yield* hub.subscribe({ buffer: 100, overflow: "close" });
 * try {
 *   for (;;) yield* write((yield* sub.next()).value);
 * } catch (error) {
 *   if (error instanceof SubscriptionOverflowError) console.log("too slow, closed");
 * }
 * ```
 */
export class SubscriptionOverflowError extends BoughError {
  override readonly name = "SubscriptionOverflowError";
  /** The buffer size that was exceeded. */
  readonly buffer: number;
  /** Id of the last message delivered to this subscription, if any. */
  readonly lastId: string | undefined;

  constructor(buffer: number, lastId: string | undefined) {
    super(
      "BOUGH_HUB_SUBSCRIPTION_OVERFLOW",
      `subscription closed: its buffer of ${buffer} messages overflowed`,
    );
    this.buffer = buffer;
    this.lastId = lastId;
  }
}

/**
 * Thrown by `next()` of a subscription (or a pending `hub.next()`) whose hub
 * has ended, so that a subscription that escaped the hub's scope does not wait
 * forever.
 *
 * @example
 * ```ts
 * try { yield* sub.next(); } catch (e) { if (e instanceof HubClosedError) return; throw e; }
 * ```
 */
export class HubClosedError extends BoughError {
  override readonly name = "HubClosedError";

  constructor(topic: string) {
    super("BOUGH_HUB_CLOSED", `hub "${topic}" is closed`);
  }
}

/**
 * Thrown by `publish(value)` when `value` cannot be serialised for the broker
 * (for example a `BigInt`, a cycle, a function or `undefined` with the JSON
 * codec of the Redis broker). Nothing was published.
 *
 * @example
 * ```ts
 * try { yield* hub.publish({ n: 1n }); } catch (e) { console.log(e instanceof UnserializableValueError); } // true
 * ```
 */
export class UnserializableValueError extends BoughError {
  override readonly name = "UnserializableValueError";

  constructor(topic: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super("BOUGH_HUB_UNSERIALIZABLE_VALUE", `cannot publish to "${topic}": ${why}`, { cause });
  }
}

/**
 * Thrown by `publish(value)` on a remote broker when the message could not be
 * confirmed within the publish timeout (the broker is down or unreachable).
 * The message may still be delivered later, once the connection is back
 * (delivery is at least once; subscribers drop the duplicate).
 *
 * @example
 * ```ts
 * try { yield* hub.publish(event); } catch (e) { if (e instanceof PublishTimeoutError) queueForLater(event); }
 * ```
 */
export class PublishTimeoutError extends BoughError {
  override readonly name = "PublishTimeoutError";
  /** The timeout, in ms, that passed without a confirmation. */
  readonly ms: number;

  constructor(topic: string, ms: number) {
    super("BOUGH_HUB_PUBLISH_TIMEOUT", `publish to "${topic}" not confirmed within ${ms} ms`);
    this.ms = ms;
  }
}

/**
 * Raised inside the operation run by `useLeader()` (and seen by its `finally`
 * blocks as a halt) when this process lost the lease: it was not renewed in
 * time, or another process holds the key.
 *
 * @example
 * ```ts
 * // useLeader halts the led operation itself; the error is visible in stats and logs.
 * ```
 */
export class LeaseLostError extends BoughError {
  override readonly name = "LeaseLostError";
  /** The Redis key of the lease. */
  readonly key: string;

  constructor(key: string, why: string) {
    super("BOUGH_HUB_LEASE_LOST", `lost the lease on "${key}": ${why}`);
    this.key = key;
  }
}
