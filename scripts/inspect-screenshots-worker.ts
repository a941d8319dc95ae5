/**
 * The worker of the demo that `scripts/inspect-screenshots.ts` photographs: a
 * thumbnail call that takes a minute, so that the pool's panel shows its
 * workers busy and a checkout waiting while the screenshots are taken.
 */
import { defineWorker } from "../src/pool/worker.js";

/**
 * A pretend thumbnailer: answers `order-<n>.webp` after `ms` milliseconds
 * (default a minute; the script's pool is closed long before).
 *
 * @example
 * ```ts
 * const pool = yield* usePool<typeof thumbnailWorker>({
 *   worker: new URL("./inspect-screenshots-worker.ts", import.meta.url),
 * });
 * yield* pool.run("thumbnail", 1041); // "order-1041.webp", a minute later
 * ```
 */
const thumbnailWorker = defineWorker({
  interface: {
    thumbnail: (order: number, ms = 60_000) =>
      new Promise<string>((resolve) => setTimeout(() => resolve(`order-${order}.webp`), ms)),
  },
});

export default thumbnailWorker;
