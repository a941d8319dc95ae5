/**
 * The job queue of a cluster: several job-runner processes on one Redis. The
 * records, their status, owner and revision live in Redis hashes; the queue
 * is a Redis stream read by one consumer group, so each job is delivered to
 * exactly one process, first come first served, and a process reads only when
 * it has a free slot. Every change of a job is one Lua script, so a final
 * status is never overwritten and a process that lost a job (cancelled
 * elsewhere, or reclaimed after it stopped answering) cannot write it again.
 *
 * A process touches the queue entries of the jobs it runs every
 * `claimMs / 3` (an `XCLAIM` to itself, only while it still owns the job);
 * every process sweeps the group with `XAUTOCLAIM`: an entry nobody touched
 * for `claimMs` belonged to a dead process, and its job is marked failed
 * ("interrupted") or queued again (`onInterrupted: "rerun"`); an entry
 * delivered but never started is queued again. Nothing accepted is lost, and
 * no job runs twice at once.
 */
import { randomBytes } from "node:crypto";
import { type Operation, resource, until } from "effection";
import { Redis } from "ioredis";
import type { JobRecord, JobStatus, WorkerStats } from "./job.js";

/** Options of {@link useClusterQueue}. */
export interface ClusterQueueOptions {
  /** `redis://host:port`. */
  url: string;
  /** Prefix of every key. Default `"bough:job-runner:"`. */
  prefix?: string;
  /** Finished jobs kept in Redis. */
  retainFinished: number;
  /** A job whose process has not touched it for this long is reclaimed. Default 5000 ms. */
  claimMs?: number;
  /** What happens to a job reclaimed from a dead process. Default `"fail"`. */
  onInterrupted?: "fail" | "rerun";
}

/** A change written by {@link ClusterQueue.write}: the record, its revision, and the jobs retention dropped. */
export interface Written {
  job: JobRecord;
  rev: number;
  dropped: number[];
}

/** A job reclaimed from a dead process. */
export interface Reclaimed {
  /** `failed` ("interrupted"), `pending` (queued again) or undefined (nothing to do). */
  written?: Written;
  /** The process that owned it. */
  owner?: string;
}

/** The queue, as provided by {@link useClusterQueue}. */
export interface ClusterQueue {
  /** This process's consumer name in the group. */
  readonly consumer: string;
  /** The cluster's name (the same in every process; kept in Redis). */
  readonly cluster: string;
  /** Every job kept, with its revision. */
  load(): Operation<{ job: JobRecord; rev: number }[]>;
  /** Records and queues a new job. */
  create(type: string, params: Record<string, unknown>): Operation<Written>;
  /** Waits up to `blockMs` for the next job of the queue; returns its id and entry. */
  take(blockMs: number): Operation<{ id: number; entry: string } | undefined>;
  /** The job's record in Redis, if any. */
  read(id: number): Operation<{ job: JobRecord; rev: number } | undefined>;
  /**
   * Writes a change this process makes to a job it owns (start: `expect`
   * "pending"; progress and the end: `expect` "running" and ownership). Returns
   * undefined when the job is no longer this process's to change.
   */
  write(
    job: JobRecord,
    expect: "pending" | "running",
    entry: string,
  ): Operation<Written | undefined>;
  /** Cancels a job from any process: `missing`, `final` (with its status), or the write. */
  cancel(
    id: number,
    completedAt: number,
  ): Operation<
    | { outcome: "missing" }
    | { outcome: "final"; status: JobStatus }
    | ({ outcome: "ok"; owner?: string } & Written)
  >;
  /** Removes every finished job; returns their ids. */
  clear(): Operation<number[]>;
  /** Acknowledges a queue entry whose job needs no run (cancelled while pending). */
  ack(entry: string): Operation<void>;
  /** Renews this process's hold on its running jobs; returns those it lost. */
  touch(jobs: { id: number; entry: string }[]): Operation<number[]>;
  /** Reclaims the jobs of processes that stopped touching them. */
  sweep(): Operation<Reclaimed[]>;
  /**
   * Records this process's worker counters and returns every live member's
   * (those heard from within `claimMs`), forgetting the others.
   */
  members(own: WorkerStats): Operation<Map<string, { stats: WorkerStats; at: number }>>;
}

