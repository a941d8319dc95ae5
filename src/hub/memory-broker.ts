import { type Operation, useScope } from "effection";
import { type BoundedQueue, createBoundedQueue } from "../core/bounded-queue.js";
import {
  type LabelNode,
  labelOf,
  labelRoot,
  labelsWatched,
  labelTraceparent,
  withLabelNode,
} from "../core/labels.js";
import type {
  Broker,
  BrokerCounters,
  BrokerTopic,
  HistoryPage,
  Message,
  TopicListener,
} from "./broker.js";
import { CursorExpiredError, InvalidCursorError } from "./errors.js";
import { ListenerSet, publishLabel } from "./listener-set.js";

/**
 * Creates a broker that keeps topics in this process's memory: the default of
 * `useHub`. Hubs that open the same topic on the same broker share its
 * messages and history. Publishing is synchronous unless a `block`
 * subscription is full; cursors are decimal sequence numbers (`"1"`, `"2"`, …).
 *
 * While the task tree is watched, a publish is a `"hub publish"` node under
 * the publishing task, and its hand-over to the topic's hubs a `"hub
 * delivery"` node at the top of the tree (the delivery works for every
 * subscriber, not for the publisher); with tracing on (`bough/otel`), the
 * message carries the publish span's `traceparent` and the delivery span
 * links to it, as with the Redis broker across processes.
 *
 * @example
 * ```ts
 * import { createMemoryBroker, useHub } from "bough/hub";
 *
 * const broker = createMemoryBroker();
 * const ticks = yield* useHub<number>({ topic: "ticks", broker, history: 100 });
 * ```
 */
export function createMemoryBroker(): Broker {
  const topics = new Map<string, MemoryTopic<unknown>>();
  return {
    kind: "memory",
    *open<T>(name: string, options: { history: number }): Operation<BrokerTopic<T>> {
      let topic = topics.get(name);
      if (!topic) {
        topic = new MemoryTopic<unknown>(name, options.history);
        topics.set(name, topic);
      } else {
        topic.retain(options.history);
      }
      return topic as unknown as BrokerTopic<T>;
    },
  };
}

const NO_COUNTERS: BrokerCounters = Object.freeze({ malformed: 0, duplicates: 0, errors: 0 });

class MemoryTopic<T> implements BrokerTopic<T> {
  readonly name: string;
  private seq = 0;
  /** The newest messages, for `read()` and `latest()`: a queue that drops its oldest. */
  private history: BoundedQueue<Message<T>> | undefined;
  private readonly listeners = new ListenerSet<T>();

  constructor(name: string, history: number) {
    this.name = name;
    this.retain(history);
  }

  /** Makes the history hold at least `size` messages. */
  retain(size: number): void {
    const old = this.history;
    if (size < 1 || (old && old.capacity >= size)) return;
    const history = createBoundedQueue<Message<T>>({ capacity: size, overflow: "drop-oldest" });
    if (old) for (const message of old) history.push(message);
    this.history = history;
  }

  *publish(value: T): Operation<Message<T>> {
    if (labelsWatched()) return yield* this.publishWatched(value, labelOf(yield* useScope()));
    // `block` subscriptions hold publishers until they have room.
    yield* this.listeners.untilReady();
    const message = this.store(value, undefined);
    this.listeners.deliver(message);
    return message;
  }

  /** A publish while the tree is watched: a publish node, and a delivery node linked to it. */
  private publishWatched(value: T, parent: LabelNode): Operation<Message<T>> {
    return withLabelNode(parent, `publish ${this.name}`, publishLabel(this.name), (node) =>
      this.publishAs(value, labelTraceparent(node)),
    );
  }

  private *publishAs(value: T, traceparent: string | undefined): Operation<Message<T>> {
    yield* this.listeners.untilReady();
    const message = this.store(value, traceparent);
    this.listeners.deliverWatched(message, this.name, labelRoot());
    return message;
  }

  /** The next message, kept in the history; `traceparent` only when the publish is traced. */
  private store(value: T, traceparent: string | undefined): Message<T> {
    const seq = ++this.seq;
    const message: Message<T> =
      traceparent === undefined
        ? { id: String(seq), seq, value, time: Date.now() }
        : { id: String(seq), seq, value, time: Date.now(), traceparent };
    this.history?.push(message);
    return message;
  }

  *read(after: string, limit: number): Operation<HistoryPage<T>> {
    return this.readNow(after, limit);
  }

  private readNow(after: string, limit: number): HistoryPage<T> {
    const cursor = parseSeq(after);
    if (cursor > this.seq) throw new CursorExpiredError(after, "ahead", undefined);
    const history = this.history;
    const size = history?.size ?? 0;
    const oldest = this.seq - size + 1; // seq of history.at(0)
    if (cursor < oldest - 1) {
      throw new CursorExpiredError(after, "trimmed", size > 0 ? String(oldest - 1) : undefined);
    }
    const messages: Message<T>[] = [];
    let index = cursor - oldest + 1;
    while (index < size && messages.length < limit) {
      messages.push(history?.at(index++) as Message<T>);
    }
    const next = messages.length > 0 ? messages[messages.length - 1].id : after;
    return { messages, end: index >= size, next };
  }

  *latest(): Operation<Message<T> | undefined> {
    return this.history?.last();
  }

  lastDelivered(): string | undefined {
    return this.seq === 0 ? undefined : String(this.seq);
  }

  listen(listener: TopicListener<T>): () => void {
    return this.listeners.add(listener);
  }

  compare(a: string, b: string): number {
    return Number(a) - Number(b);
  }

  counters(): BrokerCounters {
    return NO_COUNTERS;
  }
}

function parseSeq(cursor: string): number {
  if (typeof cursor !== "string" || !/^(0|[1-9][0-9]{0,15})$/.test(cursor)) {
    throw new InvalidCursorError(String(cursor));
  }
  return Number(cursor);
}
