export * from "./expect-no-leaks.js";
export * from "./virtual-clock.js";
