import { randomBytes } from "node:crypto";
import { type Operation, resource, spawn, useScope } from "effection";
import { Redis, type RedisOptions } from "ioredis";
import { awaitPromise } from "../core/await-promise.js";
import { type Backoff, backoffDelay } from "../core/backoff.js";
import { useClock } from "../core/clock.js";
import { DONE } from "../core/done.js";
import { TimeoutError } from "../core/errors.js";
import {
  type LabelNode,
  labelOf,
  labelsWatched,
  labelTraceparent,
  withLabelNode,
} from "../core/labels.js";
import { createTimerSet, type TimerSet } from "../core/timer-set.js";
import { createWakeCell } from "../core/wake-cell.js";
import { yieldToEventLoop } from "../core/yield-to-event-loop.js";
import type {
  Broker,
  BrokerCounters,
  BrokerTopic,
  HistoryPage,
  Message,
  TopicListener,
} from "./broker.js";
import {
  CursorExpiredError,
  InvalidCursorError,
  PublishTimeoutError,
  UnserializableValueError,
} from "./errors.js";
import { ListenerSet, publishLabel } from "./listener-set.js";
import { untilWithin } from "./until-within.js";

/** How values become stream fields and back. Default: JSON. */
export interface RedisCodec {
  /** Must return a string or throw; anything else is rejected at publish. */
  encode(value: unknown): string;
  decode(text: string): unknown;
}

/** Options of {@link redisBroker} and {@link useRedisBroker}. */
export interface RedisBrokerOptions {
  /** `redis://host:port/db`. Default `redis://127.0.0.1:6379` unless `client` is given. */
  url?: string;
  /**
   * An ioredis client to send commands on (the broker duplicates it for its
   * blocking reader). The broker never closes a client it was given.
   */
  client?: Redis;
  /** Approximate number of entries each stream keeps (`XADD MAXLEN ~`). Default 10,000. */
  maxLen?: number;
  /** How long one `XREAD BLOCK` waits, in ms. Default 1,000. */
  block?: number;
  /** Entries per `XREAD`. Default 1,000. */
  count?: number;
  /** Prefix of the stream keys. Default `"bough:hub:"`. */
  prefix?: string;
  /**
   * How long `publish` (and reads) wait for Redis, in ms, while it is down or
   * unreachable. Default 10,000. A publish that times out may still be
   * delivered once Redis is back (at least once; subscribers drop duplicates).
   */
  commandTimeoutMs?: number;
  /** Reconnect and retry backoff. Default `{ initialMs: 50, maxMs: 2000 }`. */
  backoff?: Backoff;
  /** Value codec. Default JSON (`undefined`, functions, BigInt and cycles are rejected). */
  codec?: RedisCodec;
}

const JSON_CODEC: RedisCodec = {
  encode(value: unknown): string {
    const text = JSON.stringify(value);
    if (typeof text !== "string") {
      throw new TypeError(`a ${typeof value} does not serialise to JSON`);
    }
    return text;
  },
  decode: (text: string) => JSON.parse(text),
};

// An entry is `XADD key MAXLEN ~ maxLen <epoch>-* m <producer:counter> c <ms> v <value>
// [t <traceparent>]`. The id's first part is fixed per stream (its epoch: 0 for a
// stream this format starts), so Redis numbers the second part 1, 2, 3, … in the
// order it appends, whichever process publishes: that number is the message's
// `seq`, dense and atomic without a script (a script that INCRed a counter and
// XADDed cost Redis 9.9 µs per publish against 1.5 µs for the XADD alone).
// `c` is the publisher's clock (`Message.time`). Entries of the earlier format
// (`s <seq> m … v …`, id from Redis's clock) are still read.
type Entry = [id: string, fields: string[]];

/** Whether `error` is Redis refusing an id that is not above the stream's last one. */
function isStaleEpoch(error: unknown): boolean {
  return (
    error instanceof Error && /equal or smaller than the target stream top item/.test(error.message)
  );
}

