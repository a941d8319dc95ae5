/**
 * The job store: the job records, in id order, in memory; with `db` set, each
 * change is also written to SQLite (better-sqlite3) so that the history
 * survives a restart. Records are immutable snapshots: an update replaces the
 * record, so an event that carries one never changes after it was published.
 *
 * What it keeps is bounded: every unfinished job (nothing accepted is lost),
 * and the last `retainFinished` finished ones; older finished jobs are
 * dropped, oldest finish first. Counts by status are kept as it goes, so
 * `stats()` costs nothing however many jobs there are.
 */
import { type Operation, resource, until } from "effection";
import { epochSeconds, isFinal, type JobRecord, type QueueStats } from "./job.js";

/** Options of {@link useJobStore}. */
export interface JobStoreOptions {
  /** A SQLite file to keep jobs in. Default: memory only. */
  db?: string;
  /** Finished jobs kept; older finished jobs are dropped. Default 1000. */
  retainFinished?: number;
  /** Called with the ids retention dropped. */
  onDrop?: (ids: readonly number[]) => void;
}

/** The store, as provided by {@link useJobStore}. */
export interface JobStore {
  /** Adds a pending job with the next id. */
  insert(type: string, params: Record<string, unknown>): JobRecord;
  /** The job with this id, if any. */
  get(id: number): JobRecord | undefined;
  /** Every job kept, oldest first. */
  list(): JobRecord[];
  /**
   * Replaces a job's record with `changes` applied and returns the new
   * record; a job that becomes final may push the oldest finished one out.
   */
  update(id: number, changes: Partial<Omit<JobRecord, "id">>): JobRecord;
  /** Deletes jobs. */
  remove(ids: readonly number[]): void;
  /**
   * Takes a record written elsewhere (a replica of a cluster's store): kept
   * only if `rev` is newer than the revision held. Returns whether it was.
   */
  apply(job: JobRecord, rev: number): boolean;
  /** The revision of the record held for `id` by {@link apply} (0 if none was applied). */
  rev(id: number): number;
  /** Counts by status of the jobs kept. */
  counts(): Omit<QueueStats, "pending" | "running"> & { pending: number; running: number };
  /** Finished jobs dropped by retention since the store opened. */
  readonly dropped: number;
  /** Jobs recovered from the database as `failed` because they were running at a crash. */
  readonly interrupted: number;
}

/** The error of a job that was running when the process stopped. */
export const INTERRUPTED = "interrupted by restart";

interface Persistence {
  load(): JobRecord[];
  save(job: JobRecord): void;
  remove(ids: readonly number[]): void;
  close(): void;
}

class Store implements JobStore {
  private jobs = new Map<number, JobRecord>();
  /** Finished ids, oldest finish first (a Set keeps insertion order). */
  private finished = new Set<number>();
  private nextId = 1;
  private revs = new Map<number, number>();
  private tally = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  dropped = 0;
  interrupted = 0;

  constructor(
    private persistence: Persistence | undefined,
    private retain: number,
    private onDrop: ((ids: readonly number[]) => void) | undefined,
  ) {
    if (!persistence) return;
    const loaded = persistence.load();
    loaded.sort((a, b) => (a.completed_at ?? 0) - (b.completed_at ?? 0) || a.id - b.id);
    for (const record of loaded) {
      let job = record;
      if (job.status === "running") {
        job = { ...job, status: "failed", error: INTERRUPTED, completed_at: epochSeconds() };
        persistence.save(job);
        this.interrupted++;
      }
      this.put(Object.freeze(job));
      this.nextId = Math.max(this.nextId, job.id + 1);
    }
    this.jobs = new Map([...this.jobs].sort((a, b) => a[0] - b[0]));
    this.trim();
  }

  private put(job: JobRecord): void {
    const old = this.jobs.get(job.id);
    if (old) this.tally[old.status]--;
    this.jobs.set(job.id, job);
    this.tally[job.status]++;
    if (isFinal(job.status)) this.finished.add(job.id);
  }

