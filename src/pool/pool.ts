import { availableParallelism } from "node:os";
import type { ResourceLimits } from "node:worker_threads";
import { type Operation, resource, type Scope, until, useScope } from "effection";
import { type Clock, useClock } from "../core/clock.js";
import { usePanel } from "../core/panels.js";
import { retry } from "../core/retry.js";
import { createTimerSet, type TimerSet } from "../core/timer-set.js";
import { type Checkout, type CheckoutPool, CheckoutState } from "./checkout.js";
import type { DeferredLog } from "./deferred-log.js";
import { type SerializedError, ServerRefusedError, SetupError, SpawnError } from "./errors.js";
import { openProcessLink, workerTitle } from "./process-transport.js";
import { type CallMeta, EMPTY_META, type ReadyMeta, type WorkerFrame } from "./protocol.js";
import { openSocketLink, type SocketAddress } from "./socket-transport.js";
import { openThreadLink } from "./thread-transport.js";
import type { CallFunction, InterfaceOf, WorkerMethods } from "./worker-definition.js";
import { resolveWorkerFile } from "./worker-file.js";
import type { LinkFactory, WorkerLink } from "./worker-link.js";

/** Options shared by local and remote pools. */
export interface PoolCommonOptions<I> {
  /**
   * A name for this client (AnyEvent::Task's `name`): a failed call's
   * `TaskError` says `"NAME -> method"` (in `call` and as the last line of its
   * stack); process workers run with it as their process title
   * (`bough-worker:NAME` in `ps`), and a worker server gets it in the hello
   * frame (its logs and its workers' titles). Default: none (`"ANONYMOUS CLIENT"`).
   */
  name?: string;
  /** Workers started at once and kept (hot standby). Default 0. */
  minWorkers?: number;
  /** The most workers at a time; more checkouts wait in a FIFO queue. Default: CPU count. */
  maxWorkers?: number;
  /** Retire a worker after this many checkouts (leaky libraries). Default: never. */
  maxCheckouts?: number;
  /** Milliseconds a call may take, counted from when it is queued (so waiting for a worker counts). Default 30 000; `Infinity` never times out. */
  timeoutMs?: number;
  /** Keep a worker that threw (instead of replacing it on release). Default false. */
  dontReforkAfterError?: boolean;
  /** Runs in the caller on every normal release (not after an error), with the checkout still usable. */
  checkoutDone?: (checkout: Checkout<I>) => Operation<void>;
  /** Where workers' deferred logs are merged (unless a checkout brings its own). */
  logger?: DeferredLog;
}

/** Options of a pool of local workers. */
export interface LocalPoolOptions<I> extends PoolCommonOptions<I> {
  /** The worker file: a `file:` URL or a path. It must `export default defineWorker(…)`. */
  worker: string | URL;
  /** Worker threads (default) or child processes. */
  transport?: "thread" | "process";
  /** Extra Node flags for each worker. */
  execArgv?: string[];
  /**
   * Memory limits of each worker. Threads get them as Node's
   * `resourceLimits`; processes as V8 flags (`--max-old-space-size`,
   * `--max-semi-space-size`, `--stack-size`). A worker that goes past its heap
   * limit is stopped by V8: its call fails with `WorkerResourceLimitError` and
   * the worker is replaced. Default: none.
   */
  resourceLimits?: ResourceLimits;
}

/** Options of a pool whose workers live in a worker server (`serveWorkers`). */
export interface RemotePoolOptions<I> extends PoolCommonOptions<I> {
  /** Where the server listens. */
  connect: SocketAddress;
  /** Milliseconds before the first new connection attempt while the server is not up (or busy); later attempts back off up to 5× with jitter. Default 100. */
  retryDelayMs?: number;
  /** The server's shared secret (`serveWorkers({ token })`), sent in the hello frame. */
  token?: string;
}

/** Options of {@link usePool}. */
export type PoolOptions<I> = LocalPoolOptions<I> | RemotePoolOptions<I>;