/**
 * A {@link Broker} on Redis Streams, for hubs in many processes or on many
 * machines. Each `open()` (each hub) gets its own command connection and
 * blocking reader, tied to the hub's scope; to share one reader among the
 * topics of a process, use {@link useRedisBroker}.
 *
 * - a stream per topic (`XADD … MAXLEN ~ maxLen`, Redis 7.0 or later); the
 *   entry id is the cursor, so SSE `Last-Event-ID` and long-poll cursors work
 *   across processes, and its second part is the message's `seq`;
 * - `subscribe({ after })` backfills with `XRANGE`, and a cursor whose
 *   successors were trimmed gets `CursorExpiredError`, never a silent gap;
 * - while Redis is down, publishers wait (up to `commandTimeoutMs`) and the
 *   reader reconnects with backoff; entries duplicated by re-sent commands are
 *   dropped by message id; malformed entries are skipped and counted;
 * - while the task tree is watched, a publish is a `"hub publish"` node and
 *   each entry the reader hands to this process's hubs a `"hub delivery"`
 *   node; with tracing on (`bough/otel`), the publish span's `traceparent`
 *   travels in the entry (field `t`) and the delivery span links to it.
 *   Untraced publishes write no such field; entries without it are read as
 *   always.
 *
 * @example
 * ```ts
 * import { useHub } from "bough/hub";
 * import { redisBroker } from "bough/hub/redis";
 *
 * const hub = yield* useHub<Tick>({
 *   topic: "ticks",
 *   broker: redisBroker({ url: "redis://127.0.0.1:6379", maxLen: 10_000 }),
 * });
 * yield* hub.publish({ n: 1 }); // every process subscribed to "ticks" gets it
 * ```
 */
export function redisBroker(options: RedisBrokerOptions = {}): Broker {
  return {
    kind: "redis",
    open<T>(topic: string, openOptions: { history: number }): Operation<BrokerTopic<T>> {
      return resource(function* (provide) {
        const shared = yield* useConnections(options);
        yield* provide(yield* shared.open<T>(topic, openOptions));
      });
    },
  };
}

/**
 * Connects to Redis for the calling scope and returns a {@link Broker} whose
 * topics share one command connection and one blocking `XREAD` reader (one
 * reader per process for the whole topic set). Everything closes when the
 * scope ends.
 *
 * @example
 * ```ts
 * const broker = yield* useRedisBroker({ url: process.env.REDIS_URL });
 * const ticks = yield* useHub<Tick>({ topic: "ticks", broker });
 * const jobs = yield* useHub<Job>({ topic: "jobs", broker }); // same reader
 * ```
 */
export function useRedisBroker(options: RedisBrokerOptions = {}): Operation<Broker> {
  return resource(function* (provide) {
    const shared = yield* useConnections(options);
    yield* provide({
      kind: "redis",
      open: <T>(topic: string, openOptions: { history: number }) =>
        shared.open<T>(topic, openOptions),
    });
  });
}

interface Connections {
  open<T>(topic: string, options: { history: number }): Operation<BrokerTopic<T>>;
}

/**
 * Connects to Redis for the calling scope: a command connection and a
 * blocking reader, the reader's loop, and one timer set that bounds every
 * command. Everything closes when the scope ends.
 */
function useConnections(options: RedisBrokerOptions): Operation<Connections> {
  return resource(function* (provide) {
    const clock = yield* useClock();
    const timers = createTimerSet(yield* useScope(), clock);
    const shared = new SharedConnections(options, timers);
    try {
      yield* spawn(() => shared.readForever());
      yield* provide(shared);
    } finally {
      timers.close();
      shared.disconnect();
    }
  });
}

/** The state one command connection and one reader share among the topics of a process. */
class SharedConnections implements Connections {
  private readonly maxLen: number;
  private readonly block: number;
  private readonly count: number;
  private readonly prefix: string;
  private readonly commandTimeoutMs: number;
  private readonly backoff: Backoff;
  private readonly codec: RedisCodec;
  /** Whether the broker made `cmd` (and closes it); a client it was given stays open. */
  private readonly owned: boolean;
  private readonly cmd: Redis;
  private readonly reader: Redis;
  private errors = 0;
  private readonly countError = () => {
    this.errors++;
  };
  private readonly producer = randomBytes(6).toString("hex");
  private produced = 0;
  /** Publishes sent in the current burst of microtasks (see {@link beforePublish}). */
  private burst = 0;
  /** The command socket, while {@link beforePublish} holds its writes. */
  private corked: { uncork(): void } | undefined;
  private readonly endBurst = () => {
    this.burst = 0;
    const corked = this.corked;
    this.corked = undefined;
    corked?.uncork();
  };
  private readonly topics = new Map<string, RedisTopic<unknown>>();
  /** The reader's connection id, for `CLIENT UNBLOCK` (re-read after a reconnect). */
  private readerId: string | undefined;
  /** An `XREAD` is in flight. */
  private readerBusy = false;
  /** The reader waits here while no topic is open. */
  private readonly topicsChanged = createWakeCell();

