import { createSocket, type Socket } from "node:dgram";
import { action, type Operation, resource, type Stream, type Subscription, spawn } from "effection";
import { type BoundedQueue, createBoundedQueue } from "../core/bounded-queue.js";
import { usePanel } from "../core/panels.js";
import { PortInUseError, show, UdpSocketError } from "./errors.js";

/** One datagram received by a {@link useUdpSocket} socket. */
export interface Datagram {
  /** The payload, exactly as received: any bytes, any length (0 to 65,507). */
  data: Buffer;
  /** The sender's address. */
  address: string;
  /** The sender's port. */
  port: number;
  /** The sender's address family. */
  family: "IPv4" | "IPv6";
}

/** Options of {@link useUdpSocket}. */
export interface UdpSocketOptions {
  /** The port to bind; `0` (the default) lets the system pick a free one. */
  port?: number;
  /** The address to bind. Default: every address of the family (`0.0.0.0` or `::`). */
  host?: string;
  /** `"udp4"` (default) or `"udp6"`. */
  type?: "udp4" | "udp6";
  /** Let other sockets bind the same port (`SO_REUSEADDR`). Default `false`. */
  reuseAddr?: boolean;
  /**
   * The kernel's receive buffer (`SO_RCVBUF`) in bytes: what holds datagrams
   * while the event loop is busy elsewhere (a GC pause, a synchronous job, the
   * process being descheduled). Linux caps it at `net.core.rmem_max` (often
   * 208 KiB; raise that sysctl to benefit from more). Default 1 MiB, where the
   * system's default (208 KiB on Linux) holds only about 250 small datagrams,
   * 70 ms of seed 001's 35 × 100/s.
   */
  recvBufferSize?: number;
  /** The kernel's send buffer (`SO_SNDBUF`) in bytes. Default: the system's. */
  sendBufferSize?: number;
  /**
   * How many datagrams may wait, per subscriber, for the subscriber to read
   * them. Beyond that, new datagrams are dropped and counted in
   * `stats().dropped`. Default 65,536 (18 s of 35 senders × 100/s).
   */
  queueLimit?: number;
  /** Like `queueLimit`, in payload bytes per subscriber. Default 64 MiB. */
  queueBytes?: number;
}

/** Counters of a {@link UdpSocket}, since it was bound. */
export interface UdpSocketStats {
  /** Datagrams received from the kernel. */
  received: number;
  /** Payload bytes received from the kernel. */
  bytes: number;
  /** Datagrams dropped because a subscriber's queue was full (per subscriber). */
  dropped: number;
  /** Datagrams waiting in queues right now (all subscribers). */
  queued: number;
}

/** A bound UDP socket whose lifetime is the scope that called {@link useUdpSocket}. */
export interface UdpSocket {
  /**
   * The datagrams received, as a stream. Every subscriber sees every datagram
   * received while it is subscribed; datagrams that arrive while nobody is
   * subscribed wait (up to the queue limits) for the next subscriber, so none
   * is lost between binding and the first `each()`.
   */
  messages: Stream<Datagram, never>;
  /** Sends one datagram; returns when the system has taken it. */
  send(data: Uint8Array | string, port: number, host?: string): Operation<void>;
  /** The address the socket is bound to (with the port the system chose for `port: 0`). */
  address: { address: string; port: number; family: string };
  /** The kernel receive buffer the system granted, in bytes (Linux reports twice what it keeps for data). */
  recvBufferSize: number;
  /** Counters since the socket was bound. */
  stats(): UdpSocketStats;
}

