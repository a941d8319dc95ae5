import { type Operation, resource } from "effection";

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
  [LEASE](): Operation<Lease<S>>;
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
export function createLeasable<S>(open: () => Operation<Lease<S>>): Leasable<S> {
  return {
    [LEASE]: open,
    [Symbol.iterator]: () =>
      resource<S>(function* (provide) {
        const lease = yield* open();
        try {
          yield* provide(lease.subscription);
        } finally {
          lease.close();
        }
      })[Symbol.iterator](),
  };
}

/**
 * Runs `body` with the subscription that `stream` gives, ending it when `body`
 * ends (returns, throws or is halted). A {@link Leasable} is opened without a
 * resource (no task, no scope); any other stream is subscribed the usual way.
 *
 * @example
 * ```ts
 * yield* withLease(hub.subscribe(), function* (subscription) {
 *   for (;;) send((yield* subscription.next()).value);
 * });
 * ```
 */
export function* withLease<S, X>(
  stream: Operation<S>,
  body: (subscription: S) => Operation<X>,
): Operation<X> {
  const open = (stream as Partial<Leasable<S>>)[LEASE];
  if (typeof open !== "function") return yield* body(yield* stream);
  const lease = yield* open.call(stream);
  try {
    return yield* body(lease.subscription);
  } finally {
    lease.close();
  }
}