  constructor(
    options: RedisBrokerOptions,
    private readonly timers: TimerSet,
  ) {
    this.maxLen = options.maxLen ?? 10_000;
    this.block = options.block ?? 1_000;
    this.count = options.count ?? 1_000;
    this.prefix = options.prefix ?? "bough:hub:";
    this.commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
    this.backoff = options.backoff ?? { initialMs: 50, maxMs: 2_000 };
    this.codec = options.codec ?? JSON_CODEC;
    const redisOptions: RedisOptions = {
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      autoResendUnfulfilledCommands: true,
      retryStrategy: (times: number) => backoffDelay(times - 1, this.backoff),
      // ioredis arms this timer even for a socket that is already closed
      // (disconnect while reconnecting): keep it short so nothing lingers.
      disconnectTimeout: 100,
    };
    this.owned = !options.client;
    this.cmd =
      options.client ??
      new Redis(options.url ?? "redis://127.0.0.1:6379", {
        ...redisOptions,
        // Not auto-pipelined: ioredis builds a pipeline object per batch of
        // commands, which cost more than the socket writes it saved. Without
        // it the hub published 0.68-0.69x raw Streams' rate with one publisher
        // loop (0.51-0.60x with it) and 0.62-0.73x with 16 (0.51-0.58x), two
        // alternated runs each (bench hub, 2026-12-03, when a publish was
        // a script call). A script call per tick's batch of publishes was
        // measured too, and gained nothing.
        enableAutoPipelining: false,
      });
    this.reader = (options.client ?? this.cmd).duplicate({
      ...redisOptions,
      enableAutoPipelining: false,
    });
    this.cmd.on("error", this.countError);
    this.reader.on("error", this.countError);
    this.reader.on("ready", () => {
      this.readerId = undefined;
    });
  }

  disconnect(): void {
    this.cmd.off("error", this.countError);
    this.reader.off("error", this.countError);
    this.reader.disconnect();
    if (this.owned) this.cmd.disconnect();
  }

  /** Waits for `promise`, failing with `timeout()` after `commandTimeoutMs`. */
  confirm<R>(promise: Promise<R>, timeout: () => Error): Operation<R> {
    return untilWithin(this.timers, this.commandTimeoutMs, promise, timeout);
  }

  /**
   * Called before each publish's XADD. The first publish of a burst of
   * microtasks goes out at once, so that Redis starts on it; the rest (16
   * publisher loops resumed by one read of replies) are held and go out in
   * one write when the burst ends. A loopback write is a syscall of 15-25 µs
   * on our 2-core VM, more than the rest of a publish: holding them raised 16
   * loops from 21,759-25,184 to 29,805-36,495 msg/s (alternated scratch runs,
   * 2026-12-03). Holding every write, the first too, left Redis idle while
   * Node built the batch: one loop lost 8%, and with the earlier script
   * publish 16 loops lost a fifth.
   */
  beforePublish(): void {
    if (this.burst++ === 0) {
      process.nextTick(this.endBurst);
    } else if (this.corked === undefined && this.cmd.status === "ready") {
      const stream = this.cmd.stream;
      stream.cork();
      this.corked = stream;
    }
  }

  /** The topic set changed: wake the idle reader, or interrupt its `XREAD` so the new set applies now. */
  private changed(): void {
    if (this.readerBusy && this.readerId !== undefined) {
      this.cmd.call("CLIENT", "UNBLOCK", this.readerId).catch(() => {});
    } else {
      this.topicsChanged.signal();
    }
  }

