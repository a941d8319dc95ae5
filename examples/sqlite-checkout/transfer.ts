import Database from "better-sqlite3";
import type { Operation } from "effection";
import type { Pool } from "../../src/pool/index.js";
import type worker from "./worker.js";

export type SqliteWorker = (typeof worker)["interface"];

/**
 * Creates the database at `path` in WAL mode with its one table, before any worker opens it.
 * Done once here rather than in each worker's setup: workers that start together (or a
 * replacement that starts while the killed worker's connection is closing) would race to
 * change the journal mode and create the table, and SQLite answers that race with an
 * immediate SQLITE_BUSY ("database is locked") that no busy timeout waits out.
 */
export function createSchema(path: string): void {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE IF NOT EXISTS user (username TEXT PRIMARY KEY, email TEXT NOT NULL)");
  } finally {
    db.close();
  }
}

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