  /** Drops the oldest finished jobs beyond the retention count. */
  private trim(): void {
    if (this.finished.size <= this.retain) return;
    const drop: number[] = [];
    for (const id of this.finished) {
      if (this.finished.size - drop.length <= this.retain) break;
      drop.push(id);
    }
    this.remove(drop);
    this.dropped += drop.length;
    this.onDrop?.(drop);
  }

  insert(type: string, params: Record<string, unknown>): JobRecord {
    const job: JobRecord = Object.freeze({
      id: this.nextId++,
      type,
      params,
      status: "pending",
      progress: Object.freeze({ percent: 0, message: "Queued" }),
      result: null,
      error: null,
      created_at: epochSeconds(),
      started_at: null,
      completed_at: null,
    });
    this.put(job);
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
    this.put(job);
    this.persistence?.save(job);
    if (isFinal(job.status)) this.trim();
    return job;
  }

  apply(job: JobRecord, rev: number): boolean {
    if (rev <= (this.revs.get(job.id) ?? 0)) return false;
    this.revs.set(job.id, rev);
    const frozen = Object.freeze(job);
    if (!isFinal(job.status)) this.finished.delete(job.id);
    this.put(frozen);
    this.nextId = Math.max(this.nextId, job.id + 1);
    if (isFinal(job.status)) this.trim();
    return true;
  }

  rev(id: number): number {
    return this.revs.get(id) ?? 0;
  }

  remove(ids: readonly number[]): void {
    for (const id of ids) {
      this.revs.delete(id);
      const job = this.jobs.get(id);
      if (job === undefined) continue;
      this.tally[job.status]--;
      this.jobs.delete(id);
      this.finished.delete(id);
    }
    this.persistence?.remove(ids);
  }

  counts() {
    return { ...this.tally, total: this.jobs.size };
  }
}

function* openSqlite(path: string): Operation<Persistence> {
  const { default: Database } = yield* until(import("better-sqlite3"));
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  // one JSON record per job: the record is the wire shape, so nothing is mapped twice
  db.exec("CREATE TABLE IF NOT EXISTS job_records (id INTEGER PRIMARY KEY, record TEXT NOT NULL)");
  const upsert = db.prepare("INSERT OR REPLACE INTO job_records (id, record) VALUES (?, ?)");
  const del = db.prepare("DELETE FROM job_records WHERE id = ?");
  const removeMany = db.transaction((ids: readonly number[]) => {
    for (const id of ids) del.run(id);
  });
  return {
    load() {
      const rows = db.prepare("SELECT record FROM job_records ORDER BY id").all() as {
        record: string;
      }[];
      return rows.map((row) => JSON.parse(row.record) as JobRecord);
    },
    save(job) {
      upsert.run(job.id, JSON.stringify(job));
    },
    remove(ids) {
      if (ids.length > 0) removeMany(ids);
    },
    close() {
      db.close();
    },
  };
}

/**
 * Opens the job store for the calling scope. With `db`, jobs are loaded from
 * (and written through to) that SQLite file; jobs that were running when the
 * process stopped come back as `failed` with "interrupted by restart", pending
 * ones stay pending and run again. The database is closed when the scope ends.
 *
 * @example
 * ```ts
 * const store = yield* useJobStore({ db: "jobs.sqlite", retainFinished: 1000 });
 * const job = store.insert("countdown", { seconds: 3 });
 * store.update(job.id, { status: "running" });
 * ```
 */
export function useJobStore(options: JobStoreOptions = {}): Operation<JobStore> {
  const retain = options.retainFinished ?? 1000;
  if (!Number.isInteger(retain) || retain < 0) {
    throw new RangeError(`retainFinished must be an integer >= 0, got ${retain}`);
  }
  return resource(function* (provide) {
    const persistence = options.db === undefined ? undefined : yield* openSqlite(options.db);
    try {
      yield* provide(new Store(persistence, retain, options.onDrop));
    } finally {
      persistence?.close();
    }
  });
}
