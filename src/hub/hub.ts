import { type Effect, type Operation, resource, type Subscription } from "effection";
import {
  type BoundedQueue,
  createBoundedQueue,
  OVERFLOW_POLICIES,
  type OverflowPolicy,
} from "../core/bounded-queue.js";
import {
  LEASE,
  type Leasable,
  LeasableOperation,
  type Lease,
  type LeaseOptions,
} from "../core/lease.js";
import { usePanel } from "../core/panels.js";
import type { Broker, BrokerTopic, Message, TopicListener } from "./broker.js";
import { CursorExpiredError, HubClosedError, SubscriptionOverflowError } from "./errors.js";
import { createMemoryBroker } from "./memory-broker.js";
import { NextWaiter, type NextWaiterOwner, type Subscriber } from "./next-waiter.js";

/**
 * What a subscription does when a message arrives and its buffer is full (the
 * core's {@link OverflowPolicy}, re-exported here where hub users look):
 * - `"drop-oldest"`: discard the oldest buffered message (a live view);
 * - `"drop-newest"`: discard the arriving message;
 * - `"close"`: end the subscription with `SubscriptionOverflowError` once the
 *   buffered messages are consumed;
 * - `"block"`: hold the publisher (memory broker) or the process's reader
 *   (Redis broker) until there is room. Only this policy lets a slow
 *   subscriber slow anyone else down.
 */
export type { OverflowPolicy };

/** Options of {@link useHub}. */
export interface HubOptions {
  /** The topic's name. Hubs on the same broker and topic share messages. */
  topic: string;
  /** Where messages live. Default: a new {@link createMemoryBroker | memory broker}. */
  broker?: Broker;
  /** Messages the memory broker keeps for `next(after)`/`subscribe({ after })`. Default 1000. */
  history?: number;
  /** Default buffer size of each subscription, in messages. Default 1024. */
  buffer?: number;
  /** Default overflow policy of each subscription. Default `"drop-oldest"`. */
  overflow?: OverflowPolicy;
}

/** Options of {@link Hub.subscribe}. */
export interface SubscribeOptions {
  /**
   * Resume after this cursor (a message `id`): history after it is replayed
   * first, then live messages, without gap or duplicate. Default: live
   * messages only, from now.
   */
  after?: string;
  /** This subscription's buffer size. Default: the hub's. */
  buffer?: number;
  /** This subscription's overflow policy. Default: the hub's. */
  overflow?: OverflowPolicy;
}

/** Counters of a hub, from {@link Hub.stats}. */
export interface HubStats {
  topic: string;
  /** The broker's kind (`"memory"`, `"redis"`). */
  broker: string;
  /** Live subscriptions (including pending `next()` calls). */
  subscribers: number;
  /** Messages published through this hub. */
  published: number;
  /** Messages this hub received from the broker (its own and others'). */
  received: number;
  /** Messages handed to consumers, summed over subscriptions. */
  delivered: number;
  /** Messages lost to full buffers, per overflow policy. */
  dropped: Record<OverflowPolicy, number>;
  /** Subscriptions ended by the `close` policy. */
  closed: number;
  /** Times a publisher (or reader) waited for a full `block` subscription. */
  blocked: number;
  /** Broker entries that could not be decoded and were skipped. */
  malformed: number;
  /** Duplicate broker entries (re-sent commands) that were dropped. */
  duplicates: number;
}

/**
 * How far a hub's subscribers are behind the newest message the hub received,
 * in messages: what the inspector's hub panel shows as `lag`. A live
 * subscriber's lag is what waits in its buffer; a subscriber still reading
 * history (`after` a cursor) is behind by at least the distance from its next
 * message to the newest one. Messages a subscriber lost to its overflow policy
 * are counted in `dropped`, not here.
 */
export interface HubLag {
  /** The largest lag of any subscriber (0 without subscribers). */
  max: number;
  /** The lags summed over the subscribers. */
  total: number;
  /** Subscribers behind by at least one message. */
  behind: number;
}

