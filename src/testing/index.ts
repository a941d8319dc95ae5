/**
 * Test helpers: the virtual clock, a real `redis-server` fixture and leak checks.
 *
 * @module bough/testing
 */
export {
  expectNoLeaks,
  LeakError,
  type NoLeaksOptions,
} from "./expect-no-leaks.js";
export {
  type RedisServer,
  type RedisServerOptions,
  useRedisServer,
} from "./redis-server.js";
export { type ThreadCount, threadCount } from "./thread-count.js";
export {
  createVirtualClock,
  type VirtualClock,
} from "./virtual-clock.js";
