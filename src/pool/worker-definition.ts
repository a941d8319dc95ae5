/**
 * The types of a worker definition: what `defineWorker` takes, and the call
 * and proxy types a pool infers from it. Apart from `define-worker.ts` so
 * that the worker runtime and the checkout can use them without importing
 * the code that starts a worker.
 */
import type { Operation } from "effection";

/** A function a worker exposes. */
export type WorkerFunction = (...args: any[]) => unknown;
/** A method map a worker exposes. */
export type WorkerMethods = { readonly [method: string]: WorkerFunction };
/** What a worker exposes: one function, or a map of methods (AnyEvent::Task's `interface`). */
export type WorkerInterface = WorkerFunction | WorkerMethods;

/** A worker: its interface and its optional hooks. Made by {@link defineWorker}. */
export interface WorkerDefinition<I extends WorkerInterface = WorkerInterface> {
  /** The function, or the map of methods, that calls run. */
  readonly interface: I;
  /** Runs once in each new worker, before its first call (open files, connect a database…). */
  readonly setup?: () => unknown;
  /** Runs in the worker each time a checkout is released normally (not after an error). */
  readonly checkoutDone?: () => unknown;
}

/** The interface type of a worker definition (or of an interface type itself). */
export type InterfaceOf<W> = [W] extends [WorkerDefinition<infer I>]
  ? I
  : [W] extends [WorkerInterface]
    ? W
    : WorkerMethods;

/** The argument list of a worker function `F` (what a call sends). */
export type CallParams<F> = F extends (...args: infer P) => any ? P : unknown[];
/** What a call of worker function `F` returns to the caller (its awaited result). */
export type CallResult<F> = F extends (...args: any[]) => infer R ? Awaited<R> : unknown;

/**
 * `call` of a checkout (and `run` of a pool), typed from the worker's
 * interface: `(method, ...args)` for a method map, `(...args)` for a function
 * (a string first argument is sent as the method, as AnyEvent::Task does).
 */
export type CallFunction<I> = [I] extends [WorkerFunction]
  ? (...args: CallParams<I>) => Operation<CallResult<I>>
  : <M extends keyof I & string>(
      method: M,
      ...args: CallParams<I[M]>
    ) => Operation<CallResult<I[M]>>;

/**
 * The typed proxy of a checkout: one operation-returning function per method
 * (or, for a function interface, the function itself).
 */
export type WorkerApi<I> = [I] extends [WorkerFunction]
  ? (...args: CallParams<I>) => Operation<CallResult<I>>
  : {
      readonly [M in keyof I & string]: (...args: CallParams<I[M]>) => Operation<CallResult<I[M]>>;
    };
