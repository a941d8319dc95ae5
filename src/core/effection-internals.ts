import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  createContext,
  createScope,
  Err,
  type Operation,
  type Scope,
  suspend,
  type Task,
  unbox,
  useScope,
} from "effection";
import { api } from "effection/experimental";
import { once } from "./once.js";

/*
 * The one door to effection's undocumented parts. Light routines (see
 * light-routine.ts) drive operations the way effection's own coroutines do,
 * and for that they need six things effection does not document:
 *
 * 1. The reducer: effection steps every coroutine through one priority queue,
 *    found in the context named "@effection/reducer" (esm/lib/reducer.js).
 *    Scheduling a light routine there, at the priority its task would have
 *    (the parent scope's "@effection/scope.generation" + 1), gives it exactly
 *    the order of a task's steps. The reducer reads `routine.scope` only to ask
 *    for those two contexts and "@effection/coroutine.settle".
 * 2. The error boundary: a child task that fails calls `raise(error)` on the
 *    context named "@effection/error-boundary" of its owner scope
 *    (esm/lib/trap.js; it was "@effection/boundary" in 4.0).
 * 3. `api.Scope` from "effection/experimental" (4.1+): creates and destroys a
 *    child scope the way `scoped()` does, honouring scope middleware; a
 *    `destroy` middleware on a light routine's scope (`scope.around`) halts
 *    the routine first when its parent destroys the scope.
 * 4. The halt error: effection halts a task with `new Error("halted")`.
 * 5. `unbox()` and `Err()`: a non-Error throw travels as a ThrownValueError
 *    and `unbox` gives back the thrown value.
 * 6. The task group and scope destructors: `spawn` registers a task in the
 *    group found in "@effection/task-group" (esm/lib/task-group.js), which
 *    halts each member through its `halt()` alone, and as a destructor of its
 *    owner scope (`scope.ensure`, not in the public type). `adoptChild` makes
 *    a selector a child that way, without a task.
 *
 * `selfCheck()` verifies all six at load, against the effection that bough
 * actually imports. When it fails (another effection version), light routines
 * are switched off: selector items and HTTP handlers that suspend run as real
 * effection tasks instead, slower but correct, and one warning line names the
 * effection version.
 */

/** The effection versions whose internals this file was written against. */
export const TESTED_WITH = "4.1.1";

/** The part of effection's reducer that a light routine uses. */
export interface Reducer {
  schedule(routine: ReducerEntry): void;
}

/** What effection's reducer reads of a coroutine it steps. */
export interface ReducerEntry {
  readonly data: { enqueued: boolean };
  readonly scope: { expect(context: { name: string }): unknown };
  step(): IteratorResult<unknown, unknown>;
  perform(effect: unknown): void;
  settle(outcome: { exists: boolean; value?: unknown }): void;
}

/**
 * The reducer's context (esm/lib/reducer.js `ReducerContext`). Its value is
 * the context's default (one reducer for the whole process), which is held by
 * effection's own context object and cannot be addressed by name; so it is
 * caught once: a probe scope's middleware wraps `expect` on the scope of a
 * throw-away task, and effection's `createCoroutine()` asks that scope for
 * the reducer.
 */
const ReducerContext: { name: string; defaultValue?: unknown } | undefined = (() => {
  let caught: { name: string; defaultValue?: unknown } | undefined;
  try {
    const [probe, destroy] = createScope();
    probe.around(api.Scope, {
      create(args, next) {
        const created = next(...args);
        const [child] = created;
        const expect = child.expect.bind(child);
        child.expect = ((context: { name: string; defaultValue?: unknown }) => {
          if (context?.name === "@effection/reducer") caught ??= context;
          return expect(context as never);
        }) as typeof child.expect;
        return created;
      },
    });
    probe.run(function* () {}).then(undefined, () => {});
    destroy().then(undefined, () => {});
  } catch {
    // the self-check reports that no reducer was found
  }
  return caught;
})();

/** A scope's depth: lower is stepped first (esm/lib/contexts.js `Priority`). */
const PriorityContext = createContext<number>("@effection/scope.generation", 0);

/** The name of the settle hook the reducer asks a routine's scope for. */
export const SETTLE_CONTEXT = "@effection/coroutine.settle";
/** The name of the priority context the reducer asks a routine's scope for. */
export const PRIORITY_CONTEXT = "@effection/scope.generation";

