/**
 * `bough/pool/worker`: what a worker file needs, and nothing else — {@link defineWorker},
 * the deferred {@link log} and the running call's {@link callMeta}. It loads neither effection nor the pool's client side,
 * so a worker that imports it answers its first call sooner than one that imports
 * `bough/pool` (which exports the same names, beside the whole pool).
 *
 * @example
 * ```ts
 * // hash-worker.js
 * import { defineWorker, log } from "bough/pool/worker";
 * export default defineWorker({ interface: { hash: (s) => s.length } });
 * ```
 *
 * @module bough/pool/worker
 */
export { defineWorker } from "./define-worker.js";
export type { CallMeta } from "./protocol.js";
export type {
  CallFunction,
  CallParams,
  CallResult,
  InterfaceOf,
  WorkerApi,
  WorkerDefinition,
  WorkerFunction,
  WorkerInterface,
  WorkerMethods,
} from "./worker-definition.js";
export { callMeta, log } from "./worker-runtime.js";
