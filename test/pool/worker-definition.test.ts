import type { Operation } from "effection";
import { describe, expectTypeOf, it } from "vitest";
import type {
  CallFunction,
  CallParams,
  CallResult,
  InterfaceOf,
  WorkerApi,
  WorkerDefinition,
  WorkerMethods,
} from "../../src/pool/worker-definition.js";

// Types only: `npm run typecheck` (tsc over test/) is what checks these; at run
// time each test only has to load.

type Methods = {
  inc(n: number): number;
  hash(text: string, rounds: number): Promise<string>;
};
type Single = (a: number, b: number) => Promise<number>;

describe("worker definition types", () => {
  it("take the interface from a definition, from an interface itself, and fall back to a method map", () => {
    expectTypeOf<InterfaceOf<WorkerDefinition<Methods>>>().toEqualTypeOf<Methods>();
    expectTypeOf<InterfaceOf<Single>>().toEqualTypeOf<Single>();
    expectTypeOf<InterfaceOf<unknown>>().toEqualTypeOf<WorkerMethods>();
  });

  it("give a call's arguments and its awaited result", () => {
    expectTypeOf<CallParams<Methods["hash"]>>().toEqualTypeOf<[text: string, rounds: number]>();
    expectTypeOf<CallResult<Methods["hash"]>>().toEqualTypeOf<string>();
    expectTypeOf<CallResult<Methods["inc"]>>().toEqualTypeOf<number>();
  });

  it("type call() by method for a method map and by arguments for a function", () => {
    const call = (() => {}) as unknown as CallFunction<Methods>;
    expectTypeOf(call<"inc">).parameters.toEqualTypeOf<["inc", n: number]>();
    expectTypeOf(call<"hash">).returns.toEqualTypeOf<Operation<string>>();
    expectTypeOf<CallFunction<Single>>().toEqualTypeOf<
      (a: number, b: number) => Operation<number>
    >();
  });

  it("give the proxy one operation per method, or the function itself", () => {
    expectTypeOf<WorkerApi<Methods>["inc"]>().toEqualTypeOf<(n: number) => Operation<number>>();
    expectTypeOf<WorkerApi<Single>>().toEqualTypeOf<(a: number, b: number) => Operation<number>>();
  });
});
