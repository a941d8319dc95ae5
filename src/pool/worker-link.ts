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
/** Environment variable carrying a socket worker's frame size limit. */
export const MAX_FRAME_ENV = "BOUGH_POOL_MAX_FRAME";