/**
 * effection's error boundary (esm/lib/trap.js `ErrorContext`). A child task
 * that fails calls `raise(error)` on the boundary of its owner scope.
 */
export const ErrorBoundary = createContext<{ raise(error: unknown): void }>(
  "@effection/error-boundary",
);

/** A task's group of spawned children (esm/lib/task-group.js). */
export interface TaskGroup {
  tasks: Set<Task<unknown>>;
  halt(): Operation<void>;
}

/**
 * Where `spawn` registers a new task (esm/lib/task-group.js
 * `TaskGroupContext`): a task halts its group, newest first, when its body
 * ends and before its scope is destroyed.
 */
export const TaskGroupContext = createContext<TaskGroup>("@effection/task-group");

/**
 * A group as effection's task keeps one: `halt()` halts every task in it,
 * newest first (and those spawned meanwhile), and then throws the last
 * failure, if any (as esm/lib/task-group.js `TaskGroup.halt`).
 */
export function createTaskGroup(): TaskGroup {
  const tasks = new Set<Task<unknown>>();
  return {
    tasks,
    *halt() {
      let failure: { error: unknown } | undefined;
      while (tasks.size > 0) {
        const current = [...tasks];
        tasks.clear();
        for (let i = current.length - 1; i >= 0; i--) {
          try {
            yield* current[i].halt();
          } catch (error) {
            failure = { error };
          }
        }
      }
      if (failure) throw failure.error;
    },
  };
}

/** What a scope's destructor list accepts (esm/lib/scope-internal.js `ensure`). */
interface Destructible {
  ensure(destructor: () => Operation<void>): () => void;
}

/**
 * Makes `halt` a child of the coroutine running in `scope`, the way `spawn`
 * makes a task one (esm/lib/task.js `createTask`), without a task: it joins
 * the coroutine's task group, so that it is halted newest first together with
 * the spawned tasks when the coroutine's body ends, and it becomes a destructor
 * of `scope` (for a scope that `scoped()` made, which is destroyed without a
 * group halt). `halt` runs once, whichever asks first; both wait for it, and a
 * failure it throws fails the halt, as a failing cleanup fails a task's halt.
 * Costs two set entries where a resource task costs a scope, a coroutine, a
 * future and a trap.
 */
export function adoptChild(scope: Scope, halt: () => Operation<void>): void {
  const group = scope.expect(TaskGroupContext);
  const child = new AdoptedChild(halt, group);
  group.tasks.add(child as unknown as Task<unknown>);
  child.unbind = (scope as unknown as Destructible).ensure(child.halt);
}

/** See {@link adoptChild}. */
class AdoptedChild {
  unbind: () => void = () => {};

  constructor(
    private readonly close: () => Operation<void>,
    private readonly group: TaskGroup,
  ) {}

  /** A property, not a method: the task group and the destructor list call it unbound. */
  readonly halt = once(() => this.closeAndLeave());

  private *closeAndLeave(): Operation<void> {
    try {
      yield* this.close();
    } finally {
      this.unbind();
      this.group.tasks.delete(this as unknown as Task<unknown>);
    }
  }
}

/** The reducer that steps the coroutines of `scope`. */
export function reducerOf(scope: Scope): Reducer {
  return scope.expect(ReducerContext as never) as Reducer;
}

/** The priority a task created in `scope` runs at. */
export function childPriority(scope: Scope): number {
  return scope.expect(PriorityContext) + 1;
}

/** The priority of the coroutine whose scope is `scope` (it changes inside `scoped()`). */
export function priorityOf(scope: Scope): number {
  return scope.expect(PriorityContext);
}

/** Creates a child scope of `parent`, as `scoped()` does; returns it and its destroyer. */
export function createChildScope(parent: Scope): [Scope, () => Operation<void>] {
  return api.Scope.invoke(parent, "create", [parent]);
}

/**
 * Runs `before()` ahead of any destruction of `scope` that `outside()` says
 * its owner did not start: its parent scope ending (a `scoped()` body's end
 * destroys the scopes made in it, newest first, without halting whoever made
 * them). A light routine uses it to be halted first, as a task would be: its
 * body's cleanup, then its children, then its scope. Scope middleware
 * (`api.Scope`, effection 4.1+), installed on `scope` only: it sees its
 * descendants' destructions too and passes them on.
 */