/**
 * A hub subscription: an effection `Subscription` (so `subscribe()` is a
 * `Stream` that works with `each()`), plus `nextBatch()` for consumers that
 * can take many messages at once.
 */
export interface MessageSubscription<T> extends Subscription<Message<T>, never> {
  /**
   * Waits like `next()` for at least one message, then returns every message
   * already buffered (up to `max`, default 1024) in order. One `yield*` per
   * batch instead of one per message: use it where a consumer can handle a
   * batch at once (one socket write for many SSE events).
   *
   * @example
   * ```ts
   * const sub = yield* hub.subscribe();
   * for (;;) {
   *   const batch = yield* sub.nextBatch();
   *   yield* write(batch.map((m) => `id: ${m.id}\ndata: ${JSON.stringify(m.value)}\n\n`).join(""));
   * }
   * ```
   */
  nextBatch(max?: number): Operation<Message<T>[]>;
}

/** A topic's publish/subscribe handle, from {@link useHub}. */
export interface Hub<T> {
  /** The topic's name. */
  readonly topic: string;
  /**
   * Publishes `value` and returns its message. With the memory broker it
   * completes at once (unless a `block` subscription is full); with Redis it
   * completes when Redis confirmed the entry. It is an operation on every
   * broker, so hub code does not change with the broker: `yield*` it.
   */
  publish(value: T): Operation<Message<T>>;
  /**
   * A stream of messages, live from now or resumed `after` a cursor. Each
   * subscription has its own bounded buffer and overflow policy; the stream
   * never ends by itself (it fails with `SubscriptionOverflowError` under the
   * `close` policy, or `CursorExpiredError` when `after` is too old).
   */
  subscribe(options?: SubscribeOptions): Leasable<MessageSubscription<T>>;
  /**
   * Long-poll: the first message after `after`, at once if the history has
   * it; without `after`, the next message published from now.
   */
  next(after?: string): Operation<Message<T>>;
  /** The newest message of the topic, if any. */
  latest(): Operation<Message<T> | undefined>;
  /** Counters, as a fresh object. */
  stats(): HubStats;
}

/**
 * Opens a hub on `topic` for the calling scope: bounded fan-out of published
 * messages to any number of subscriptions, with cursors for resuming and a
 * long-poll `next()`. The broker decides where messages live: in this process
 * (default) or in Redis (`redisBroker()` from `bough/hub/redis`) with the same
 * code. Everything the hub started ends with the scope.
 *
 * Delivery is cheap: a publish writes into each subscription's bounded queue
 * (the core's `BoundedQueue`, O(1)) and wakes a waiting subscriber once per
 * batch, not once per message.
 *
 * The inspector (`bough/inspect`) shows each hub as a `hub` panel named for
 * its topic: the counters of `stats()` (`subscribers`, `published`,
 * `delivered`, `dropped` per policy, …) and `lag` ({@link HubLag}: the most
 * and the total messages its subscribers are behind, and how many are
 * behind), computed from the subscribers' buffers only when somebody looks.
 *
 * @example
 * ```ts
 * import { main, spawn } from "effection";
 * import { useHub } from "bough/hub";
 *
 * await main(function* () {
 *   const hub = yield* useHub<string>({ topic: "chat", history: 100, buffer: 256 });
 *   yield* spawn(function* () {
 *     const sub = yield* hub.subscribe();
 *     for (;;) console.log((yield* sub.next()).value.value);
 *   });
 *   yield* hub.publish("hello");
 *   console.log(yield* hub.next("0")); // { id: "1", seq: 1, value: "hello", time: … }
 * });
 * ```
 */
