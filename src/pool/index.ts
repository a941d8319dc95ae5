/**
 * The worker pool (AnyEvent::Task in TypeScript): `defineWorker`, `usePool` with exclusive
 * checkouts on threads, processes or a remote worker server, and `serveWorkers`.
 *
 * @module bough/pool
 */
export type { Checkout } from "./checkout.js";
export {
  createDeferredLog,
  type DeferredLog,
  type DeferredLogData,
  LogLevel,
  type LogTimer,
} from "./deferred-log.js";
export * from "./errors.js";
export {
  type CheckoutOptions,
  type LocalPoolOptions,
  type Pool,
  type PoolCommonOptions,
  type PoolOptions,
  type PoolStats,
  type RemotePoolOptions,
  usePool,
} from "./pool.js";
export type {
  ByeFrame,
  ClientFrame,
  DoFrame,
  DoneFrame,
  ErrorFrame,
  OkFrame,
  ReadyFrame,
  ReadyMeta,
  ReplyMeta,
  WorkerFrame,
} from "./protocol.js";
export {
  type ServerLimits,
  type ServeWorkersOptions,
  serveWorkers,
  type WorkerServer,
} from "./serve-workers.js";
export type { SocketAddress } from "./socket-transport.js";
// what a worker file needs (defineWorker, log, callMeta and their types), as bough/pool/worker exports it
export * from "./worker.js";
export {
  type ForkedWorkerServer,
  useWorkerServer,
  type WorkerServerOptions,
} from "./worker-server.js";
