import { action, type Effect, Err, Ok, type Operation, type Result } from "effection";
import { OK } from "../core/effect-operation.js";
import { lightRoutines } from "../core/effection-internals.js";
import type { Message } from "./broker.js";

/**
 * What a hub hands its live subscribers: a full subscription (with its
 * queue) or a {@link NextWaiter}. Each knows its index in the hub's array, so
 * removal is a swap.
 *
 * @internal
 * @example
 * ```ts
 * for (let i = subs.length - 1; i >= 0; i--) subs[i].push(message);
 * ```
 */
export interface Subscriber<T> {
  /** Position in the hub's array of subscribers; -1 once removed. */
  index: number;
  /** Called by the hub for every live message, in order. */
  push(message: Message<T>): void;
  /** How many messages it is behind `newest` (see `HubLag`). */
  lag(newest: number): number;
  /** Ends it with `error` (the hub closed). */
  fail(error: Error): void;
}

/** What a {@link NextWaiter} needs from its hub. @internal */
export interface NextWaiterOwner<T> {
  /** Counts messages handed to readers. */
  delivered: number;
  /** Orders two cursors (the broker's `compare`). */
  compare(a: string, b: string): number;
  remove(subscriber: Subscriber<T>): void;
}

/**
 * A live `hub.next()` without a cursor: it waits for the first message
 * delivered after it was made, and needs nothing else. A full subscription
 * (a bounded queue, its two wake cells, a reusable `next()` operation) cost
 * each of 5,000 waiting long-polls about thirty objects, and the garbage
 * collector copied them during the wake; this is one object and the exit of
 * its wait. It leaves the hub's list as soon as it has its message, in the
 * delivery itself (the hub delivers backwards, so the swap brings in one
 * already served), and it is the effect its reader waits on.
 *
 * @internal
 * @example
 * ```ts
 * const waiter = new NextWaiter(core, core.topic.lastDelivered());
 * core.add(waiter);
 * try {
 *   return yield* waiter.take();
 * } finally {
 *   waiter.detach();
 * }
 * ```
 */
export class NextWaiter<T> implements Subscriber<T>, Effect<Message<T>> {
  index = -1;
  private message: Message<T> | undefined = undefined;
  private error: Error | undefined = undefined;
  private resolve: ((result: Result<Message<T>>) => void) | undefined = undefined;

  constructor(
    private readonly owner: NextWaiterOwner<T>,
    /** Messages with an id <= floor were delivered before it was made (skipped). */
    private floor: string | undefined,
  ) {}

  push(message: Message<T>): void {
    if (this.message !== undefined || this.error !== undefined) return;
    if (this.floor !== undefined) {
      if (this.owner.compare(message.id, this.floor) <= 0) return;
      this.floor = undefined;
    }
    this.message = message;
    this.detach();
    this.resolve?.(Ok(message));
  }

  lag(): number {
    // it leaves the hub's list with its message: while listed, it holds none
    return 0;
  }

  fail(error: Error): void {
    if (this.message !== undefined || this.error !== undefined) return;
    this.error = error;
    this.detach();
    this.resolve?.(Err(error));
  }

  /** Leaves the hub's list (a no-op once it has). */
  detach(): void {
    if (this.index >= 0) this.owner.remove(this);
  }

  /** Waits for the message (returns it at once if it came) and counts it as delivered. */
  *take(): Operation<Message<T>> {
    let message = this.message;
    if (message === undefined && this.error === undefined) {
      message = lightRoutines
        ? ((yield this) as Message<T>)
        : yield* action<Message<T>>((resolve, reject) => {
            this.resolve = (result) => (result.ok ? resolve(result.value) : reject(result.error));
            return () => {
              this.resolve = undefined;
            };
          });
    }
    if (this.error !== undefined) throw this.error;
    this.owner.delivered++;
    return message as Message<T>;
  }

  /** @internal effection's effect description. */
  get description(): string {
    return "hub next: wait for a message";
  }

  /** @internal effection enters the effect: resolved by {@link push} or {@link fail}. */
  enter(
    resolve: (result: Result<Message<T>>) => void,
  ): (didExit: (result: Result<void>) => void) => void {
    if (this.message !== undefined) resolve(Ok(this.message));
    else if (this.error !== undefined) resolve(Err(this.error));
    else this.resolve = resolve;
    return (didExit) => {
      this.resolve = undefined;
      didExit(OK);
    };
  }
}