export function useHub<T>(options: HubOptions): Operation<Hub<T>> {
  const {
    topic: name,
    broker = createMemoryBroker(),
    history = 1000,
    buffer = 1024,
    overflow = "drop-oldest",
  } = options;
  return resource(function* (provide) {
    checkBuffer(buffer);
    checkPolicy(overflow);
    if (!Number.isInteger(history) || history < 0) {
      throw new RangeError(`useHub: history must be an integer >= 0, got ${history}`);
    }
    const topic = yield* broker.open<T>(name, { history });
    const core = new HubCore<T>(topic, broker.kind, buffer, overflow);
    const unlisten = topic.listen(core);
    const api = core.api();
    yield* usePanel("hub", name, () => ({ ...api.stats(), lag: core.lag() }));
    try {
      yield* provide(api);
    } finally {
      unlisten();
      core.close();
    }
  });
}

function checkBuffer(buffer: number): void {
  if (!Number.isInteger(buffer) || buffer < 1) {
    throw new RangeError(`hub buffer must be an integer >= 1, got ${buffer}`);
  }
}

function checkPolicy(policy: string): void {
  if (!OVERFLOW_POLICIES.includes(policy as OverflowPolicy)) {
    throw new RangeError(`unknown overflow policy "${policy}"`);
  }
}

const BACKFILL = 0;
const LIVE = 1;

/** The hub's shared state; the broker delivers to it, it fans out. */
class HubCore<T> implements TopicListener<T>, NextWaiterOwner<T> {
  readonly topic: BrokerTopic<T>;
  readonly kind: string;
  readonly buffer: number;
  readonly overflow: OverflowPolicy;
  /** Live subscriptions; each knows its index, so removal is a swap (O(1)). */
  readonly subs: Subscriber<T>[] = [];
  closed = false;
  published = 0;
  received = 0;
  delivered = 0;
  closedSubs = 0;
  blocked = 0;
  /** The `seq` of the newest message received: where the subscribers' lag is measured from. */
  newest = 0;
  dropped: Record<OverflowPolicy, number> = {
    "drop-oldest": 0,
    "drop-newest": 0,
    close: 0,
    block: 0,
  };
  /**
   * Queues of `block` subscriptions that were full after a delivery; each is
   * dropped from the set (lazily) once it has room again.
   */
  private readonly full = new Set<BoundedQueue<Message<T>>>();

  constructor(topic: BrokerTopic<T>, kind: string, buffer: number, overflow: OverflowPolicy) {
    this.topic = topic;
    this.kind = kind;
    this.buffer = buffer;
    this.overflow = overflow;
  }

  deliver(message: Message<T>): void {
    this.received++;
    this.newest = message.seq;
    const subs = this.subs;
    // Backwards, so that a subscription removing itself (close policy) swaps in
    // one that was already served.
    for (let i = subs.length - 1; i >= 0; i--) subs[i].push(message);
  }

  /** A `block` subscription's queue filled up: the broker must wait before the next delivery. */
  filled(queue: BoundedQueue<Message<T>>): void {
    this.full.add(queue);
  }

  get ready(): boolean {
    if (this.full.size === 0) return true;
    for (const queue of this.full) {
      if (queue.full && !queue.closed) return false;
      this.full.delete(queue);
    }
    return true;
  }

  *waitReady(): Operation<void> {
    this.blocked++;
    for (const queue of this.full) {
      yield* queue.untilRoom();
      this.full.delete(queue);
    }
  }

  *open(options: SubscribeOptions, pageSize: number, quiet = false): Operation<Sub<T>> {
    if (this.closed) throw new HubClosedError(this.topic.name);
    const buffer = options.buffer ?? this.buffer;
    const policy = options.overflow ?? this.overflow;
    checkBuffer(buffer);
    checkPolicy(policy);
    const sub = new Sub<T>(this, buffer, policy, pageSize, quiet);
    this.add(sub);
    try {
      if (options.after === undefined) {
        sub.goLive(this.topic.lastDelivered());
      } else {
        // Validates the cursor now, so that subscribe() itself throws
        // CursorExpiredError; the first page is delivered first.
        sub.backfillFrom(options.after);
        yield* sub.readPage();
      }
    } catch (error) {
      sub.detach();
      throw error;
    }
    return sub;
  }

  add(sub: Subscriber<T>): void {
    sub.index = this.subs.length;
    this.subs.push(sub);
  }