  /** The reader: one `XREAD BLOCK` for every open topic, for as long as the scope lasts. */
  *readForever(): Operation<never> {
    // deliveries hang from the task that opened the broker (in a watched tree)
    const parent = labelOf(yield* useScope());
    const clock = yield* useClock();
    // The loop of core's retry(), written out: retry() per XREAD made a
    // generator, an options object and a context read for every read.
    for (let failures = 0; ; ) {
      while (this.topics.size === 0) yield* this.topicsChanged.wait();
      let reply: [string, Entry[]][] | null;
      try {
        reply = yield* this.readOnce();
      } catch {
        // Redis is down or restarting: ioredis reconnects; back off and read again.
        this.errors++;
        yield* clock.sleep(backoffDelay(failures++, this.backoff));
        continue;
      }
      failures = 0;
      if (reply) yield* this.dispatch(reply, parent);
    }
  }

  /** One `XREAD` from every open topic's cursor (none if no topic is open). */
  private *readOnce(): Operation<[string, Entry[]][] | null> {
    // After the turn's I/O: the publishes that this turn's replies resumed
    // reach Redis before the reader blocks again (one loop: ~10% more msg/s).
    yield* yieldToEventLoop();
    const keys = [...this.topics.keys()];
    if (keys.length === 0) return null;
    const ids = keys.map((key) => (this.topics.get(key) as RedisTopic<unknown>).cursor);
    const reader = this.reader;
    try {
      if (this.readerId === undefined)
        this.readerId = String(yield* awaitPromise(reader.call("CLIENT", "ID")));
      this.readerBusy = true;
      return streamsReply(
        yield* awaitPromise(
          reader.call(
            "XREAD",
            "COUNT",
            this.count,
            "BLOCK",
            this.block,
            "STREAMS",
            ...keys,
            ...ids,
          ),
        ),
      );
    } finally {
      this.readerBusy = false;
    }
  }

  private *dispatch(reply: [string, Entry[]][], parent: LabelNode): Operation<void> {
    for (const [key, entries] of reply) {
      const topic = this.topics.get(key);
      if (!topic) continue;
      for (const [id, fields] of entries) yield* topic.dispatch(id, fields, parent);
    }
  }

  open<T>(name: string, _options: { history: number }): Operation<BrokerTopic<T>> {
    const shared = this;
    return resource(function* (provide) {
      const key = `${shared.prefix}{${name}}`;
      const topic = yield* shared.topic<T>(name, key);
      topic.refs++;
      try {
        yield* provide(topic);
      } finally {
        if (--topic.refs === 0) {
          shared.topics.delete(key);
          shared.changed();
        }
      }
    });
  }

  /** The open topic at `key`, or a new one that starts reading after the stream's last entry. */
  private *topic<T>(name: string, key: string): Operation<RedisTopic<T>> {
    const open = this.topics.get(key) as RedisTopic<T> | undefined;
    if (open) return open;
    const last = (yield* this.confirm(
      this.cmd.call("XREVRANGE", key, "+", "-", "COUNT", 1) as Promise<Entry[]>,
      () => new TimeoutError(this.commandTimeoutMs, `opening "${name}" timed out`),
    )) as Entry[];
    // another open() of the same topic may have finished while we waited
    const raced = this.topics.get(key) as RedisTopic<T> | undefined;
    if (raced) return raced;
    const start = last[0]?.[0] ?? "0-0";
    const topic = new RedisTopic<T>(name, key, start, this.topicIo(name, key, start));
    this.topics.set(key, topic as RedisTopic<unknown>);
    this.changed();
    return topic;
  }

