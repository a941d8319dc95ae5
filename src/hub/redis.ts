/**
 * `bough/hub/redis`: the Redis Streams broker for `useHub` and the leader
 * lease. The only bough entry that loads ioredis.
 *
 * @module bough/hub/redis
 */
export {
  type LeaderOptions,
  type Leadership,
  type LeaderTerm,
  useLeader,
} from "./leader.js";
export {
  type RedisBrokerOptions,
  type RedisCodec,
  redisBroker,
  useRedisBroker,
} from "./redis-broker.js";
