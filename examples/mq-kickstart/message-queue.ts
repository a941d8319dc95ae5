/**
 * The seed's MessageQueue table in SQLite: `id, date_inserted, type, data`.
 * Shared by the consumer (main.ts) and the producer (produce.ts).
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type Operation, resource } from "effection";

/** One row of the MessageQueue table. */
export interface Message {
  id: number;
  date_inserted: string;
  type: string;
  data: string;
}

/** The queue operations the example needs, on one open database. */
export interface MessageQueue {
  /** Appends a row; returns its id. */
  insert(type: string, data: string): number;
  /** The oldest row of one of `types`, skipping the ids in `skip`. */
  oldest(types: readonly string[], skip: readonly number[]): Message | undefined;
  /** Deletes a row once it has been handled. */
  remove(id: number): void;
  /** Rows waiting, of the given types (all types without them). */
  count(types?: readonly string[]): number;
  /** Closes the database. */
  close(): void;
}

/** Where both scripts put the database unless `--db` says otherwise. */
export const DEFAULT_DB = join(tmpdir(), "bough-mq-kickstart.sqlite");

/**
 * Opens (and creates if needed) the database at `path` with the
 * MessageQueue table. WAL mode and a busy timeout let a producer insert
 * while the consumer reads and deletes.
 *
 * @example
 * ```ts
 * const queue = openMessageQueue("/tmp/mq.sqlite");
 * queue.insert("email", "to: ops@example.com");
 * queue.close();
 * ```
 */
export function openMessageQueue(path: string): MessageQueue {
  const db = new Database(path);
  db.pragma("busy_timeout = 5000");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`
    CREATE TABLE IF NOT EXISTS MessageQueue (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      date_inserted TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
      type TEXT NOT NULL,
      data TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS MessageQueue_type_date ON MessageQueue (type, date_inserted, id);
  `);
  const insert = db.prepare("INSERT INTO MessageQueue (type, data) VALUES (?, ?)");
  const oldest = db.prepare(`
    SELECT id, date_inserted, type, data FROM MessageQueue
    WHERE type IN (SELECT value FROM json_each(?))
      AND id NOT IN (SELECT value FROM json_each(?))
    ORDER BY date_inserted, id LIMIT 1`);
  const remove = db.prepare("DELETE FROM MessageQueue WHERE id = ?");
  const countAll = db.prepare("SELECT count(*) AS n FROM MessageQueue");
  const countTypes = db.prepare(
    "SELECT count(*) AS n FROM MessageQueue WHERE type IN (SELECT value FROM json_each(?))",
  );
  return {
    insert: (type, data) => Number(insert.run(type, data).lastInsertRowid),
    oldest: (types, skip) =>
      oldest.get(JSON.stringify(types), JSON.stringify(skip)) as Message | undefined,
    remove: (id) => {
      remove.run(id);
    },
    count: (types) =>
      (
        (types ? countTypes.get(JSON.stringify(types)) : countAll.get()) as {
          n: number;
        }
      ).n,
    close: () => db.close(),
  };
}

/**
 * The MessageQueue database for the lifetime of the calling scope.
 *
 * @example
 * ```ts
 * const queue = yield* useMessageQueue("/tmp/mq.sqlite");
 * console.log(queue.count(), "rows waiting");
 * ```
 */
export function useMessageQueue(path: string): Operation<MessageQueue> {
  return resource(function* (provide) {
    const queue = openMessageQueue(path);
    try {
      yield* provide(queue);
    } finally {
      queue.close();
    }
  });
}