  /**
   * What a topic sends through the shared command connection. `start` is the
   * stream's last id when the topic opened: its first part is the epoch the
   * topic's publishes use.
   */
  private topicIo(name: string, key: string, start: string): TopicIo {
    const { codec, commandTimeoutMs } = this;
    const state = { epoch: idHigh(start) };
    const timeout = () => new PublishTimeoutError(name, commandTimeoutMs);
    const shared = this;
    return {
      *publish<T>(value: T, traceparent?: string): Operation<Message<T>> {
        let payload: string;
        try {
          payload = codec.encode(value);
          if (typeof payload !== "string") throw new TypeError("codec returned no string");
        } catch (error) {
          throw new UnserializableValueError(name, error);
        }
        const time = Date.now();
        const fields: (string | number)[] = ["m", `${shared.producer}:${++shared.produced}`];
        fields.push("c", time, "v", payload);
        if (traceparent !== undefined) fields.push("t", traceparent);
        let id: string;
        for (;;) {
          try {
            shared.beforePublish();
            id = (yield* shared.confirm(
              shared.cmd.xadd(key, "MAXLEN", "~", shared.maxLen, `${state.epoch}-*`, ...fields),
              timeout,
            )) as string;
            break;
          } catch (error) {
            if (!isStaleEpoch(error)) throw error;
            // The stream's last id is past this epoch: something else appended
            // with an id of its own (an earlier bough, an XADD by hand), or the
            // stream was written before this topic opened. Continue from that
            // id's first part; `seq` then restarts from its second.
            const epoch = yield* shared.lastEpoch(name, key);
            if (epoch === state.epoch) throw error;
            state.epoch = epoch;
          }
        }
        const seq = Number(idLow(id));
        return traceparent === undefined
          ? { id, seq, value, time }
          : { id, seq, value, time, traceparent };
      },
      command: (args) =>
        this.confirm(
          this.cmd.call(args[0], ...args.slice(1)),
          () => new TimeoutError(commandTimeoutMs, `${args[0]} on "${name}" timed out`),
        ),
      decode: codec.decode,
      errors: () => this.errors,
    };
  }

  /** The first part of the last id the stream at `key` generated. */
  private *lastEpoch(name: string, key: string): Operation<string> {
    const info = yield* this.confirm(
      this.cmd.call("XINFO", "STREAM", key),
      () => new PublishTimeoutError(name, this.commandTimeoutMs),
    );
    const last = String(infoField(info, "last-generated-id") ?? "0-0");
    return idHigh(last);
  }
}

interface TopicIo {
  publish<T>(value: T, traceparent?: string): Operation<Message<T>>;
  command(args: [string, ...(string | number)[]]): Operation<unknown>;
  decode(text: string): unknown;
  errors(): number;
}

/**
 * XREAD's reply as `[key, entries]` pairs, whatever the protocol: RESP2 gives
 * pairs, RESP3 (ioredis 6's default) a map, as a flat array or an object.
 */
function streamsReply(reply: unknown): [string, Entry[]][] | null {
  if (reply === null || reply === undefined) return null;
  if (!Array.isArray(reply)) return Object.entries(reply as Record<string, Entry[]>);
  if (reply.length === 0 || Array.isArray(reply[0])) return reply as [string, Entry[]][];
  const pairs: [string, Entry[]][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), reply[i + 1]]);
  return pairs;
}

/** XINFO's reply as a lookup, whatever the protocol. */
function infoField(info: unknown, name: string): unknown {
  if (Array.isArray(info)) {
    for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === name) return info[i + 1];
    return undefined;
  }
  return (info as Record<string, unknown> | null)?.[name];
}

const ID = /^(0|[1-9]\d{0,19})-(0|[1-9]\d{0,19})$/;

/** Parses a stream id into its two decimal parts, or undefined. */
function parseId(id: string): [string, string] | undefined {
  const match = ID.exec(id);
  return match ? [match[1], match[2]] : undefined;
}

/**
 * An id's first part, from an id Redis gave (it always has the dash): no
 * regex on the publish and delivery paths, where `parseId` would check it.
 */
function idHigh(id: string): string {
  return id.slice(0, id.indexOf("-"));
}

/** An id's second part, from an id Redis gave (see `idHigh`). */
function idLow(id: string): string {
  return id.slice(id.indexOf("-") + 1);
}

