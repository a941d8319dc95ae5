import { action, type Operation, until, useScope } from "effection";
import type { Clock } from "../core/clock.js";
import { labelOf, labelsWatched, labelTraceparent, withLabelNode } from "../core/labels.js";
import type { Deadline, TimerSet } from "../core/timer-set.js";
import type { DeferredLog, LogTimer } from "./deferred-log.js";
import {
  CheckoutFatalError,
  SerializationError,
  TaskError,
  TimeoutError,
  WorkerCrashedError,
  WorkerResourceLimitError,
} from "./errors.js";
import type { CallMeta, WorkerFrame } from "./protocol.js";
import type { CallFunction, WorkerApi, WorkerMethods } from "./worker-definition.js";
import type { WorkerLink } from "./worker-link.js";

/**
 * One worker, held exclusively by the scope that checked it out. Calls queue
 * on the checkout and run in order on its worker; the checkout is released
 * when its scope ends.
 */
export interface Checkout<I = WorkerMethods> {
  /** Calls a method of the worker (for a function interface: calls it with the arguments). */
  readonly call: CallFunction<I>;
  /** The typed proxy: `checkout.api.hash("secret")` is `checkout.call("hash", "secret")`. */
  readonly api: WorkerApi<I>;
  /**
   * Ends the checkout's worker on purpose (AnyEvent::Task's
   * `throw_fatal_error`): pending calls fail with `error`, later calls with
   * {@link CheckoutFatalError}, and the worker is killed.
   */
  fail(error?: Error): Operation<void>;
  /** The process id and thread id of the worker, once one is assigned. */
  readonly worker: { pid: number; threadId: number } | undefined;
}

/** What a checkout knows of the worker it holds. */
export interface CheckoutWorker {
  readonly link: WorkerLink;
  readonly dead: boolean;
  readonly info: { pid: number; threadId: number };
}

/**
 * What a checkout needs of its pool: the pool (`usePool`) implements it, so
 * that a checkout depends on this, not on the pool.
 */
export interface CheckoutPool<W extends CheckoutWorker = CheckoutWorker> {
  readonly deadlines: TimerSet;
  readonly clock: Clock;
  readonly logger: DeferredLog | undefined;
  /** The client name, for a failed call's "NAME -> method". */
  readonly name: string | undefined;
  /** The metadata every call carries. */
  readonly callMeta: CallMeta;
  readonly checkoutDone: ((checkout: Checkout<any>) => Operation<void>) | undefined;
  /** Kills a worker (and replaces it if needed); resolves once it is gone. */
  kill(worker: W): Promise<void>;
  /** Ends the checkout's hold on its worker; a promise when the worker is being killed. */
  release(checkout: CheckoutState<W>): Promise<void> | undefined;
  /** Takes a waiting checkout out of the queue. */
  unqueue(checkout: CheckoutState<W>): void;
}

/** A call queued on (or running for) a checkout. */
export class CallRequest {
  deadline: Deadline | undefined = undefined;
  /** The call's timer in the checkout's deferred log, ended when it settles. */
  timer: LogTimer | undefined = undefined;
  done = false;
  private ok = false;
  private value: unknown = undefined;
  private resolve: ((value: unknown) => void) | undefined = undefined;
  private reject: ((error: Error) => void) | undefined = undefined;

  constructor(
    readonly method: string | null,
    readonly args: unknown[],
    readonly meta: CallMeta,
  ) {}

  succeed(value: unknown): void {
    if (this.done) return;
    this.done = true;
    this.timer?.end();
    this.ok = true;
    this.value = value;
    this.resolve?.(value);
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.timer?.end();
    this.value = error;
    this.reject?.(error);
  }

  wait(): Operation<unknown> {
    return action<unknown>((resolve, reject) => {
      if (this.done) {
        if (this.ok) resolve(this.value);
        else reject(this.value as Error);
      } else {
        this.resolve = resolve;
        this.reject = reject;
      }
      return () => {
        this.resolve = undefined;
        this.reject = undefined;
      };
    });
  }
}

/** The checkout's state machine; the pool drives it, {@link CallOperation} uses it. */
export class CheckoutState<W extends CheckoutWorker = CheckoutWorker> {
  worker: W | undefined = undefined;
  waiting = false;
  queue: CallRequest[] = [];
  inflight: CallRequest | undefined = undefined;
  fatalError: Error | undefined = undefined;
  sawError = false;
  released = false;
  /** Replies from the current worker (0: it has run nothing for this checkout). */
  served = 0;
  private apiObject: Checkout<any> | undefined;

