import {
  action,
  all,
  call,
  createContext,
  ensure,
  type Operation,
  race,
  resource,
  scoped,
  spawn,
  until,
} from "effection";
import fc from "fast-check";
import { awaitPromise } from "../../../src/core/await-promise.js";
import { isHalted } from "../../../src/core/errors.js";
import { useSelector } from "../../../src/core/selector.js";
import type { SteppedClock } from "./stepped-clock.js";

/*
 * A small language of effection programs, an interpreter that turns one into
 * an Operation that writes what a caller can observe into a trace, and a
 * fast-check arbitrary that generates them. The conformance suite runs each
 * program as an effection task, as a selector item and as an HTTP handler and
 * compares the traces (see run-three-ways.ts).
 */

/** What a program throws: a string (a non-Error throw) or an Error. */
export type Thrown = "string" | "error";

/** One statement of a program. Node ids are assigned by {@link number}. */
export type Node =
  | { t: "sleep"; ms: number }
  /** effection's own `sleep(0)`: a real timer, in no virtual time (see stepped-clock.ts). */
  | { t: "real-sleep" }
  | { t: "until" }
  | { t: "action" }
  | { t: "call-reject"; thrown: Thrown }
  | { t: "call-async" }
  | { t: "throw"; thrown: Thrown }
  | { t: "try"; body: Node[]; catches: boolean; fin: Node[] }
  | { t: "spawn"; body: Node[]; join: boolean }
  | { t: "resource"; body: Node[]; teardown: Node[] }
  | { t: "ensure"; body: Node[] }
  | { t: "scoped"; body: Node[] }
  | { t: "race"; branches: Node[][] }
  | { t: "all"; branches: Node[][] }
  | { t: "context" }
  | { t: "item"; body: Node[] };

/** A program: its body, and when (virtual ms) the caller halts it, if ever. */
export interface Program {
  body: Node[];
  /** Half-integer, so that a halt never ties with a timer of the program. */
  haltAt?: number;
  /**
   * What `until` and `call-reject` wait on a promise with: effection's `until()` and `call()`
   * (the default), or bough's `awaitPromise()`, which must behave the same.
   */
  promises?: "effection" | "bough";
}

/** Where a run writes what it observes. */
export interface Env {
  clock: SteppedClock;
  trace: string[];
  /** Every value thrown by the program, by its message, to check identity. */
  thrown: Map<string, unknown>;
}

const Ctx = createContext<string>("bough.conformance.ctx", "none");

/** Describes a caught value the same way in every mode, identity included. */
export function describeError(env: Env, error: unknown): string {
  if (isHalted(error)) return "halted";
  if (typeof error === "string") {
    return `string ${error}${env.thrown.get(error) === error ? "" : " (not thrown)"}`;
  }
  if (error instanceof Error) {
    const same = env.thrown.get(error.message) === error ? "" : " (not the thrown object)";
    return `${error.name} ${error.message}${same}`;
  }
  return `other ${String(error)}`;
}