/** Options of {@link Pool.checkout}. */
export interface CheckoutOptions {
  /** Overrides the pool's `timeoutMs` for the calls of this checkout. */
  timeoutMs?: number;
  /** Where this checkout's deferred logs are merged. */
  logger?: DeferredLog;
}

/** Counters of a pool. */
export interface PoolStats {
  /** Workers alive or starting. */
  workers: number;
  idle: number;
  busy: number;
  starting: number;
  /** Checkouts waiting for a worker. */
  waiting: number;
  /** The most workers alive or starting at one time. */
  peakWorkers: number;
  /** Workers started since the pool began. */
  spawned: number;
}

/** A worker pool: see {@link usePool}. */
export interface Pool<I = WorkerMethods> {
  /** Checks out one worker for the calling scope (a resource). */
  checkout(options?: CheckoutOptions): Operation<Checkout<I>>;
  /** A checkout with one call: `yield* pool.run("hash", "secret")`. */
  readonly run: CallFunction<I>;
  /** Counters for monitoring and tests. */
  stats(): PoolStats;
}

/** A worker as the pool sees it. */
export class PoolWorker {
  checkout: CheckoutState<PoolWorker> | undefined = undefined;
  checkouts = 0;
  dead = false;
  /** Set when the worker said it is exiting (`["by", …]`). */
  leaving: { inCall: boolean } | undefined = undefined;
  gone: Promise<void> | undefined = undefined;
  readonly setupError: SerializedError | undefined;
  /** The worker has a checkoutDone hook: tell it about normal releases. */
  readonly wantsDone: boolean;
  readonly info: { pid: number; threadId: number };

  constructor(
    readonly link: WorkerLink,
    meta: ReadyMeta,
  ) {
    this.setupError = meta.setup;
    this.wantsDone = meta.done === true;
    this.info = { pid: meta.pid, threadId: meta.threadId };
  }
}

/** The pool's machinery, shared by its checkouts. */
class PoolCore implements CheckoutPool<PoolWorker> {
  readonly deadlines: TimerSet;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly maxCheckouts: number;
  readonly timeout: number;
  readonly dontReforkAfterError: boolean;
  readonly checkoutDone: ((checkout: Checkout<any>) => Operation<void>) | undefined;
  readonly logger: DeferredLog | undefined;
  readonly name: string | undefined;
  /** The metadata every call of this pool carries (its client name). */
  readonly callMeta: CallMeta;
  private readonly waitingQueue: CheckoutState<PoolWorker>[] = [];
  private readonly idle: PoolWorker[] = [];
  private readonly workers = new Set<PoolWorker>();
  private readonly links = new Set<WorkerLink>();
  private readonly kills = new Set<Promise<void>>();
  private starting = 0;
  private peak = 0;
  private spawned = 0;
  private closing = false;

  constructor(
    readonly scope: Scope,
    readonly clock: Clock,
    private readonly open: LinkFactory,
    private readonly retryDelay: number | undefined,
    options: PoolCommonOptions<any>,
  ) {
    this.deadlines = createTimerSet(scope, clock);
    this.minWorkers = options.minWorkers ?? 0;
    this.maxWorkers = Math.max(1, options.maxWorkers ?? availableParallelism());
    this.maxCheckouts = options.maxCheckouts ?? Number.POSITIVE_INFINITY;
    this.timeout = options.timeoutMs ?? 30_000;
    this.dontReforkAfterError = options.dontReforkAfterError ?? false;
    this.checkoutDone = options.checkoutDone;
    this.logger = options.logger;
    this.name = options.name;
    this.callMeta = options.name === undefined ? EMPTY_META : { name: options.name };
    if (this.minWorkers > this.maxWorkers) {
      throw new RangeError(`minWorkers (${this.minWorkers}) > maxWorkers (${this.maxWorkers})`);
    }
    if (!(this.timeout >= 0)) throw new RangeError(`timeoutMs must be >= 0, got ${this.timeout}`);
  }

  stats(): PoolStats {
    const total = this.workers.size + this.starting;
    return {
      workers: total,
      idle: this.idle.length,
      busy: this.workers.size - this.idle.length,
      starting: this.starting,
      waiting: this.waitingQueue.length,
      peakWorkers: this.peak,
      spawned: this.spawned,
    };
  }

