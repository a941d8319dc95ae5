/**
 * Exclusive checkouts holding a database transaction across several calls
 * (seed 004's DBI example, on better-sqlite3 in worker threads).
 *
 *   npx tsx examples/sqlite-checkout/main.ts [--db PATH] (--help)
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { all, ensure } from "effection";
import { TaskError, usePool } from "../../src/pool/index.js";
import { defineTool, parseFlags, runTool } from "../cli.js";
import { createSchema, insertAll, type SqliteWorker } from "./transfer.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/sqlite-checkout/main.ts [--db PATH]

Two SQLite transactions held across calls on exclusive checkouts of a thread pool, and one
that fails mid-way and is rolled back.

  --db PATH    the database (default: a new one in the temp directory, removed at exit;
               an existing PATH is emptied first and kept)
  -h, --help   print this help`,
);
const values = parseFlags(tool, { db: { type: "string" } });
const db = values.db ?? join(tmpdir(), `bough-sqlite-checkout-${process.pid}.db`);
const removeDb = () => {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
};
removeDb();
createSchema(db);
process.env.BOUGH_SQLITE_CHECKOUT_DB = db;

await runTool(tool, function* () {
  // registered before the pool, so it runs after the pool's workers have closed the database
  if (values.db === undefined) yield* ensure(removeDb);
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
