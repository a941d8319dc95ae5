/**
 * The core: the structured selector, supervision, timeouts, retry, `any`, the clock in context,
 * errors, task labels, and the primitives adapters are built from (routine groups, timer sets,
 * wake cells, bounded queues).
 *
 * @module bough
 */
export * from "./core/any.js";
export * from "./core/backoff.js";
export * from "./core/bounded-queue.js";
export * from "./core/clock.js";
export * from "./core/errors.js";
export * from "./core/labels.js";
export * from "./core/lease.js";
export * from "./core/panels.js";
export * from "./core/retry.js";
export * from "./core/routine-group.js";
export * from "./core/selector.js";
export * from "./core/supervise.js";
export * from "./core/timeout.js";
export * from "./core/timer-set.js";
export * from "./core/wake-cell.js";
