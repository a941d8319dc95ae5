export * from "./expect-no-leaks.js";
export * from "./redis-server.js";
export * from "./virtual-clock.js";
