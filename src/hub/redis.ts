/**
 * `bough/hub/redis`: the Redis Streams broker for `useHub` and the leader
 * lease. The only bough entry that loads ioredis.
 *
 * @module bough/hub/redis
 */
export * from "./leader.js";
export * from "./redis-broker.js";
