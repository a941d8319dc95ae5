/**
 * A worker that owns one SQLite connection (better-sqlite3). A transaction is
 * a sequence of calls — begin, insert…, commit — so it only works if every
 * call of the sequence reaches the same worker: that is what a checkout gives.
 */
import Database from "better-sqlite3";
import { defineWorker } from "../../src/pool/index.js";

let db: Database.Database | undefined;

function open(): Database.Database {
  if (!db) throw new Error("setup did not run");
  return db;
}

export default defineWorker({
  setup() {
    const path = process.env.BOUGH_SQLITE_CHECKOUT_DB;
    if (!path) throw new Error("BOUGH_SQLITE_CHECKOUT_DB is not set");
    // Only opens: the schema and WAL mode were set once by the main thread (createSchema).
    // Two connections that switch a new file to WAL or create its table at the same moment can
    // fail with SQLITE_BUSY at once, whatever the busy timeout.
    db = new Database(path, { timeout: 5000 });
  },
  // A checkout that ends without commit or rollback must not leave its transaction open
  // for the next checkout of this worker.
  checkoutDone() {
    if (db?.inTransaction) db.exec("ROLLBACK");
  },
  interface: {
    begin: () => void open().exec("BEGIN IMMEDIATE"),
    insert(username: string, email: string): number {
      return Number(
        open().prepare("INSERT INTO user (username, email) VALUES (?, ?)").run(username, email)
          .changes,
      );
    },
    commit: () => void open().exec("COMMIT"),
    rollback: () => void open().exec("ROLLBACK"),
    users: () =>
      open().prepare("SELECT username, email FROM user ORDER BY username").all() as {
        username: string;
        email: string;
      }[],
    pid: () => process.pid,
  },
});