  remove(sub: Subscriber<T>): void {
    const subs = this.subs;
    const last = subs.pop() as Subscriber<T>;
    if (last !== sub) {
      subs[sub.index] = last;
      last.index = sub.index;
    }
    sub.index = -1;
  }

  compare(a: string, b: string): number {
    return this.topic.compare(a, b);
  }

  /** A live `next()`: waits for the first message delivered from now (see {@link NextWaiter}). */
  *nextLive(): Operation<Message<T>> {
    if (this.closed) throw new HubClosedError(this.topic.name);
    const waiter = new NextWaiter<T>(this, this.topic.lastDelivered());
    this.add(waiter);
    try {
      return yield* waiter.take();
    } finally {
      waiter.detach();
    }
  }

  /** The subscribers' {@link HubLag}, computed now (O(subscribers)). */
  lag(): HubLag {
    let max = 0;
    let total = 0;
    let behind = 0;
    for (const sub of this.subs) {
      const lag = sub.lag(this.newest);
      if (lag > max) max = lag;
      total += lag;
      if (lag > 0) behind++;
    }
    return { max, total, behind };
  }

  close(): void {
    this.closed = true;
    for (const sub of [...this.subs]) sub.fail(new HubClosedError(this.topic.name));
  }

  api(): Hub<T> {
    const core = this;
    return {
      topic: this.topic.name,
      *publish(value: T): Operation<Message<T>> {
        if (core.closed) throw new HubClosedError(core.topic.name);
        const message = yield* core.topic.publish(value);
        core.published++;
        return message;
      },
      subscribe(options: SubscribeOptions = {}): Leasable<MessageSubscription<T>> {
        // Leasable: `yield* hub.subscribe()` is a resource bound to the caller's scope, and
        // a writer that bounds the subscription itself (bough/http's streams) skips its cost.
        return new Subscribing(core, options);
      },
      *next(after?: string): Operation<Message<T>> {
        // from now: one waiter and no queue (thousands of long-polls wait this way)
        if (after === undefined) return yield* core.nextLive();
        // Only the first message counts: a small quiet buffer that keeps the earliest.
        const sub = yield* core.open({ after, buffer: 8, overflow: "drop-newest" }, 1, true);
        try {
          return (yield* sub.next()).value;
        } finally {
          sub.detach();
        }
      },
      latest: () => core.topic.latest(),
      stats: (): HubStats => {
        const counters = core.topic.counters();
        return {
          topic: core.topic.name,
          broker: core.kind,
          subscribers: core.subs.length,
          published: core.published,
          received: core.received,
          delivered: core.delivered,
          dropped: { ...core.dropped },
          closed: core.closedSubs,
          blocked: core.blocked,
          malformed: counters.malformed,
          duplicates: counters.duplicates,
        };
      },
    };
  }
}

/**
 * What `hub.subscribe()` returns: one object per subscriber (an SSE
 * connection keeps it while it lasts), its opening a method of the class
 * rather than a generator function and closures made per call.
 */
class Subscribing<T> extends LeasableOperation<MessageSubscription<T>> {
  constructor(
    private readonly core: HubCore<T>,
    private readonly options: SubscribeOptions,
  ) {
    super();
  }

  *[LEASE](lease: LeaseOptions = {}): Operation<Lease<MessageSubscription<T>>> {
    const { core, options } = this;
    try {
      return new HubLease(yield* core.open(options, 256), undefined);
    } catch (error) {
      // a consumer that can tell its client about the gap resumes at the defined point
      if (lease.onExpired !== "reset" || !(error instanceof CursorExpiredError)) throw error;
      let sub: Sub<T>;
      try {
        sub = yield* core.open({ ...options, after: error.resetTo }, 256);
      } catch (again) {
        // trimmed again while we re-read: from now, which cannot expire
        if (!(again instanceof CursorExpiredError)) throw again;
        sub = yield* core.open({ ...options, after: undefined }, 256);
      }
      return new HubLease(sub, error);
    }
  }
}

