/**
 * The job store: every job record, in id order, in memory; with `db` set, each
 * change is also written to SQLite (better-sqlite3) so that the history
 * survives a restart. Records are immutable snapshots: an update replaces the
 * record, so an event that carries one never changes after it was published.
 */
import { type Operation, resource, until } from "effection";
import { isFinal, type JobRecord } from "./job.js";

/** Options of {@link useJobStore}. */
export interface JobStoreOptions {
  /** A SQLite file to keep jobs in. Default: memory only. */
  db?: string;
}

/** The store, as provided by {@link useJobStore}. */
export interface JobStore {
  /** Adds a queued job with the next id. */
  insert(job_type: string, params: Record<string, unknown>): JobRecord;
  /** The job with this id, if any. */
  get(id: number): JobRecord | undefined;
  /** Every job, oldest first. */
  list(): JobRecord[];
  /** Replaces a job's record with `changes` applied and returns the new record. */
  update(id: number, changes: Partial<Omit<JobRecord, "id">>): JobRecord;
  /** Deletes jobs. */
  remove(ids: readonly number[]): void;
  /** Jobs recovered from the database as `failed` because they were running at a crash. */
  readonly interrupted: number;
}

/** The message of a job that was running when the process stopped. */
export const INTERRUPTED = "interrupted by restart";

interface Persistence {
  load(): JobRecord[];
  save(job: JobRecord): void;
  remove(ids: readonly number[]): void;
  close(): void;
}

class Store implements JobStore {
  private jobs = new Map<number, JobRecord>();
  private nextId = 1;
  interrupted = 0;

  constructor(private persistence: Persistence | undefined) {
    if (!persistence) return;
    for (const loaded of persistence.load()) {
      let job = loaded;
      if (job.status === "running") {
        job = {
          ...job,
          status: "failed",
          error: INTERRUPTED,
          message: INTERRUPTED,
          finished_at: new Date().toISOString(),
        };
        persistence.save(job);
        this.interrupted++;
      }
      this.jobs.set(job.id, Object.freeze(job));
      this.nextId = Math.max(this.nextId, job.id + 1);
    }
  }

  insert(job_type: string, params: Record<string, unknown>): JobRecord {
    const job: JobRecord = Object.freeze({
      id: this.nextId++,
      job_type,
      params,
      status: "queued",
      progress: 0,
      message: "queued",
      result: null,
      error: null,
      created_at: new Date().toISOString(),
      started_at: null,
      finished_at: null,
    });
    this.jobs.set(job.id, job);
    this.persistence?.save(job);
    return job;
  }

  get(id: number): JobRecord | undefined {
    return this.jobs.get(id);
  }

  list(): JobRecord[] {
    return [...this.jobs.values()];
  }

  update(id: number, changes: Partial<Omit<JobRecord, "id">>): JobRecord {
    const old = this.jobs.get(id);
    if (old === undefined) throw new Error(`no job ${id} to update`);
    if (isFinal(old.status)) throw new Error(`job ${id} is ${old.status}: its record is final`);
    const job = Object.freeze({ ...old, ...changes });
    this.jobs.set(id, job);
    this.persistence?.save(job);
    return job;
  }

  remove(ids: readonly number[]): void {
    for (const id of ids) this.jobs.delete(id);
    this.persistence?.remove(ids);
  }
}

interface Row {
  id: number;
  job_type: string;
  params: string;
  status: JobRecord["status"];
  progress: number;
  message: string;
  result: string | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

function* openSqlite(path: string): Operation<Persistence> {
  const { default: Database } = yield* until(import("better-sqlite3"));
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    job_type TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL,
    message TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
  )`);
  const upsert = db.prepare(
    `INSERT OR REPLACE INTO jobs (id, job_type, params, status, progress, message, result, error, created_at, started_at, finished_at)
     VALUES (@id, @job_type, @params, @status, @progress, @message, @result, @error, @created_at, @started_at, @finished_at)`,
  );
  const del = db.prepare("DELETE FROM jobs WHERE id = ?");
  const removeMany = db.transaction((ids: readonly number[]) => {
    for (const id of ids) del.run(id);
  });
  return {
    load() {
      const rows = db.prepare("SELECT * FROM jobs ORDER BY id").all() as Row[];
      return rows.map((row) => ({
        ...row,
        params: JSON.parse(row.params) as Record<string, unknown>,
        result: row.result === null ? null : JSON.parse(row.result),
      }));
    },
    save(job) {
      upsert.run({
        ...job,
        params: JSON.stringify(job.params),
        result: job.result === null || job.result === undefined ? null : JSON.stringify(job.result),
      });
    },
    remove(ids) {
      removeMany(ids);
    },
    close() {
      db.close();
    },
  };
}

/**
 * Opens the job store for the calling scope. With `db`, jobs are loaded from
 * (and written through to) that SQLite file; jobs that were running when the
 * process stopped come back as `failed` with "interrupted by restart", queued
 * ones stay queued and run again. The database is closed when the scope ends.
 *
 * @example
 * ```ts
 * const store = yield* useJobStore({ db: "jobs.sqlite" });
 * const job = store.insert("countdown", { seconds: 3 });
 * store.update(job.id, { status: "running" });
 * ```
 */
export function useJobStore(options: JobStoreOptions = {}): Operation<JobStore> {
  return resource(function* (provide) {
    const persistence = options.db === undefined ? undefined : yield* openSqlite(options.db);
    try {
      yield* provide(new Store(persistence));
    } finally {
      persistence?.close();
    }
  });
}