/** The operation that runs `program` (its body), writing to `env.trace`. */
export function interpret(program: Program, env: Env): () => Operation<string> {
  let ids = 0;
  const numbered = new Map<Node, number>();
  const visit = (nodes: Node[]) => {
    for (const node of nodes) {
      numbered.set(node, ids++);
      for (const key of ["body", "fin", "teardown"] as const) {
        const inner = (node as Record<string, unknown>)[key];
        if (Array.isArray(inner)) visit(inner as Node[]);
      }
      if ("branches" in node) for (const branch of node.branches) visit(branch);
    }
  };
  visit(program.body);

  const log = (id: number, what: string) => env.trace.push(`${env.clock.now()} n${id} ${what}`);

  const raise = (id: number, thrown: Thrown): unknown => {
    const key = `e${id}`;
    const value = thrown === "string" ? key : new Error(key);
    env.thrown.set(key, value);
    return value;
  };

  function* block(nodes: Node[], name: string): Operation<string> {
    for (const node of nodes) yield* statement(node);
    return name;
  }

  function* statement(node: Node): Operation<void> {
    const id = numbered.get(node) as number;
    switch (node.t) {
      case "sleep":
        yield* env.clock.sleep(node.ms);
        log(id, "slept");
        return;
      case "real-sleep":
        yield* env.clock.realSleep(0);
        log(id, "slept real");
        return;
      case "until": {
        const promise = Promise.resolve(id);
        log(
          id,
          `until ${yield* (program.promises === "bough" ? awaitPromise(promise) : until(promise))}`,
        );
        return;
      }
      case "action": {
        const value = yield* action<number>((resolve) => {
          queueMicrotask(() => resolve(id));
          return () => log(id, "action exit");
        });
        log(id, `action ${value}`);
        return;
      }
      case "call-reject": {
        const value = raise(id, node.thrown);
        if (program.promises === "bough") yield* awaitPromise(Promise.reject(value));
        else yield* call(() => Promise.reject(value));
        return;
      }
      case "call-async":
        log(id, `call ${yield* call(async () => id)}`);
        return;
      case "throw":
        throw raise(id, node.thrown);
      case "try":
        try {
          yield* block(node.body, `b${id}`);
        } catch (error) {
          if (!node.catches) throw error;
          log(id, `caught ${describeError(env, error)}`);
        } finally {
          log(id, "finally");
          yield* block(node.fin, `f${id}`);
          log(id, "finally end");
        }
        return;
      case "spawn": {
        const task = yield* spawn(() => block(node.body, `s${id}`));
        log(id, "spawned");
        if (node.join) log(id, `joined ${yield* task}`);
        return;
      }
      case "resource": {
        const value = yield* resource<string>(function* (provide) {
          try {
            yield* block(node.body, `r${id}`);
            yield* provide(`r${id}`);
          } finally {
            log(id, "teardown");
            yield* block(node.teardown, `t${id}`);
            log(id, "teardown end");
          }
        });
        log(id, `provided ${value}`);
        return;
      }
      case "ensure":
        yield* ensure(function* () {
          log(id, "ensure");
          yield* block(node.body, `e${id}`);
          log(id, "ensure end");
        });
        return;
      case "scoped":
        log(id, `scoped ${yield* scoped(() => block(node.body, `c${id}`))}`);
        return;
      case "race":
        log(id, `race ${yield* race(node.branches.map((b, i) => block(b, `${id}.${i}`)))}`);
        return;
      case "all":
        log(id, `all ${(yield* all(node.branches.map((b, i) => block(b, `${id}.${i}`)))).join()}`);
        return;
      case "context":
        log(id, `context ${yield* Ctx.get()}`);
        yield* Ctx.set(`n${id}`);
        return;
      case "item": {
        const selector = yield* useSelector<string, number>();
        selector.add(id, block(node.body, `i${id}`));
        try {
          for (const { value } of yield* selector.select()) log(id, `item ${value}`);
        } catch (error) {
          log(id, `item failed ${describeError(env, error)}`);
        }
        return;
      }
    }
  }

  return () => block(program.body, "done");
}

/** Human-readable form of a program, printed with a failing case. */
export function show(program: Program): string {
  return JSON.stringify(program);
}

const thrown = fc.constantFrom<Thrown>("string", "error");

/**
 * Random programs: at most `depth` levels of nesting, short blocks, sleeps of
 * 0–3 virtual ms and effection's real `sleep(0)`, and a halt at a random
 * half-integer time (or none).
 */
export function programs(depth = 3): fc.Arbitrary<Program> {
  // effection's real sleep is rarer than the rest: each costs a real millisecond
  const leaf: fc.Arbitrary<Node> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        t: fc.constant("sleep" as const),
        ms: fc.integer({ min: 0, max: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ t: "real-sleep" as const }) },
    { weight: 4, arbitrary: fc.constant({ t: "until" as const }) },
    { weight: 2, arbitrary: fc.constant({ t: "action" as const }) },
    { weight: 2, arbitrary: fc.constant({ t: "call-async" as const }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("call-reject" as const), thrown }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("throw" as const), thrown }) },
    { weight: 2, arbitrary: fc.constant({ t: "context" as const }) },
  );
  const node = (d: number): fc.Arbitrary<Node> => {
    if (d <= 0) return leaf;
    const inner = fc.array(node(d - 1), { maxLength: 3 });
    return fc.oneof(
      { weight: 6, arbitrary: leaf },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constant("try" as const),
          body: inner,
          catches: fc.boolean(),
          fin: inner,
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ t: fc.constant("spawn" as const), body: inner, join: fc.boolean() }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ t: fc.constant("resource" as const), body: inner, teardown: inner }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("ensure" as const), body: inner }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("scoped" as const), body: inner }) },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant("race" as const),
          branches: fc.array(inner, { minLength: 1, maxLength: 3 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          t: fc.constant("all" as const),
          branches: fc.array(inner, { minLength: 1, maxLength: 3 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("item" as const), body: inner }) },
    );
  };
  return fc.record(
    {
      body: fc.array(node(depth), { minLength: 1, maxLength: 4 }),
      haltAt: fc.option(
        fc.integer({ min: 0, max: 12 }).map((n) => n + 0.5),
        { nil: undefined },
      ),
    },
    { requiredKeys: ["body"] },
  );
}
