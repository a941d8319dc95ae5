import { type Effect, type Operation, resource } from "effection";
import type { CursorExpiredError } from "./errors.js";

/**
 * The key under which a {@link Leasable} offers its subscription with an
 * explicit `close()`. A symbol in the global registry, so every copy of bough
 * in a process agrees on it.
 */
export const LEASE: unique symbol = Symbol.for("bough.lease") as never;

/** A subscription (or any resource value) together with the function that ends it. */
export interface Lease<S> {
  readonly subscription: S;
  /** Ends the subscription; idempotent. */
  close(): void;
  /**
   * Set when the lease was opened with `onExpired: "reset"` and its cursor had
   * expired: the error that was not thrown. The subscription then starts at
   * `reset.resetTo` (or from now), and the consumer must tell its client that
   * it missed messages (an SSE `event: reset`).
   */
  readonly reset?: CursorExpiredError;
}

/** What the consumer of a lease can handle, passed to {@link Leasable}'s opener. */
export interface LeaseOptions {
  /**
   * What a subscription resumed from an expired cursor does: `"throw"`
   * (default) fails the opening with `CursorExpiredError`; `"reset"` starts
   * the subscription at the error's `resetTo` (or from now) and reports the
   * error as {@link Lease.reset}. Only a consumer that can tell its client
   * about the gap should ask for `"reset"`.
   */
  onExpired?: "throw" | "reset";
}

/**
 * An operation that subscribes (a `Stream` is one) and can also hand out its
 * subscription without a resource: the caller gets the subscription and a
 * `close()`, and promises to call it in a `finally`. Subscribing through
 * `yield* stream` costs an effection `resource()` — a task and a scope, tens
 * of KB per subscriber — so that the subscription ends with the caller's
 * scope. A consumer that already bounds the subscription's life with its own
 * `try`/`finally` (an HTTP stream writer holding 10,000 idle connections, say)
 * skips that cost through {@link withLease}.
 */
export interface Leasable<S> extends Operation<S> {
  [LEASE](options?: LeaseOptions): Operation<Lease<S>>;
}

/**
 * Makes a {@link Leasable} from the function that opens a lease:
 * `yield* leasable` still works as before (a resource that closes the lease
 * with the caller's scope), and {@link withLease} opens it without one.
 *
 * @example
 * ```ts
 * const stream: Leasable<Subscription<Tick, never>> = createLeasable(function* () {
 *   const subscription = registry.add();
 *   return { subscription, close: () => registry.remove(subscription) };
 * });
 * const sub = yield* stream; // lives as long as this scope
 * ```
 */
export function createLeasable<S>(
  open: (options: LeaseOptions) => Operation<Lease<S>>,
): Leasable<S> {
  return {
    [LEASE]: (options = {}) => open(options),
    [Symbol.iterator]: () => leaseResource(() => open({}))[Symbol.iterator](),
  };
}

/**
 * A {@link Leasable} written as a class: a subclass opens the lease in
 * `[LEASE]()`, and `yield*` on an instance subscribes as a resource that
 * closes the lease with the caller's scope, as {@link createLeasable}'s does.
 * Its methods live on the prototype, so an instance is one object with its
 * own fields, where `createLeasable()` makes an object and two closures per
 * call: for a leasable made per subscriber (`hub.subscribe()`, once per SSE
 * connection, which keeps it while the connection lasts).
 *
 * @example
 * ```ts
 * class Ticks extends LeasableOperation<Subscription<Tick, never>> {
 *   *[LEASE](): Operation<Lease<Subscription<Tick, never>>> {
 *     const subscription = registry.add();
 *     return { subscription, close: () => registry.remove(subscription) };
 *   }
 * }
 * const sub = yield* new Ticks(); // lives as long as this scope
 * ```
 */
export abstract class LeasableOperation<S> implements Leasable<S> {
  /** Opens a lease on the subscription (see {@link Leasable}). */
  abstract [LEASE](options?: LeaseOptions): Operation<Lease<S>>;

  [Symbol.iterator](): Iterator<Effect<unknown>, S, unknown> {
    return leaseResource(() => this[LEASE]({}))[Symbol.iterator]();
  }
}

/** A resource that opens a lease and closes it when the caller's scope ends. */
function leaseResource<S>(open: () => Operation<Lease<S>>): Operation<S> {
  return resource<S>(function* (provide) {
    const lease = yield* open();
    try {
      yield* provide(lease.subscription);
    } finally {
      lease.close();
    }
  });
}

/**
 * Runs `body` with the subscription that `stream` gives, ending it when `body`
 * ends (returns, throws or is halted). A {@link Leasable} is opened without a
 * resource (no task, no scope), with `options`; any other stream is subscribed
 * the usual way. `body` receives the lease's `reset`, if any.
 *
 * @example
 * ```ts
 * yield* withLease(hub.subscribe(), function* (subscription) {
 *   for (;;) send((yield* subscription.next()).value);
 * });
 * yield* withLease(hub.subscribe({ after }), function* (subscription, reset) {
 *   if (reset) send("missed messages");
 * }, { onExpired: "reset" });
 * ```
 */
export function* withLease<S, X>(
  stream: Operation<S>,
  body: (subscription: S, reset: CursorExpiredError | undefined) => Operation<X>,
  options: LeaseOptions = {},
): Operation<X> {
  const lease = yield* openLease(stream, options);
  try {
    return yield* body(lease.subscription, lease.reset);
  } finally {
    lease.close();
  }
}

/**
 * Opens the subscription that `stream` gives as a {@link Lease}, which the
 * caller must close in its own `finally`: what {@link withLease} does, for a
 * consumer that keeps the lease in its own frame rather than pass a body
 * function (an HTTP stream holding thousands of idle connections: a body
 * closure and its generator per connection are memory it keeps). A
 * {@link Leasable} is opened without a resource, with `options`; any other
 * stream is subscribed the usual way (bound to the caller's scope), and its
 * lease's `close()` does nothing.
 *
 * @example
 * ```ts
 * const lease = yield* openLease(hub.subscribe(), { onExpired: "reset" });
 * try {
 *   if (lease.reset) send("missed messages");
 *   for (;;) send((yield* lease.subscription.next()).value);
 * } finally {
 *   lease.close();
 * }
 * ```
 */
export function* openLease<S>(
  stream: Operation<S>,
  options: LeaseOptions = {},
): Operation<Lease<S>> {
  const open = (stream as Partial<Leasable<S>>)[LEASE];
  if (typeof open === "function") return yield* open.call(stream, options);
  return new ScopedLease(yield* stream);
}

/** The lease of a subscription that its caller's scope already ends: `close()` does nothing. */
class ScopedLease<S> implements Lease<S> {
  constructor(readonly subscription: S) {}
  close(): void {}
}
