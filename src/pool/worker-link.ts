import { SerializationError, SpawnError } from "./errors.js";
import type { ClientFrame, ReadyMeta, WorkerFrame } from "./protocol.js";

/**
 * One connection to one worker (a thread, a child process, or a socket to a
 * worker server): the thin edge every transport implements. The pool sets
 * `onFrame` and `onExit` once the worker is ready.
 */
export interface WorkerLink {
  /** Resolves when the worker said ready; rejects (SpawnError, or a connect error) otherwise. */
  readonly ready: Promise<ReadyMeta>;
  /** Sends a frame. Throws `SerializationError` at once when it cannot be encoded. */
  send(frame: ClientFrame): void;
  /** Called for every frame after `ready`. */
  onFrame: (frame: WorkerFrame) => void;
  /** Called once when the worker goes away without being killed by {@link WorkerLink.kill}. */
  onExit: (error: Error) => void;
  /** Ends the worker; resolves once it is confirmed gone (thread terminated, process reaped, socket closed). Idempotent. */
  kill(): Promise<void>;
}

/** Opens links: one per worker. */
export type LinkFactory = () => WorkerLink;

export const noop = () => {};

/** `workerData` key that tells `defineWorker` it runs in a pool thread. */
export const THREAD_MARK = "bough.pool.worker";
/** Environment variable that tells `defineWorker` how its process was started. */
export const MODE_ENV = "BOUGH_POOL_MODE";
/** Environment variable carrying a forked worker server's options (JSON). */
export const SERVE_ENV = "BOUGH_POOL_SERVE";
/** Environment variable that asks a socket worker to report its calls in flight (`bough.activity`) over IPC. */
export const ACTIVITY_ENV = "BOUGH_POOL_ACTIVITY";
/** Environment variable carrying a socket worker's frame size limit. */
export const MAX_FRAME_ENV = "BOUGH_POOL_MAX_FRAME";

/**
 * The start of every link: the worker sends `["rd", meta]` when it is ready;
 * frames before that are ignored, frames after it are the link's. One place
 * for the promise and its state, used by the thread, process and socket links.
 *
 * @example
 * ```ts
 * const handshake = new ReadyHandshake();
 * port.on("message", (frame) => {
 *   if (handshake.accept(frame)) link.onFrame(frame);
 * });
 * port.on("exit", () => handshake.fail(new SpawnError("exited before it was ready")));
 * await handshake.ready;
 * ```
 */
export class ReadyHandshake {
  /** Resolves with the worker's ready metadata; rejects through {@link ReadyHandshake.fail}. */
  readonly ready: Promise<ReadyMeta>;
  /** True once the worker said ready. */
  isReady = false;
  private resolve!: (meta: ReadyMeta) => void;
  private reject!: (error: Error) => void;

  constructor() {
    this.ready = new Promise<ReadyMeta>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.ready.catch(noop); // a link nobody waits on must not raise an unhandled rejection
  }

  /** Takes one frame: true if it belongs to the link (the worker is ready and it is not the ready frame). */
  accept(frame: WorkerFrame): boolean {
    if (this.isReady) return true;
    if (frame[0] === "rd") {
      this.isReady = true;
      this.resolve(frame[1]);
    }
    return false;
  }

  /** Rejects `ready` (a no-op once the worker was ready). */
  fail(error: Error): void {
    if (!this.isReady) this.reject(error);
  }
}

/**
 * The shape every link shares (thread, process, socket): the ready
 * handshake, frames passed on once the worker is ready, one ending that
 * tells a stop, a failed start and a crash apart, and an idempotent kill
 * that resolves once the worker is gone. A transport adds how it starts,
 * sends and stops its worker, and calls {@link WorkerLinkBase.receive} and
 * {@link WorkerLinkBase.ended}.
 *
 * @example
 * ```ts
 * class PortLink extends WorkerLinkBase {
 *   constructor(private port: MessagePort) {
 *     super("the port was closed before the worker was ready");
 *     port.on("message", (frame) => this.receive(frame));
 *     port.on("close", () => this.ended(() => new SpawnError("closed"), () => new WorkerCrashedError("closed")));
 *   }
 *   send(frame: ClientFrame) { this.port.postMessage(frame); }
 *   protected stop() { this.port.close(); }
 * }
 * ```
 */
export abstract class WorkerLinkBase implements WorkerLink {
  readonly ready: Promise<ReadyMeta>;
  onFrame: (frame: WorkerFrame) => void = noop;
  onExit: (error: Error) => void = noop;
  /** Set by {@link WorkerLinkBase.kill}: the worker's end was asked for. */
  protected killed = false;
  /** The last error the worker's thread, process or socket reported (the cause of its end). */
  protected lastError: unknown;
  private readonly handshake = new ReadyHandshake();
  private readonly gone: Promise<void>;
  private markGone!: () => void;

  /** @param stoppedMessage what `ready` rejects with when the link is killed before the worker was ready. */
  constructor(private readonly stoppedMessage: string) {
    this.ready = this.handshake.ready;
    this.gone = new Promise<void>((resolve) => {
      this.markGone = resolve;
    });
  }

  /** True once the worker said ready. */
  protected get isReady(): boolean {
    return this.handshake.isReady;
  }

  /** One frame from the worker: the ready frame settles `ready`; later frames go to `onFrame`. */
  protected receive(frame: WorkerFrame): void {
    if (this.handshake.accept(frame)) this.onFrame(frame);
  }

  /** Ends the handshake with `error` before the worker was ready (a refusal). */
  protected refuse(error: Error): void {
    this.handshake.fail(error);
  }

  /**
   * The worker is gone: resolves `kill()`'s promise, then rejects `ready` (with
   * a SpawnError after a kill, else `beforeReady()`) or, once the worker was
   * ready and it was not killed, reports `afterReady()` to `onExit`.
   */
  protected ended(beforeReady: () => Error, afterReady: () => Error): void {
    this.markGone();
    if (this.killed) this.handshake.fail(new SpawnError(this.stoppedMessage));
    else if (!this.handshake.isReady) this.handshake.fail(beforeReady());
    else this.onExit(afterReady());
  }

  /** Sends `packed` with `post`, turning a failure to copy it into a SerializationError for `frame`. */
  protected post<P>(frame: ClientFrame, packed: P, post: (packed: P) => void, to: string): void {
    try {
      post(packed);
    } catch (error) {
      throw SerializationError.forFrame(frame, to, error);
    }
  }

  abstract send(frame: ClientFrame): void;

  /** Starts ending the worker (terminate, SIGKILL, destroy); {@link WorkerLinkBase.ended} follows. */
  protected abstract stop(): void;

  kill(): Promise<void> {
    if (!this.killed) {
      this.killed = true;
      this.stop();
    }
    return this.gone;
  }
}