  /** Puts a new checkout in line for a worker. */
  acquire(checkout: CheckoutState<PoolWorker>): void {
    if (this.closing) throw new SpawnError("the pool is shutting down");
    const worker = this.idle.pop();
    if (worker !== undefined) {
      this.assign(worker, checkout);
      return;
    }
    checkout.waiting = true;
    this.waitingQueue.push(checkout);
    this.grow();
  }

  /** Takes a checkout out of the queue (it failed or was released while waiting). */
  unqueue(checkout: CheckoutState<PoolWorker>): void {
    checkout.waiting = false;
    const i = this.waitingQueue.indexOf(checkout);
    if (i >= 0) this.waitingQueue.splice(i, 1);
  }

  private assign(worker: PoolWorker, checkout: CheckoutState<PoolWorker>): void {
    checkout.served = 0;
    worker.checkout = checkout;
    worker.checkouts++;
    checkout.waiting = false;
    checkout.worker = worker;
    if (worker.setupError) {
      checkout.fatal(new SetupError(worker.setupError));
    } else if (checkout.queue.length > 0) {
      checkout.pump();
    }
  }

  private handOut(worker: PoolWorker): void {
    if (worker.leaving !== undefined) {
      this.forget(worker); // exiting: its exit does the rest
      this.grow();
      return;
    }
    const next = this.waitingQueue.shift();
    if (next !== undefined) this.assign(worker, next);
    else this.idle.push(worker);
  }

  /**
   * Ends a checkout's hold on its worker. Returns a promise to wait for when
   * the worker is being killed, undefined when it went back to the pool.
   */
  release(checkout: CheckoutState<PoolWorker>): Promise<void> | undefined {
    if (checkout.waiting) this.unqueue(checkout);
    const worker = checkout.worker;
    if (worker === undefined) return undefined;
    checkout.worker = undefined;
    worker.checkout = undefined;
    if (worker.dead) return worker.gone;
    if (
      checkout.inflight !== undefined ||
      checkout.fatalError !== undefined ||
      (checkout.sawError && !this.dontReforkAfterError) ||
      worker.setupError !== undefined ||
      this.closing
    ) {
      return this.kill(worker);
    }
    if (worker.wantsDone && !checkout.sawError) worker.link.send(["dn", {}]);
    if (worker.checkouts >= this.maxCheckouts) {
      this.kill(worker);
      return undefined;
    }
    this.handOut(worker);
    return undefined;
  }

  /** Kills a worker and starts a replacement if one is needed. */
  kill(worker: PoolWorker): Promise<void> {
    if (worker.dead) return worker.gone!;
    worker.dead = true;
    this.forget(worker);
    const gone = worker.link.kill();
    worker.gone = gone;
    this.kills.add(gone);
    gone.then(() => this.kills.delete(gone));
    this.links.delete(worker.link);
    this.grow();
    return gone;
  }