const FINAL = `local function final(s) return s == 'completed' or s == 'failed' or s == 'cancelled' end`;

// Drops the oldest finished jobs beyond ARGV[retain]; returns their ids.
const TRIM = `
local function trim(retain)
  local dropped = {}
  while redis.call('ZCARD', KEYS[5]) > retain do
    local out = redis.call('ZPOPMIN', KEYS[5])
    local id = out[1]
    redis.call('HDEL', KEYS[1], id) redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id) redis.call('HDEL', KEYS[4], id)
    table.insert(dropped, id)
  end
  return dropped
end
local function finish(id)
  redis.call('ZADD', KEYS[5], redis.call('INCR', KEYS[6]), id)
end`;

// KEYS: records status owner rev finished finseq next queue
const CREATE = `
local id = redis.call('INCR', KEYS[7])
local record = '{"id":' .. id .. ',"type":' .. cjson.encode(ARGV[1]) .. ',"params":' .. ARGV[2] ..
  ',"status":"pending","progress":{"percent":0,"message":"Queued"},"result":null,"error":null,' ..
  '"created_at":' .. ARGV[3] .. ',"started_at":null,"completed_at":null}'
redis.call('HSET', KEYS[1], id, record)
redis.call('HSET', KEYS[2], id, 'pending')
redis.call('HSET', KEYS[4], id, 1)
redis.call('XADD', KEYS[8], '*', 'id', id)
return {id, record}`;

// ARGV: id status record expect me entry retain group
const WRITE = `${FINAL}${TRIM}
local id = ARGV[1]
local current = redis.call('HGET', KEYS[2], id)
if current ~= ARGV[3] then return {0} end
if current == 'running' and redis.call('HGET', KEYS[3], id) ~= ARGV[5] then return {0} end
redis.call('HSET', KEYS[1], id, ARGV[4])
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('HSET', KEYS[3], id, ARGV[5])
local rev = redis.call('HINCRBY', KEYS[4], id, 1)
local dropped = {}
if final(ARGV[2]) then
  redis.call('XACK', KEYS[8], ARGV[8], ARGV[6]) redis.call('XDEL', KEYS[8], ARGV[6])
  finish(id)
  dropped = trim(tonumber(ARGV[7]))
end
return {1, rev, dropped}`;

// ARGV: id completed_at retain
const CANCEL = `${FINAL}${TRIM}
local id = ARGV[1]
local status = redis.call('HGET', KEYS[2], id)
if not status then return {'missing'} end
if final(status) then return {'final', status} end
local job = cjson.decode(redis.call('HGET', KEYS[1], id))
job.status = 'cancelled'
job.completed_at = tonumber(ARGV[2])
local record = cjson.encode(job)
redis.call('HSET', KEYS[1], id, record)
redis.call('HSET', KEYS[2], id, 'cancelled')
local rev = redis.call('HINCRBY', KEYS[4], id, 1)
finish(id)
local owner = redis.call('HGET', KEYS[3], id) or ''
return {'ok', record, rev, owner, trim(tonumber(ARGV[3]))}`;

// ARGV: me group, then pairs of id entry; returns the ids no longer ours
const TOUCH = `
local lost = {}
for i = 3, #ARGV, 2 do
  local id, entry = ARGV[i], ARGV[i + 1]
  local status = redis.call('HGET', KEYS[2], id)
  -- taken and not started yet, or running as ours: keep holding its entry
  if status == 'pending' or (status == 'running' and redis.call('HGET', KEYS[3], id) == ARGV[1]) then
    redis.call('XCLAIM', KEYS[8], ARGV[2], ARGV[1], 0, entry, 'JUSTID')
  else
    table.insert(lost, id)
  end
end
return lost`;