export function beforeOutsideDestroy(
  scope: Scope,
  outside: () => boolean,
  before: () => Operation<void>,
): void {
  scope.around(api.Scope, {
    *destroy(args: [Scope], next: (scope: Scope) => Operation<void>): Operation<void> {
      if (args[0] === scope && outside()) yield* before();
      return yield* next(...args);
    },
  } as never);
}

/** Whether `error` is the error effection halts a task with. */
export function isHaltError(error: unknown): boolean {
  return error instanceof Error && error.message === "halted" && error.name === "Error";
}

/** `unbox`'s view of an error: the value originally thrown. */
export function thrownValue(error: Error): unknown {
  try {
    unbox(Err(error));
  } catch (thrown) {
    return thrown;
  }
  return error;
}

/**
 * Checks, against the effection bough imports, everything this file relies
 * on. Returns `undefined` when all holds, else what failed. Runs
 * synchronously (effection steps synchronously when no step is running).
 */
export function selfCheck(): string | undefined {
  try {
    if (typeof api?.Scope?.invoke !== "function") return "effection/experimental has no api.Scope";
    const [scope, destroy] = createScope();
    try {
      if (typeof reducerOf(scope)?.schedule !== "function")
        return "no reducer in @effection/reducer";
      if (typeof scope.expect(PriorityContext) !== "number") return "no scope priority";
      const [child, disposeChild] = createChildScope(scope);
      if (childPriority(scope) !== child.expect(PriorityContext)) {
        return "a child scope's priority is not its parent's + 1";
      }
      let raised: unknown;
      child.set(ErrorBoundary, { raise: (error: unknown) => (raised = error) });
      const boom = new Error("bough self-check");
      const task = child.run(function* () {
        throw boom;
      });
      task.then(undefined, () => {});
      if (raised !== boom) return "a failing child does not raise on @effection/error-boundary";
      const group = createTaskGroup();
      child.set(TaskGroupContext, group);
      const member = child.run(suspend);
      member.then(undefined, () => {});
      const registered = group.tasks.has(member as Task<unknown>);
      member.halt().then(undefined, () => {});
      if (!registered) return "spawn does not register in @effection/task-group";
      if (typeof (child as unknown as Destructible).ensure !== "function")
        return "a scope has no ensure()";
      if (typeof child.around !== "function") return "a scope has no around() (api middleware)";
      let adoptedHalted = false;
      const adopter = child.run(function* () {
        adoptChild(yield* useScope(), function* () {
          adoptedHalted = true;
        });
        yield* suspend();
      });
      adopter.halt().then(undefined, () => {});
      if (!adoptedHalted) return "a task's group does not halt an adopted child";
      if (thrownValue((Err("x" as unknown as Error) as { error: Error }).error) !== "x") {
        return "unbox(Err(value)) does not give back a non-Error value";
      }
      if (typeof disposeChild !== "function") return "api.Scope.create gives no destroyer";
    } finally {
      destroy().then(undefined, () => {});
    }
  } catch (error) {
    return `the check threw: ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}

/**
 * Whether light routines are on: the self-check passed and the environment
 * did not switch them off (`BOUGH_LIGHT_ROUTINES=off`, which the test suite
 * uses to run the conformance suite in fallback mode too).
 */
export const lightRoutines: boolean = (() => {
  if (typeof process !== "undefined" && process.env?.BOUGH_LIGHT_ROUTINES === "off") return false;
  const failure = selfCheck();
  if (failure === undefined) return true;
  console.warn(
    `bough: light routines off with effection ${installedVersion()} (${failure}); selector items and HTTP handlers run as effection tasks instead (correct, slower). bough's light routines are checked against effection ${TESTED_WITH}.`,
  );
  return false;
})();

/** The version of the effection package bough resolves, or "(unknown version)". */
export function installedVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    // script/mod.js or esm/mod.js: the package root is one folder up
    const main = require.resolve("effection");
    const file = join(dirname(dirname(main)), "package.json");
    return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  } catch {
    return "(unknown version)";
  }
}
