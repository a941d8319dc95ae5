/**
 * Exclusive checkouts holding a database transaction across several calls
 * (seed 004's DBI example, on better-sqlite3 in worker threads).
 *
 *   npx tsx examples/sqlite-checkout/main.ts [--db /tmp/bough-sqlite-checkout.db]
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { all, main } from "effection";
import { TaskError, usePool } from "../../src/pool/index.js";
import { insertAll, type SqliteWorker } from "./transfer.js";

const { values } = parseArgs({
  options: {
    db: { type: "string", default: join(tmpdir(), `bough-sqlite-checkout-${process.pid}.db`) },
  },
});
for (const suffix of ["", "-wal", "-shm"]) rmSync(`${values.db}${suffix}`, { force: true });
process.env.BOUGH_SQLITE_CHECKOUT_DB = values.db;

await main(function* () {
  const pool = yield* usePool<SqliteWorker>({
    worker: new URL("./worker.ts", import.meta.url),
    transport: "thread",
    maxWorkers: 2,
  });

  // Two transactions at once, each on its own worker and connection: they never interleave.
  const counts = yield* all([
    insertAll(pool, [
      ["alice", "alice@example.com"],
      ["bob", "bob@example.com"],
    ]),
    insertAll(pool, [
      ["carol", "carol@example.com"],
      ["dave", "dave@example.com"],
    ]),
  ]);
  console.log(`committed two transactions: ${counts.join(" + ")} rows`);

  // A failure mid-transaction: the duplicate "alice" fails the second insert.
  try {
    yield* insertAll(pool, [
      ["erin", "erin@example.com"],
      ["alice", "again@example.com"],
    ]);
  } catch (error) {
    if (!(error instanceof TaskError)) throw error;
    console.log(
      `transaction failed: ${error.message} — the worker holding it is killed, so SQLite rolls it back`,
    );
  }

  const users = yield* pool.run("users");
  console.log(`users now: ${users.map((u) => u.username).join(", ")} (no "erin": rolled back)`);
  console.log(`workers spawned: ${pool.stats().spawned}`);
});