// ARGV: id entry group policy completed_at retain; the entry is claimed by the sweeper
const RECLAIM = `${FINAL}${TRIM}
local id, entry = ARGV[1], ARGV[2]
redis.call('XACK', KEYS[8], ARGV[3], entry) redis.call('XDEL', KEYS[8], entry)
local status = redis.call('HGET', KEYS[2], id)
local owner = redis.call('HGET', KEYS[3], id) or ''
if status == 'pending' then
  redis.call('XADD', KEYS[8], '*', 'id', id)
  return {'requeued', owner}
end
if status ~= 'running' then return {'none', owner} end
local job = cjson.decode(redis.call('HGET', KEYS[1], id))
local dropped = {}
if ARGV[4] == 'rerun' then
  job.status = 'pending'
  job.started_at = cjson.null
  job.progress = { percent = 0, message = 'Queued' }
  redis.call('HDEL', KEYS[3], id)
  redis.call('XADD', KEYS[8], '*', 'id', id)
else
  job.status = 'failed'
  job.error = 'interrupted'
  job.completed_at = tonumber(ARGV[5])
  finish(id)
end
local record = cjson.encode(job)
redis.call('HSET', KEYS[1], id, record)
redis.call('HSET', KEYS[2], id, job.status)
local rev = redis.call('HINCRBY', KEYS[4], id, 1)
if job.status == 'failed' then dropped = trim(tonumber(ARGV[6])) end
return {'ok', owner, record, rev, dropped}`;

const CLEAR = `
local ids = redis.call('ZRANGE', KEYS[5], 0, -1)
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id) redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id) redis.call('HDEL', KEYS[4], id)
end
redis.call('DEL', KEYS[5])
return ids`;

const GROUP = "workers";

type Raw = unknown[];

/**
 * Connects this process to the cluster's queue for the calling scope.
 *
 * @example
 * ```ts
 * const queue = yield* useClusterQueue({ url: "redis://127.0.0.1:6379", retainFinished: 1000 });
 * const { job } = yield* queue.create("countdown", { seconds: 5 });
 * ```
 */