  constructor(
    readonly pool: CheckoutPool<W>,
    readonly timeout: number,
    readonly logger: DeferredLog | undefined,
  ) {}

  /** Queues a call; throws at once if the checkout failed fatally. */
  enqueue(method: string | null, args: unknown[], meta: CallMeta): CallRequest {
    if (this.fatalError) throw new CheckoutFatalError(this.fatalError);
    if (this.released) throw new CheckoutFatalError(new Error("this checkout was released"));
    const req = new CallRequest(method, args, meta);
    // Each call is timed in the deferred log, named for its method (t/logger.t).
    req.timer = (this.logger ?? this.pool.logger)?.timer(method ?? "call");
    if (this.timeout !== Number.POSITIVE_INFINITY) {
      req.deadline = this.pool.deadlines.add(this.pool.clock.now() + this.timeout, () =>
        this.onTimeout(req),
      );
    }
    if (this.inflight === undefined && this.worker !== undefined && this.queue.length === 0) {
      this.send(req);
    } else {
      this.queue.push(req);
    }
    return req;
  }

  private send(req: CallRequest): void {
    try {
      this.worker!.link.send(["do", req.meta, req.method, req.args]);
    } catch (error) {
      this.pool.deadlines.cancel(req.deadline);
      req.fail(error as Error);
      return;
    }
    this.inflight = req;
  }

  /**
   * Gives up a worker that left before running anything for this checkout:
   * the call sent to it goes back to the front of the queue, for the next
   * worker the pool assigns.
   */
  unassign(): void {
    if (this.inflight !== undefined) this.queue.unshift(this.inflight);
    this.inflight = undefined;
    this.worker = undefined;
  }

  /** Sends queued calls while the worker is free. */
  pump(): void {
    while (this.inflight === undefined && this.worker !== undefined && this.queue.length > 0) {
      this.send(this.queue.shift()!);
    }
  }

  /** A reply frame from this checkout's worker. */
  onReply(frame: WorkerFrame): void {
    const req = this.inflight;
    if (req === undefined || frame[0] === "rd" || frame[0] === "by") return;
    this.inflight = undefined;
    this.served++;
    this.pool.deadlines.cancel(req.deadline);
    const meta = frame[1];
    if (meta.log !== undefined) (this.logger ?? this.pool.logger)?.merge(meta.log);
    if (frame[0] === "ok") {
      req.succeed(frame[2]);
      if (this.queue.length > 0) this.pump();
      return;
    }
    const remote = frame[2];
    if (remote.name === "SerializationError" && remote.code === "BOUGH_POOL_UNSERIALIZABLE") {
      // The worker ran the call but could not send its result back: like
      // unsendable arguments, an error of this call only; the worker is fine.
      req.fail(new SerializationError(remote.message, { cause: new TaskError(remote) }));
      if (this.queue.length > 0) this.pump();
      return;
    }
    if (remote.name === "WorkerResourceLimitError" && remote.code === "BOUGH_POOL_RESOURCE_LIMIT") {
      // A worker server's worker went past its resourceLimits: as for a local
      // worker, fatal for the checkout; the connection closes next.
      const error = new WorkerResourceLimitError(
        remote.message,
        typeof remote.exitCode === "number" ? remote.exitCode : null,
        { cause: new TaskError(remote) },
      );
      // fatal() fails the call with the rest: failing it first would resume
      // its caller, and release the worker, before the checkout is marked.
      this.inflight = req;
      this.fatal(error);
      return;
    }
    this.sawError = true;
    const error = new TaskError(
      remote,
      `${this.pool.name ?? "ANONYMOUS CLIENT"} -> ${req.method ?? "call"}`,
    );
    req.fail(error);
    this.dropQueued(error);
  }

  private dropQueued(error: Error): void {
    const queued = this.queue;
    if (queued.length === 0) return;
    this.queue = [];
    for (const q of queued) {
      this.pool.deadlines.cancel(q.deadline);
      q.fail(error);
    }
  }

  /** Marks the checkout as failed for good; pending calls get `error`. */
  fatal(error: Error): void {
    if (this.fatalError) return;
    this.fatalError = error;
    this.sawError = true;
    const inflight = this.inflight;
    this.inflight = undefined;
    if (inflight) {
      this.pool.deadlines.cancel(inflight.deadline);
      inflight.fail(error);
    }
    this.dropQueued(error);
    if (this.waiting) this.pool.unqueue(this);
  }