/** A subscription's lease: closing it detaches the subscription. */
class HubLease<T> implements Lease<MessageSubscription<T>> {
  constructor(
    readonly subscription: Sub<T>,
    readonly reset: CursorExpiredError | undefined,
  ) {}

  close(): void {
    this.subscription.detach();
  }
}

/**
 * A done iterator: `yield*` on it returns `result.value` at once. One per
 * subscription, reused: `yield*` reads the value before anything else runs.
 * While one is handed out and not yet stepped it is `pending`, and the
 * subscription gives the next caller a fresh iterator instead (two iterators
 * of `next()` made before either was stepped each get their own message).
 */
class Ready<R> implements Iterator<Effect<unknown>, R, unknown> {
  readonly result: { done: true; value: R };
  pending = false;
  constructor(value: R) {
    this.result = { done: true, value };
  }
  next(): IteratorResult<Effect<unknown>, R> {
    this.pending = false;
    return this.result;
  }
}

/** The page of a subscription that is not backfilling. */
const NO_MESSAGES: readonly Message<never>[] = Object.freeze([]);

/** A placeholder result: each subscription's `Ready` copies it, then overwrites the value. */
const NOT_DONE = { done: false, value: undefined } as unknown as IteratorResult<never, never>;

/** A subscription's `next()` operation: one object, no closure. */
class NextOp<T> implements Operation<IteratorResult<Message<T>, never>> {
  constructor(private readonly sub: Sub<T>) {}
  [Symbol.iterator](): Iterator<Effect<unknown>, IteratorResult<Message<T>, never>, unknown> {
    return this.sub.iterate();
  }
}

/**
 * One subscription: a bounded queue filled by the hub, drained by `next()`.
 * `next()` returns a reusable operation whose fast path (a buffered message)
 * completes without suspending, so draining a batch costs no effection step.
 */
class Sub<T> implements MessageSubscription<T>, Subscriber<T> {
  readonly queue: BoundedQueue<Message<T>>;
  /** Position in the hub's array of subscriptions. */
  index = -1;
  private phase = LIVE;
  /** Live messages with an id <= floor were already seen (backfill or before subscribing). */
  private floor: string | undefined;
  private joined = true;
  /** Backfill state (a live subscription shares one empty page). */
  private page: readonly Message<T>[] = NO_MESSAGES;
  private pageIndex = 0;
  private pageEnd = false;
  private cursor = "";
  private lost = false;
  private error: Error | undefined = undefined;
  private detached = false;
  private lastId: string | undefined = undefined;
  private readonly op: Operation<IteratorResult<Message<T>, never>> = new NextOp(this);
  /** The fast path's iterator, made when a message is first ready (an idle subscriber has none). */
  private ready: Ready<IteratorResult<Message<T>, never>> | undefined = undefined;

  constructor(
    private readonly hub: HubCore<T>,
    private readonly capacity: number,
    private readonly policy: OverflowPolicy,
    private readonly pageSize: number,
    private readonly quiet: boolean,
  ) {
    this.queue = createBoundedQueue({ capacity, overflow: policy });
  }

  goLive(floor: string | undefined): void {
    this.phase = LIVE;
    this.floor = floor;
    this.joined = floor === undefined;
  }

  backfillFrom(after: string): void {
    this.phase = BACKFILL;
    this.cursor = after;
    this.pageEnd = false;
  }

  /** Called by the hub for every live message, in order. */
  push(message: Message<T>): void {
    const queue = this.queue;
    if (this.phase === BACKFILL) {
      // The broker's history has whatever we lose here; backfill re-reads it.
      if (queue.push(message, "drop-oldest") > 0) this.lost = true;
      return;
    }
    const dropped = queue.push(message);
    if (dropped > 0) {
      // a block subscription dropping means a publisher that could not wait:
      // counted rather than grown without bound
      if (!this.quiet || this.policy !== "drop-newest") this.hub.dropped[this.policy] += dropped;
      if (queue.overflowed) {
        this.hub.closedSubs++;
        this.detach();
      }
    } else if (this.policy === "block" && queue.full) {
      this.hub.filled(queue);
    }
  }

