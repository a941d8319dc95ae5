import type { Operation } from "effection";

/**
 * One message of a hub topic. `id` is the cursor: pass it back as
 * `subscribe({ after: id })` or `next(id)` to resume right after this message
 * (SSE `Last-Event-ID`, long-poll `?after=`). With the memory broker `id` is
 * `String(seq)`; with Redis it is the stream entry id (`"0-1"`, `"0-2"`, …).
 */
export interface Message<T> {
  /** The cursor of this message; opaque, compare with the broker's `compare`. */
  readonly id: string;
  /** Position in the topic: increases by one per published message (per broker). */
  readonly seq: number;
  /** The published value. */
  readonly value: T;
  /** Wall-clock time of publication, in ms since the epoch. */
  readonly time: number;
  /**
   * The W3C `traceparent` of the publish span, when the publisher traced
   * (`useTracing()` from `bough/otel`): the broker's delivery span links to
   * it, and a consumer may link its own work to it. Absent otherwise.
   */
  readonly traceparent?: string;
}

/**
 * What a broker delivers live messages to (a hub). A listener that is not
 * `ready` (a `block` subscription is full) makes the broker wait: the memory
 * broker holds its publishers, the Redis broker holds its reader.
 */
export interface TopicListener<T> {
  /** Takes one message; called in topic order, never concurrently. */
  deliver(message: Message<T>): void;
  /** False while the listener cannot take another message. */
  readonly ready: boolean;
  /** Returns once `ready` may have become true (callers re-check). */
  waitReady(): Operation<void>;
}

/** One page of history returned by {@link BrokerTopic.read}. */
export interface HistoryPage<T> {
  /** Messages after the cursor, oldest first, at most `limit`. */
  readonly messages: Message<T>[];
  /** True when the page reached the end of the topic at the time of reading. */
  readonly end: boolean;
  /**
   * The cursor to read the next page from: the id of the last entry examined
   * (skipped entries included), or the cursor that was read from.
   */
  readonly next: string;
}

/**
 * A topic opened on a {@link Broker}: the part of a broker a hub talks to. The
 * hub does its own fan-out, buffering and overflow on top, so that `useHub`
 * behaves the same on every broker.
 */
export interface BrokerTopic<T> {
  /** The topic's name. */
  readonly name: string;
  /** Appends `value` and returns its message once the broker confirmed it. */
  publish(value: T): Operation<Message<T>>;
  /**
   * Reads history after `after` (exclusive), oldest first. Throws
   * `CursorExpiredError` if messages after `after` were trimmed, and
   * `InvalidCursorError` if `after` is not a cursor of this broker.
   */
  read(after: string, limit: number): Operation<HistoryPage<T>>;
  /** The newest message of the topic, if any. */
  latest(): Operation<Message<T> | undefined>;
  /**
   * The id of the last message this process has delivered to listeners, or
   * `undefined`: a new live subscription starts after it.
   */
  lastDelivered(): string | undefined;
  /** Registers a listener for live messages; returns its removal. */
  listen(listener: TopicListener<T>): () => void;
  /** Orders two ids of this broker: negative, zero or positive. */
  compare(a: string, b: string): number;
  /** Broker counters for this topic (malformed entries skipped, duplicates dropped, …). */
  counters(): BrokerCounters;
}

/** Counters a broker keeps per topic; all zero for the memory broker. */
export interface BrokerCounters {
  /** Entries that could not be decoded and were skipped. */
  malformed: number;
  /** Duplicate entries (re-sent commands) that were dropped. */
  duplicates: number;
  /** Errors seen talking to the broker (each one retried). */
  errors: number;
}

/**
 * Where a hub's messages live and how they reach other processes. Implemented
 * by {@link createMemoryBroker} (one process) and `redisBroker()` from
 * `bough/hub/redis` (many processes, many machines); `useHub` is the same code
 * on both.
 *
 * @example
 * ```ts
 * const broker: Broker = createMemoryBroker();
 * const a = yield* useHub<string>({ topic: "chat", broker });
 * const b = yield* useHub<string>({ topic: "chat", broker }); // shares a's messages
 * ```
 */
export interface Broker {
  /** A short name for stats and logs (`"memory"`, `"redis"`). */
  readonly kind: string;
  /**
   * Opens `topic` for the calling scope (a resource): the topic stays open, and
   * its listeners attached, until that scope ends.
   */
  open<T>(topic: string, options: { history: number }): Operation<BrokerTopic<T>>;
}