/**
 * Binds a UDP socket on `node:dgram` for the lifetime of the calling scope:
 * when the scope ends the socket is closed (and the close awaited).
 *
 * Binding a port that is taken throws a {@link PortInUseError} naming the
 * port; any other bind failure throws a {@link UdpSocketError}. After binding,
 * a failure of the socket fails the calling scope, so it surfaces rather than
 * vanishing.
 *
 * Payloads are never parsed: empty, garbage or maximum-size datagrams are
 * delivered as bytes, and what they mean is the consumer's concern.
 *
 * Queueing: the kernel hands datagrams to the socket as fast as the event loop
 * reads them, whatever the consumer is doing; each subscriber has its own
 * FIFO, bounded by `queueLimit` datagrams and `queueBytes` bytes (large by
 * default, so a consumer that pauses for seconds loses nothing). A consumer
 * slower than the senders for longer than that loses the newest datagrams, and
 * `stats().dropped` counts them: memory stays bounded and the loss is visible.
 *
 * The inspector (`bough/inspect`) shows the socket as a `source` panel named
 * `udp <address>:<port>`: the counters of `stats()` (datagrams `received`,
 * `bytes`, `dropped`, `queued`) and its `subscribers`.
 *
 * @example
 * ```ts
 * import { each, main } from "effection";
 * import { useUdpSocket } from "bough/sources";
 *
 * await main(function* () {
 *   const udp = yield* useUdpSocket({ port: 8001, host: "127.0.0.1" });
 *   for (const datagram of yield* each(udp.messages)) {
 *     console.log(`${datagram.address}:${datagram.port} sent ${datagram.data.length} bytes`);
 *     yield* udp.send("ack", datagram.port, datagram.address);
 *     yield* each.next();
 *   }
 * });
 * ```
 */
export function useUdpSocket(options: UdpSocketOptions = {}): Operation<UdpSocket> {
  const {
    port = 0,
    host,
    type = "udp4",
    reuseAddr = false,
    recvBufferSize = 1024 * 1024,
    sendBufferSize,
    queueLimit = 65_536,
    queueBytes = 64 * 1024 * 1024,
  } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`useUdpSocket: port must be an integer 0–65535, got ${show(port)}`);
  }
  if (type !== "udp4" && type !== "udp6") {
    throw new TypeError(`useUdpSocket: type must be "udp4" or "udp6", got ${show(type)}`);
  }
  for (const [name, value] of [
    ["queueLimit", queueLimit],
    ["queueBytes", queueBytes],
  ] as const) {
    if (!(value >= 1)) {
      throw new TypeError(`useUdpSocket: ${name} must be a number >= 1, got ${show(value)}`);
    }
  }

  return resource(function* (provide) {
    const socket = createSocket({ type, reuseAddr });
    const fanout = new DatagramFanout(queueLimit, queueBytes);
    socket.on("message", (data, rinfo) => {
      fanout.deliver({ data, address: rinfo.address, port: rinfo.port, family: rinfo.family });
    });
    try {
      yield* bind(socket, port, host);
      setBufferSize(() => socket.setRecvBufferSize(recvBufferSize));
      if (sendBufferSize !== undefined)
        setBufferSize(() => socket.setSendBufferSize(sendBufferSize));

      // A socket error after binding fails the scope that owns the socket.
      yield* spawn(() =>
        action<never>((_, reject) => {
          const onError = (error: Error) => {
            const failure = new UdpSocketError(`UDP socket failed: ${error.message}`, error);
            fanout.fail(failure);
            reject(failure);
          };
          socket.on("error", onError);
          return () => socket.off("error", onError);
        }),
      );

      const info = socket.address();
      const shown = info.family === "IPv6" ? `[${info.address}]` : info.address;
      yield* usePanel("source", `udp ${shown}:${info.port}`, () => ({
        ...fanout.stats(),
        subscribers: fanout.subscribers,
      }));
      yield* provide({
        messages: fanout.stream,
        send: (data, toPort, toHost) =>
          action<void>((resolve, reject) => {
            const fail = (error: Error) =>
              reject(new UdpSocketError(`UDP send failed: ${error.message}`, error));
            try {
              socket.send(data, toPort, toHost, (error) => (error ? fail(error) : resolve()));
            } catch (error) {
              fail(error as Error); // bad port, closed socket: thrown before sending
            }
            return () => {};
          }),
        address: { address: info.address, port: info.port, family: info.family },
        recvBufferSize: socket.getRecvBufferSize(),
        stats: () => fanout.stats(),
      });
    } finally {
      fanout.fail(new UdpSocketError("the UDP socket is closed"));
      // keep a listener so that a late error cannot crash the process
      socket.on("error", () => {});
      yield* close(socket);
    }
  });
}

