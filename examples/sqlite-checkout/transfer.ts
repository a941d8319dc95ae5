import type { Operation } from "effection";
import type { Pool } from "../../src/pool/index.js";
import type worker from "./worker.js";

export type SqliteWorker = (typeof worker)["interface"];

/**
 * Inserts `users` in one transaction on one checkout. If any insert fails, the
 * error ends the checkout; the pool kills that worker on release (its
 * connection closes, so SQLite rolls the open transaction back) and the next
 * checkout gets a fresh worker.
 */
export function* insertAll(pool: Pool<SqliteWorker>, users: [string, string][]): Operation<number> {
  // generous: the wait includes starting a worker (a .ts worker compiles through tsx,
  // which takes seconds on a loaded machine)
  const checkout = yield* pool.checkout({ timeoutMs: 30_000 });
  yield* checkout.api.begin();
  let inserted = 0;
  for (const [username, email] of users) inserted += yield* checkout.api.insert(username, email);
  yield* checkout.api.commit();
  return inserted;
}