  next(): Operation<IteratorResult<Message<T>, never>> {
    return this.op;
  }

  /** How many messages it is behind `newest` (the seq of the hub's newest message); see {@link HubLag}. */
  lag(newest: number): number {
    const queued = this.queue.size;
    if (this.phase === LIVE) return queued;
    const unread = this.page.length - this.pageIndex;
    const next = this.page[this.pageIndex];
    return Math.max(queued + unread, next === undefined ? 0 : newest - next.seq + 1);
  }

  /** @internal what `next()` runs: a buffered live message at once, else the slow path. */
  iterate(): Iterator<Effect<unknown>, IteratorResult<Message<T>, never>, unknown> {
    // Fast path: a buffered live message, no suspension.
    if (this.phase === LIVE && this.joined && this.queue.size > 0 && !this.ready?.pending) {
      const ready = (this.ready ??= new Ready<IteratorResult<Message<T>, never>>(NOT_DONE));
      ready.result.value = this.emit(this.queue.shift() as Message<T>);
      ready.pending = true;
      return ready;
    }
    return this.slow();
  }

  private emit(message: Message<T>): IteratorResult<Message<T>, never> {
    this.hub.delivered++;
    this.lastId = message.id;
    return { done: false, value: message };
  }

  *nextBatch(max = 1024): Operation<Message<T>[]> {
    const batch = [(yield* this.next()).value];
    const queue = this.queue;
    while (batch.length < max) {
      let message: Message<T> | undefined;
      if (this.phase === LIVE) {
        if (!this.joined || queue.size === 0) break;
        message = queue.shift() as Message<T>;
      } else {
        if (this.pageIndex >= this.page.length) break;
        message = this.page[this.pageIndex++];
      }
      batch.push(message);
    }
    this.hub.delivered += batch.length - 1;
    this.lastId = batch[batch.length - 1].id;
    return batch;
  }

  private *slow(): Generator<Effect<unknown>, IteratorResult<Message<T>, never>, unknown> {
    const queue = this.queue;
    for (;;) {
      if (this.phase === BACKFILL) {
        if (this.pageIndex < this.page.length) return this.emit(this.page[this.pageIndex++]);
        const oldest = queue.peek();
        const overlaps =
          !this.lost ||
          (oldest !== undefined && this.hub.topic.compare(oldest.id, this.cursor) <= 0);
        if (this.pageEnd && overlaps) {
          this.goLive(this.cursor);
          this.lost = false;
          continue;
        }
        yield* this.readPage();
        continue;
      }
      const message = queue.shift();
      if (message !== undefined) {
        if (!this.joined) {
          if (this.floor !== undefined && this.hub.topic.compare(message.id, this.floor) <= 0) {
            continue;
          }
          this.joined = true;
        }
        return this.emit(message);
      }
      if (queue.overflowed) throw new SubscriptionOverflowError(this.capacity, this.lastId);
      if (this.error) throw this.error;
      // A subscription used after its scope (or its hub) ended fails instead of waiting forever.
      if (this.detached) throw (this.error = new HubClosedError(this.hub.topic.name));
      // the loop above looks again after every wake-up: the cell itself, without untilItem()'s generator
      yield* queue.arrived.wait();
    }
  }

  /** Reads the next page of history after `cursor`. */
  *readPage(): Operation<void> {
    const page = yield* this.hub.topic.read(this.cursor, this.pageSize);
    this.page = page.messages;
    this.pageIndex = 0;
    this.pageEnd = page.end;
    this.cursor = page.next;
  }

  fail(error: Error): void {
    this.error = error;
    this.detach();
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.hub.remove(this);
    // wakes the reader (to drain, then fail) and a publisher waiting for room;
    // no error built here: most detached subscriptions are never read again (next() builds it)
    this.queue.close();
  }
}