export function useClusterQueue(options: ClusterQueueOptions): Operation<ClusterQueue> {
  const prefix = options.prefix ?? "bough:job-runner:";
  const claimMs = options.claimMs ?? 5000;
  const policy = options.onInterrupted ?? "fail";
  const keys = ["records", "status", "owner", "rev", "finished", "finseq", "next", "queue"].map(
    (name) => prefix + name,
  );
  const queueKey = keys[7];
  return resource(function* (provide) {
    const redisOptions = { maxRetriesPerRequest: null, enableOfflineQueue: true } as const;
    const cmd = new Redis(options.url, redisOptions);
    // the blocking reader has a connection of its own
    const reader = new Redis(options.url, redisOptions);
    cmd.on("error", () => {});
    reader.on("error", () => {});
    try {
      const consumer = randomBytes(4).toString("hex");
      const run = (script: string, ...args: (string | number)[]) =>
        until(cmd.eval(script, keys.length, ...keys, ...args) as Promise<Raw>);
      try {
        yield* until(cmd.xgroup("CREATE", queueKey, GROUP, "0", "MKSTREAM"));
      } catch (error) {
        if (!String(error).includes("BUSYGROUP")) throw error;
      }
      yield* until(cmd.set(`${prefix}cluster`, randomBytes(4).toString("hex"), "NX"));
      const cluster = (yield* until(cmd.get(`${prefix}cluster`))) as string;
      const ids = (raw: unknown) => ((raw as string[]) ?? []).map(Number);

      const queue: ClusterQueue = {
        consumer,
        cluster,
        *load() {
          const [records, revs] = (yield* until(
            cmd.multi().hgetall(keys[0]).hgetall(keys[3]).exec(),
          )) as [unknown, Record<string, string>][];
          const byId = records[1] as Record<string, string>;
          return Object.entries(byId)
            .map(([id, text]) => ({ job: JSON.parse(text) as JobRecord, rev: Number(revs[1][id]) }))
            .sort((a, b) => a.job.id - b.job.id);
        },
        *create(type, params) {
          const [id, record] = (yield* run(
            CREATE,
            type,
            JSON.stringify(params),
            String(Date.now() / 1000),
          )) as [number, string];
          return { job: { ...JSON.parse(record), id }, rev: 1, dropped: [] };
        },
        *take(blockMs) {
          const reply = (yield* until(
            reader.xreadgroup(
              "GROUP",
              GROUP,
              consumer,
              "COUNT",
              1,
              "BLOCK",
              blockMs,
              "STREAMS",
              queueKey,
              ">",
            ),
          )) as [string, [string, string[]][]][] | null;
          const entry = reply?.[0]?.[1]?.[0];
          if (!entry) return undefined;
          return { id: Number(entry[1][1]), entry: entry[0] };
        },
        *read(id) {
          const [text, rev] = (yield* until(
            cmd.multi().hget(keys[0], String(id)).hget(keys[3], String(id)).exec(),
          )) as [unknown, string | null][];
          if (typeof text[1] !== "string") return undefined;
          return { job: JSON.parse(text[1]) as JobRecord, rev: Number(rev[1]) };
        },
        *write(job, expect, entry) {
          const reply = yield* run(
            WRITE,
            job.id,
            job.status,
            expect,
            JSON.stringify(job),
            consumer,
            entry,
            options.retainFinished,
            GROUP,
          );
          if (reply[0] !== 1) return undefined;
          return { job, rev: Number(reply[1]), dropped: ids(reply[2]) };
        },
        *cancel(id, completedAt) {
          const reply = yield* run(CANCEL, id, completedAt, options.retainFinished);
          if (reply[0] === "missing") return { outcome: "missing" };
          if (reply[0] === "final") return { outcome: "final", status: reply[1] as JobStatus };
          return {
            outcome: "ok",
            job: JSON.parse(reply[1] as string) as JobRecord,
            rev: Number(reply[2]),
            owner: (reply[3] as string) || undefined,
            dropped: ids(reply[4]),
          };
        },
        *clear() {
          return ids(yield* run(CLEAR));
        },
        *members(own) {
          const key = `${prefix}members`;
          const now = Date.now();
          const [, all] = (yield* until(
            cmd
              .multi()
              .hset(key, consumer, JSON.stringify({ ...own, at: now }))
              .hgetall(key)
              .exec(),
          )) as [unknown, [unknown, Record<string, string>]];
          const live = new Map<string, { stats: WorkerStats; at: number }>();
          const stale: string[] = [];
          for (const [name, text] of Object.entries(all[1] ?? {})) {
            const { at, ...stats } = JSON.parse(text) as WorkerStats & { at: number };
            if (now - at > claimMs) stale.push(name);
            else live.set(name, { stats, at });
          }
          if (stale.length > 0) yield* until(cmd.hdel(key, ...stale));
          return live;
        },
        *ack(entry) {
          yield* until(cmd.multi().xack(queueKey, GROUP, entry).xdel(queueKey, entry).exec());
        },
        *touch(jobs) {
          if (jobs.length === 0) return [];
          const pairs = jobs.flatMap(({ id, entry }) => [id, entry]);
          return ids(yield* run(TOUCH, consumer, GROUP, ...pairs));
        },
        *sweep() {
          const reply = (yield* until(
            cmd.xautoclaim(queueKey, GROUP, `${consumer}-sweeper`, claimMs, "0-0", "COUNT", 100),
          )) as [string, [string, string[]][], string[]];
          const out: Reclaimed[] = [];
          for (const [entry, fields] of reply[1] ?? []) {
            if (!fields) continue;
            const id = Number(fields[1]);
            const r = yield* run(
              RECLAIM,
              id,
              entry,
              GROUP,
              policy,
              Date.now() / 1000,
              options.retainFinished,
            );
            const owner = (r[1] as string) || undefined;
            if (r[0] !== "ok") {
              out.push({ owner });
              continue;
            }
            out.push({
              owner,
              written: {
                job: JSON.parse(r[2] as string) as JobRecord,
                rev: Number(r[3]),
                dropped: ids(r[4]),
              },
            });
          }
          return out;
        },
      };
      yield* provide(queue);
    } finally {
      reader.disconnect();
      cmd.disconnect();
    }
  });
}