  private onTimeout(req: CallRequest): void {
    req.deadline = undefined;
    if (req.done) return;
    const where = this.worker ? "" : " (no worker became free in time)";
    const error = new TimeoutError(
      this.timeout,
      `call ${req.method === null ? "" : `"${req.method}" `}timed out after ${this.timeout} ms${where}`,
    );
    const worker = this.worker;
    this.fatal(error);
    if (worker && !worker.dead) this.pool.kill(worker);
  }

  /** The call's caller was halted while it was pending. */
  *abandon(req: CallRequest): Operation<void> {
    this.pool.deadlines.cancel(req.deadline);
    if (this.inflight === req) {
      const worker = this.worker!;
      this.fatal(
        new WorkerCrashedError("the worker was killed because the call it was running was halted"),
      );
      yield* until(this.pool.kill(worker));
    } else {
      const i = this.queue.indexOf(req);
      if (i >= 0) this.queue.splice(i, 1);
      req.fail(new Error("halted"));
    }
  }

  /** Releases the worker: back to the pool, or killed after an error. */
  *release(): Operation<void> {
    if (this.released) return;
    let hookError: unknown;
    const hook = this.pool.checkoutDone;
    if (hook && this.worker && !this.sawError && !this.inflight && this.queue.length === 0) {
      try {
        yield* hook(this.api());
      } catch (error) {
        hookError = error;
        this.sawError = true;
      }
    }
    this.released = true;
    const gone = this.pool.release(this);
    if (gone) yield* until(gone);
    if (hookError !== undefined) throw hookError;
  }

  call(first: unknown, rest: unknown[]): CallOperation {
    return typeof first === "string"
      ? new CallOperation(this, first, rest)
      : new CallOperation(
          this,
          null,
          first === undefined && rest.length === 0 ? [] : [first, ...rest],
        );
  }

  /** The public face of this checkout. */
  api(): Checkout<any> {
    if (this.apiObject) return this.apiObject;
    const state = this;
    const call = (first: unknown, ...rest: unknown[]) => state.call(first, rest);
    const methods = new Map<string, (...args: unknown[]) => Operation<unknown>>();
    const target = (...args: unknown[]) => new CallOperation(state, null, args);
    const api = new Proxy(target, {
      get(_target, name) {
        if (typeof name !== "string" || name === "then") return undefined;
        let fn = methods.get(name);
        if (!fn) {
          fn = (...args: unknown[]) => new CallOperation(state, name, args);
          methods.set(name, fn);
        }
        return fn;
      },
    });
    this.apiObject = {
      call: call as never,
      api: api as never,
      *fail(error?: Error) {
        const worker = state.worker;
        state.fatal(
          error ?? new CheckoutFatalError(new Error("the checkout was failed on purpose")),
        );
        if (worker && !worker.dead) yield* until(state.pool.kill(worker));
      },
      get worker() {
        return state.worker?.info;
      },
    };
    return this.apiObject;
  }
}

/**
 * One call as an operation (a class, so a call costs no generator function
 * creation and no effection task): queue it, wait for the reply; if the caller
 * is halted while the worker runs it, kill the worker and wait until it is gone.
 *
 * While anybody watches the task tree (the inspector, `bough/otel`), the call
 * is a node of kind `"pool call"` named for its method, under the caller's
 * task; with tracing on, its span's `traceparent` travels in the call frame,
 * so that the worker's `"worker call"` span is its child.
 */
export class CallOperation implements Operation<any> {
  constructor(
    private readonly state: CheckoutState,
    private readonly method: string | null,
    private readonly args: unknown[],
  ) {}

  [Symbol.iterator](): Iterator<any, any, any> {
    // checked when the call starts: an unwatched call is one generator, as before
    const base = this.state.pool.callMeta;
    return labelsWatched() ? this.watched(base) : this.call(base);
  }

  /** The call as a `"pool call"` node under the caller's task, with its trace context in the frame. */
  private *watched(base: CallMeta): Generator<any, any, any> {
    const attributes = base.name === undefined ? undefined : { "bough.pool.name": base.name };
    return yield* withLabelNode(
      labelOf(yield* useScope()),
      this.method ?? "call",
      { kind: "pool call", attributes },
      (node) => {
        // the caller's trace context, only while a tracer watches the task tree
        const traceparent = labelTraceparent(node);
        return this.call(traceparent === undefined ? base : { ...base, traceparent });
      },
    );
  }

  private *call(meta: CallMeta): Generator<any, any, any> {
    const req = this.state.enqueue(this.method, this.args, meta);
    try {
      return yield* req.wait();
    } finally {
      if (!req.done) yield* this.state.abandon(req);
    }
  }
}