  private forget(worker: PoolWorker): void {
    this.workers.delete(worker);
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** The worker announced its exit: never hand it out again. */
  private onBye(worker: PoolWorker, meta: { inCall: boolean }): void {
    worker.leaving = meta;
    if (worker.checkout === undefined && !worker.dead) {
      this.forget(worker);
      this.grow();
    }
  }

  private onExit(worker: PoolWorker, error: Error): void {
    if (worker.dead) return;
    worker.dead = true;
    worker.gone = Promise.resolve();
    this.forget(worker);
    this.links.delete(worker.link);
    const checkout = worker.checkout;
    worker.checkout = undefined;
    if (
      checkout !== undefined &&
      worker.leaving !== undefined &&
      !worker.leaving.inCall &&
      checkout.served === 0 &&
      checkout.fatalError === undefined &&
      !this.closing
    ) {
      // It left before running anything for this checkout (it was handed out
      // as it exited): the checkout waits, first in line, for another worker.
      checkout.unassign();
      checkout.waiting = true;
      this.waitingQueue.unshift(checkout);
    } else {
      checkout?.fatal(error);
    }
    this.grow();
  }

  /** Starts workers while checkouts wait (or fewer than minWorkers live), within maxWorkers. */
  grow(): void {
    if (this.closing) return;
    for (;;) {
      const total = this.workers.size + this.starting;
      if (total >= this.maxWorkers) return;
      const wanted = this.waitingQueue.length > this.starting || total < this.minWorkers;
      if (!wanted) return;
      this.spawn();
    }
  }

  private spawn(): void {
    this.starting++;
    this.spawned++;
    this.peak = Math.max(this.peak, this.workers.size + this.starting);
    const core = this;
    this.scope.run(function* () {
      let started: { link: WorkerLink; meta: ReadyMeta };
      try {
        // A worker server that is not up yet (or busy) is tried again, with
        // core's backoff, for as long as a checkout waits for this worker.
        started = yield* retry(() => core.start(), {
          attempts: Number.MAX_SAFE_INTEGER,
          backoff: { initialMs: core.retryDelay, maxMs: (core.retryDelay ?? 0) * 5 },
          retryIf: (error) => core.retryable(error) && core.stillWanted(),
        });
      } catch (error) {
        core.starting--;
        // Nobody waits any more (their timeouts fired): stop trying quietly.
        if (!core.retryable(error) || core.stillWanted()) core.onSpawnFailed(error as Error);
        return;
      }
      core.starting--;
      const { link, meta } = started;
      if (core.closing) {
        core.links.delete(link);
        yield* until(link.kill());
        return;
      }
      const worker = new PoolWorker(link, meta);
      core.workers.add(worker);
      link.onFrame = (frame: WorkerFrame) => {
        if (frame[0] === "by") core.onBye(worker, frame[1]);
        else worker.checkout?.onReply(frame);
      };
      link.onExit = (error: Error) => core.onExit(worker, error);
      core.handOut(worker);
    });
  }

  /** Opens one link and waits until its worker is ready; a link that fails is gone before this throws. */
  private *start(): Operation<{ link: WorkerLink; meta: ReadyMeta }> {
    let link: WorkerLink;
    try {
      link = this.open();
    } catch (error) {
      throw new SpawnError(`cannot start a worker: ${(error as Error).message}`, { cause: error });
    }
    this.links.add(link);
    try {
      return { link, meta: yield* until(link.ready) };
    } catch (error) {
      this.links.delete(link);
      yield* until(link.kill());
      throw error;
    }
  }

  /** A failure to start that is worth another try: a remote pool's refused or busy connection. */
  private retryable(error: unknown): boolean {
    return this.retryDelay !== undefined && (error as { retryable?: boolean }).retryable === true;
  }

  /** Whether a worker being started is still needed: a checkout waits, or fewer than minWorkers live. */
  private stillWanted(): boolean {
    return (
      !this.closing &&
      (this.waitingQueue.length > 0 || this.workers.size + this.starting <= this.minWorkers)
    );
  }

  private onSpawnFailed(error: Error): void {
    const first = this.waitingQueue.shift();
    if (first !== undefined) {
      first.waiting = false;
      first.fatal(
        error instanceof SpawnError || error instanceof ServerRefusedError
          ? error
          : new SpawnError(String(error), { cause: error }),
      );
      this.grow();
    } else if (!this.closing) {
      console.error("bough/pool: a worker failed to start", error);
    }
  }

  /** Shuts the pool down: fails waiting checkouts, kills every worker and waits until all are gone. */
  *close(): Operation<void> {
    this.closing = true;
    this.deadlines.close();
    for (const checkout of this.waitingQueue.splice(0)) {
      checkout.waiting = false;
      checkout.fatal(new SpawnError("the pool was shut down"));
    }
    for (const worker of [...this.workers]) {
      worker.checkout?.fatal(new SpawnError("the pool was shut down"));
      this.kill(worker);
    }
    for (const link of this.links) this.kills.add(link.kill());
    this.links.clear();
    yield* until(Promise.all(this.kills));
  }
}

/**
 * A pool of workers with exclusive checkouts (AnyEvent::Task in TypeScript),
 * as a resource of the calling scope: when the scope ends, every worker is
 * killed and the pool returns only once all are gone.
 *
 * Local workers run `worker` (a file that does `export default
 * defineWorker(…)`) in worker threads (`transport: "thread"`, the default) or
 * child processes (`"process"`); `connect` uses a worker server instead
 * (`serveWorkers` / `useWorkerServer`), retrying until it is up. Type the pool
 * with the worker's definition type to type `run`, `call` and `api`.
 *
 * @example
 * ```ts
 * import { main } from "effection";
 * import { usePool } from "bough/pool";
 * import type hashWorker from "./hash-worker.js";
 *
 * await main(function* () {
 *   const pool = yield* usePool<typeof hashWorker>({
 *     worker: new URL("./hash-worker.ts", import.meta.url),
 *     maxWorkers: 4,
 *     timeoutMs: 5_000,
 *   });
 *   const hashed = yield* pool.run("hash", "secret");
 *
 *   const db = yield* pool.checkout(); // one worker, for this scope only
 *   yield* db.api.begin();
 *   yield* db.api.insert("jimmy");
 *   yield* db.api.commit();
 * });
 * ```
 */
export function usePool<W = WorkerMethods>(
  options: PoolOptions<InterfaceOf<W>>,
): Operation<Pool<InterfaceOf<W>>> {
  return resource(function* (provide) {
    const scope = yield* useScope();
    const clock = yield* useClock();
    let open: LinkFactory;
    let retryDelay: number | undefined;
    if ("connect" in options) {
      const address = options.connect;
      const token = options.token;
      const name = options.name;
      open = () => openSocketLink(address, { token, name });
      retryDelay = options.retryDelayMs ?? 100;
    } else {
      const file = resolveWorkerFile(options.worker);
      const resourceLimits = options.resourceLimits;
      if (options.transport === "process") {
        const execArgv = options.execArgv;
        const title = workerTitle(options.name);
        open = () => openProcessLink(file, { execArgv, resourceLimits, title });
      } else {
        const execArgv = options.execArgv;
        open = () => openThreadLink(file, { execArgv, resourceLimits });
      }
    }
    const core = new PoolCore(scope, clock, open, retryDelay, options);
    const pool: Pool<any> = {
      *checkout(checkoutOptions: CheckoutOptions = {}) {
        return yield* useCheckout(core, checkoutOptions);
      },
      run: ((first: unknown, ...rest: unknown[]) => runOnce(core, first, rest)) as never,
      stats: () => core.stats(),
    };
    core.grow();
    yield* usePanel("pool", options.name ?? "pool", pool.stats);
    try {
      yield* provide(pool);
    } finally {
      yield* core.close();
    }
  });
}

function* useCheckout(core: PoolCore, options: CheckoutOptions): Operation<Checkout<any>> {
  // Join the first-come-first-served queue now, in the caller's own step, as
  // pool.run() does: the resource body below starts a scheduler turn later,
  // and a run() requested meanwhile must not get the worker first.
  const state = new CheckoutState<PoolWorker>(
    core,
    options.timeoutMs ?? core.timeout,
    options.logger,
  );
  core.acquire(state);
  let started = false;
  try {
    return yield* resource<Checkout<any>>(function* (provide) {
      started = true;
      try {
        yield* provide(state.api());
      } finally {
        yield* state.release();
      }
    });
  } finally {
    // Halted before the resource began: nobody else will leave the queue for it.
    if (!started) yield* state.release();
  }
}

class RunOperation implements Operation<unknown> {
  constructor(
    private readonly core: PoolCore,
    private readonly first: unknown,
    private readonly rest: unknown[],
  ) {}

  *[Symbol.iterator](): Iterator<any, unknown, any> {
    const state = new CheckoutState<PoolWorker>(this.core, this.core.timeout, undefined);
    this.core.acquire(state);
    try {
      return yield* state.call(this.first, this.rest);
    } finally {
      yield* state.release();
    }
  }
}

function runOnce(core: PoolCore, first: unknown, rest: unknown[]): Operation<unknown> {
  return new RunOperation(core, first, rest);
}