/** Compares two non-negative decimal integers given as strings (any size). */
function compareDecimal(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function compareIds(a: string, b: string): number {
  const x = parseId(a) ?? ["0", "0"];
  const y = parseId(b) ?? ["0", "0"];
  return compareDecimal(x[0], y[0]) || compareDecimal(x[1], y[1]);
}

/** The greatest possible stream id below `id`: nothing can lie between the two. */
function previousId(id: string): string {
  const [ms, seq] = parseId(id) ?? ["0", "0"];
  if (seq !== "0") return `${ms}-${(BigInt(seq) - 1n).toString()}`;
  if (ms === "0") return "0-0";
  return `${(BigInt(ms) - 1n).toString()}-18446744073709551615`;
}

/** Producer high-water marks: drops entries re-sent after a reconnect. */
class Dedup {
  private marks = new Map<string, number>();
  /** The producer of the last new message (the newest key of `marks`). */
  private last: string | undefined;
  constructor(private readonly limit = 10_000) {}
  /** True when `msgId` was already seen (its counter is not above its producer's mark). */
  seen(msgId: string): boolean {
    const colon = msgId.lastIndexOf(":");
    const producer = msgId.slice(0, colon);
    const n = Number(msgId.slice(colon + 1));
    const mark = this.marks.get(producer);
    if (mark !== undefined && n <= mark) return true;
    if (producer === this.last) {
      // already the newest key: no need to move it to the end
      this.marks.set(producer, n);
      return false;
    }
    this.last = producer;
    this.marks.delete(producer);
    this.marks.set(producer, n);
    if (this.marks.size > this.limit) {
      const oldest = this.marks.keys().next().value as string;
      this.marks.delete(oldest);
    }
    return false;
  }
}

/** What decoding an entry gives when its message id was seen already. */
const DUPLICATE = Symbol("duplicate");

class RedisTopic<T> implements BrokerTopic<T> {
  refs = 0;
  /** Id of the last entry the reader handled (the XREAD cursor). */
  cursor: string;
  private delivered: string | undefined;
  private readonly listeners = new ListenerSet<T>();
  private readonly dedup = new Dedup();
  private malformed = 0;
  private duplicates = 0;

  constructor(
    readonly name: string,
    readonly key: string,
    start: string,
    private readonly io: TopicIo,
  ) {
    this.cursor = start;
    this.delivered = start === "0-0" ? undefined : start;
  }

  *publish(value: T): Operation<Message<T>> {
    if (labelsWatched()) return yield* this.publishWatched(value, labelOf(yield* useScope()));
    return yield* this.io.publish(value);
  }

  /** A publish while the tree is watched: a node, whose traceparent (when traced) goes in the entry. */
  private publishWatched(value: T, parent: LabelNode): Operation<Message<T>> {
    return withLabelNode(parent, `publish ${this.name}`, publishLabel(this.name), (node) =>
      this.io.publish(value, labelTraceparent(node)),
    );
  }

  /**
   * Decodes one entry: its message; `DUPLICATE` when `dedup` has seen its
   * message id already; undefined when it is not a hub message (counted when
   * `count`).
   */
  private decode(
    id: string,
    fields: string[],
    dedup: Dedup | undefined,
    count: boolean,
  ): Message<T> | typeof DUPLICATE | undefined {
    let seq: number | undefined;
    let time: number | undefined;
    let msgId: string | undefined;
    let payload: string | undefined;
    let traceparent: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i];
      if (name === "m") msgId = fields[i + 1];
      else if (name === "c") time = Number(fields[i + 1]);
      else if (name === "v") payload = fields[i + 1];
      else if (name === "t") traceparent = fields[i + 1];
      else if (name === "s") seq = Number(fields[i + 1]);
    }
    // this format: seq is the id's second part; the earlier one wrote `s`, and its time was the id's first part
    if (seq === undefined) seq = Number(idLow(id));
    else time ??= Number(idHigh(id));
    if (
      !Number.isSafeInteger(seq) ||
      time === undefined ||
      !Number.isFinite(time) ||
      msgId === undefined ||
      !msgId.includes(":") ||
      payload === undefined
    ) {
      if (count) this.malformed++;
      return undefined;
    }
    if (dedup?.seen(msgId)) return DUPLICATE;
    let value: T;
    try {
      value = this.io.decode(payload) as T;
    } catch {
      if (count) this.malformed++;
      return undefined;
    }
    return traceparent === undefined
      ? { id, seq, value, time }
      : { id, seq, value, time, traceparent };
  }

  /**
   * Called by the reader for each new entry, in stream order; `parent` is the
   * label of the reader's task, under which a watched tree shows the delivery.
   * Delivers at once (and returns `DONE`) unless a `block` subscription has no
   * room: then the returned operation waits for it and delivers.
   */
  dispatch(id: string, fields: string[], parent: LabelNode): Operation<void> {
    const message = this.decode(id, fields, this.dedup, true);
    if (message === undefined || message === DUPLICATE) {
      if (message === DUPLICATE) this.duplicates++;
      this.cursor = id;
      this.delivered = id;
      return DONE;
    }
    // `block` subscriptions hold the reader until they have room.
    const ready = this.listeners.untilReady();
    if (ready !== DONE) return this.deliverAfter(ready, id, message, parent);
    this.deliver(id, message, parent);
    return DONE;
  }

  private *deliverAfter(
    ready: Operation<void>,
    id: string,
    message: Message<T>,
    parent: LabelNode,
  ): Operation<void> {
    yield* ready;
    this.deliver(id, message, parent);
  }

  private deliver(id: string, message: Message<T>, parent: LabelNode): void {
    this.cursor = id;
    this.delivered = id;
    if (labelsWatched()) this.listeners.deliverWatched(message, this.name, parent);
    else this.listeners.deliver(message);
  }

  *read(after: string, limit: number): Operation<HistoryPage<T>> {
    const cursor = after === "0" ? "0-0" : after;
    if (parseId(cursor) === undefined) throw new InvalidCursorError(after);
    const entries = (yield* this.io.command([
      "XRANGE",
      this.key,
      cursor,
      "+",
      "COUNT",
      limit + 2,
    ])) as Entry[];
    let start = 0;
    if (entries.length > 0 && entries[0][0] === cursor) {
      start = 1;
    } else {
      yield* this.checkExpired(after, cursor);
    }
    const page = entries.slice(start, start + limit);
    const local = new Dedup();
    const messages: Message<T>[] = [];
    for (const [id, fields] of page) {
      const message = this.decode(id, fields, local, false);
      if (message === DUPLICATE) this.duplicates++;
      else if (message !== undefined) messages.push(message);
    }
    return {
      messages,
      end: entries.length - start <= limit,
      next: page.length > 0 ? page[page.length - 1][0] : cursor,
    };
  }

  /**
   * The cursor's entry is not in the stream: were entries after it trimmed,
   * or is it ahead of everything the stream ever held? Trimming removes the
   * oldest entries, so the cursor lost nothing only if no id can lie between
   * it and the first retained entry.
   */
  private *checkExpired(after: string, cursor: string): Operation<void> {
    let info: unknown;
    try {
      info = yield* this.io.command(["XINFO", "STREAM", this.key]);
    } catch (error) {
      if (error instanceof Error && /no such key/i.test(error.message)) {
        throw new CursorExpiredError(after, "ahead", undefined);
      }
      throw error;
    }
    const lastGenerated = String(infoField(info, "last-generated-id") ?? "0-0");
    if (compareIds(cursor, lastGenerated) > 0) {
      throw new CursorExpiredError(after, "ahead", undefined);
    }
    const firstEntry = infoField(info, "first-entry");
    const first = Array.isArray(firstEntry) ? String(firstEntry[0]) : undefined;
    if (first === undefined) {
      if (compareIds(cursor, lastGenerated) < 0) {
        throw new CursorExpiredError(after, "trimmed", lastGenerated);
      }
      return;
    }
    const before = previousId(first);
    const added = Number(infoField(info, "entries-added") ?? 0);
    const length = Number(infoField(info, "length") ?? 0);
    const lost = cursor === "0-0" ? added > length : compareIds(cursor, before) < 0;
    if (lost) throw new CursorExpiredError(after, "trimmed", before);
  }

  *latest(): Operation<Message<T> | undefined> {
    const entries = (yield* this.io.command([
      "XREVRANGE",
      this.key,
      "+",
      "-",
      "COUNT",
      1,
    ])) as Entry[];
    const [entry] = entries;
    if (!entry) return undefined;
    const message = this.decode(entry[0], entry[1], undefined, false);
    return message === DUPLICATE ? undefined : message;
  }

  lastDelivered(): string | undefined {
    return this.delivered;
  }

  listen(listener: TopicListener<T>): () => void {
    return this.listeners.add(listener);
  }

  compare(a: string, b: string): number {
    return compareIds(a, b);
  }

  counters(): BrokerCounters {
    return { malformed: this.malformed, duplicates: this.duplicates, errors: this.io.errors() };
  }
}
