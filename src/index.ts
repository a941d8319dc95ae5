/**
 * The core: the structured selector, supervision, timeouts, retry, `any`, the clock in context,
 * errors and task labels.
 *
 * @module bough
 */
export * from "./core/any.js";
export * from "./core/backoff.js";
export * from "./core/clock.js";
export * from "./core/errors.js";
export * from "./core/labels.js";
export * from "./core/lease.js";
export * from "./core/panels.js";
export * from "./core/retry.js";
export * from "./core/selector.js";
export * from "./core/supervise.js";
export * from "./core/timeout.js";
