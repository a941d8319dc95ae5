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
export {
  CheckoutFatalError,
  ProtocolError,
  SerializationError,
  type SerializedError,
  ServerRefusedError,
  SetupError,
  SpawnError,
  serializeError,
  TaskError,
  TimeoutError,
  WorkerCrashedError,
  WorkerResourceLimitError,
} from "./errors.js";
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
// what a worker file needs: bough/pool/worker's list (test/pool/worker.test.ts checks they match)
export {
  type CallFunction,
  type CallMeta,
  type CallParams,
  type CallResult,
  callMeta,
  defineWorker,
  type InterfaceOf,
  log,
  type WorkerApi,
  type WorkerDefinition,
  type WorkerFunction,
  type WorkerInterface,
  type WorkerMethods,
} from "./worker.js";
export {
  type ForkedWorkerServer,
  useWorkerServer,
  type WorkerServerOptions,
} from "./worker-server.js";