function bind(socket: Socket, port: number, host: string | undefined): Operation<void> {
  return action<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new PortInUseError(port, host, error));
      else {
        reject(
          new UdpSocketError(
            `cannot bind UDP socket to ${host ?? "*"}:${port}: ${error.message}`,
            error,
          ),
        );
      }
    };
    socket.once("error", onError);
    socket.bind({ port, address: host }, () => {
      socket.off("error", onError);
      resolve();
    });
    return () => socket.off("error", onError);
  });
}

/** Buffer sizes are a wish: a system that refuses one keeps its own. */
function setBufferSize(set: () => void): void {
  try {
    set();
  } catch {
    // e.g. EPERM or ENOBUFS on some systems: the socket still works
  }
}

function close(socket: Socket): Operation<void> {
  return action<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
    return () => {};
  });
}

/** One subscriber's FIFO: the core's bounded queue, in datagrams and payload bytes. */
type DatagramQueue = BoundedQueue<Datagram>;

const weigh = (datagram: Datagram) => datagram.data.length;

/**
 * Hands every datagram to every subscriber's queue. While nobody is
 * subscribed, one queue without an owner (the backlog) keeps collecting, and
 * the next subscriber adopts it.
 */
class DatagramFanout {
  /** The subscribers' queues, or the backlog alone while `owners` is 0. */
  private queues: DatagramQueue[];
  private owners = 0;
  private failure: Error | undefined;
  private received = 0;
  private bytes = 0;
  private dropped = 0;
  readonly stream: Stream<Datagram, never>;

  constructor(
    private readonly limit: number,
    private readonly limitBytes: number,
  ) {
    this.queues = [this.createQueue()];
    const fanout = this;
    this.stream = resource(function* (provide) {
      const queue = fanout.subscribe();
      try {
        yield* provide(new DatagramSubscription(queue, fanout));
      } finally {
        fanout.unsubscribe(queue);
      }
    });
  }

  /**
   * A queue that drops the newest datagrams when full, and wakes its reader
   * once per turn of the event loop rather than once per datagram: the
   * kernel's datagrams of one turn are read first, then the consumer drains
   * its queue without suspending.
   */
  private createQueue(): DatagramQueue {
    return createBoundedQueue<Datagram>({
      // a fractional limit admits a datagram while fewer than `limit` wait
      capacity: Math.ceil(this.limit),
      maxWeight: this.limitBytes,
      weigh,
      overflow: "drop-newest",
      timing: "turn",
    });
  }

  private subscribe(): DatagramQueue {
    if (this.failure) throw this.failure;
    if (this.owners++ === 0) return this.queues[0];
    const queue = this.createQueue();
    this.queues = [...this.queues, queue];
    return queue;
  }

  private unsubscribe(queue: DatagramQueue): void {
    // the last subscriber's unread datagrams stay, as the backlog, for the next one
    if (--this.owners > 0) this.queues = this.queues.filter((q) => q !== queue);
  }

  deliver(datagram: Datagram): void {
    this.received++;
    this.bytes += datagram.data.length;
    const queues = this.queues;
    for (let i = 0; i < queues.length; i++) this.dropped += queues[i].push(datagram);
  }

  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    // what was received before the failure is still delivered, then the error
    for (const queue of this.queues) queue.close();
    if (this.owners === 0) this.queues = [];
  }

  /** How many subscribers read the datagrams now. */
  get subscribers(): number {
    return this.owners;
  }

  /** The error a subscriber gets once its queue is empty, if the socket is gone. */
  get error(): Error | undefined {
    return this.failure;
  }

  stats(): UdpSocketStats {
    let queued = 0;
    for (const queue of this.queues) queued += queue.size;
    return { received: this.received, bytes: this.bytes, dropped: this.dropped, queued };
  }
}

class DatagramSubscription implements Subscription<Datagram, never> {
  constructor(
    private readonly queue: DatagramQueue,
    private readonly fanout: DatagramFanout,
  ) {}

  *next(): Operation<IteratorResult<Datagram, never>> {
    // a queued datagram is taken without suspending (the hot path at high rates)
    const datagram = yield* this.queue.take();
    if (datagram === undefined) throw this.fanout.error;
    return { done: false, value: datagram };
  }
}
