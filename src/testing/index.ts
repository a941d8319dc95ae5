/**
 * Test helpers: the virtual clock, a real `redis-server` fixture and leak checks.
 *
 * @module bough/testing
 */
export * from "./expect-no-leaks.js";
export * from "./redis-server.js";
export * from "./virtual-clock.js";
