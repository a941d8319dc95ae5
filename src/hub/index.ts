/**
 * `bough/hub`: bounded fan-out of messages to many subscribers, with cursors
 * and long-poll, in memory by default. The Redis broker and the leader lease
 * live in `bough/hub/redis`, so that this entry never loads ioredis.
 *
 * @module bough/hub
 */
export * from "./broker.js";
export * from "./errors.js";
export * from "./hub.js";
export * from "./memory-broker.js";
