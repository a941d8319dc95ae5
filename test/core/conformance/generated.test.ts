import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Program, programs, show } from "./program.js";
import {
  allowedDifference,
  asItem,
  asTask,
  type HandlerBench,
  type Observed,
  STUCK,
  startHandlerBench,
} from "./run-three-ways.js";

/**
 * Random programs, each run as an effection task and as a light routine (a
 * selector item, an HTTP handler): what the caller observes must be equal.
 * `BOUGH_CONFORMANCE_RUNS` sets the count (default 2,000; `npm run fuzz` runs
 * 100,000), `BOUGH_CONFORMANCE_SEED` replays a failure: fast-check prints the
 * seed and the shrunk program.
 *
 * With light routines off (`BOUGH_LIGHT_ROUTINES=off`, the fallback for an
 * effection whose internals fail the self-check), items run as real tasks
 * that take a few more scheduler turns: then the value, the failure, the halt
 * and every step with its virtual time must be equal, but not the order of
 * steps within one instant.
 */
const runs = Number(process.env.BOUGH_CONFORMANCE_RUNS ?? 2000);
// npm test replays one fixed set of programs (the same every run, so CI is repeatable);
// npm run fuzz (more runs) draws new ones each time
const seed = process.env.BOUGH_CONFORMANCE_SEED
  ? Number(process.env.BOUGH_CONFORMANCE_SEED)
  : runs <= 2000
    ? 20261202
    : undefined;

describe("generated programs", () => {
  let bench: HandlerBench;
  beforeAll(async () => {
    bench = await startHandlerBench();
  });
  afterAll(async () => {
    await bench.close();
  });

  it("behave the same as a task, a selector item and an HTTP handler", async () => {
    const allowedSeen = new Map<string, number>();
    const check = (program: Program, way: string, task: Observed, observed: Observed) => {
      const same = JSON.stringify(observed) === JSON.stringify(task);
      const allowed = same ? undefined : allowedDifference(task, observed);
      if (allowed) allowedSeen.set(allowed, (allowedSeen.get(allowed) ?? 0) + 1);
      else expect(observed, `as ${way}: ${show(program)}`).toEqual(task);
    };
    await fc.assert(
      fc.asyncProperty(programs(), async (program) => {
        const task = await asTask(program);
        fc.pre(task.outcome !== STUCK); // effection's own hang, see run-three-ways.ts
        check(program, "a selector item", task, await asItem(program));
        check(program, "an HTTP handler", task, await bench.run(program));
      }),
      { numRuns: runs, seed },
    );
    // the documented differences stay rare: at most 1% of the runs
    const total = [...allowedSeen.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(Math.ceil(runs * 2 * 0.01));
  }, 1_800_000);

  // Programs that once diverged, kept as regressions (each found by the fuzzer).
  const regressions: Program[] = [
    // A child fails while `scoped()` halts a resource whose teardown then throws, and the run
    // is halted meanwhile: a task's wrappers drop the teardown's error for the child's.
    {
      body: [
        {
          t: "scoped",
          body: [
            {
              t: "spawn",
              body: [
                {
                  t: "try",
                  body: [{ t: "call-reject", thrown: "string" }],
                  catches: false,
                  fin: [],
                },
              ],
              join: false,
            },
            {
              t: "resource",
              body: [],
              teardown: [
                {
                  t: "try",
                  body: [
                    { t: "sleep", ms: 1 },
                    { t: "throw", thrown: "string" },
                  ],
                  catches: false,
                  fin: [],
                },
              ],
            },
          ],
        },
      ],
      haltAt: 0.5,
    },
    // The body fails (a resource inside all() throws) while a child it spawned is about to fail
    // too, and the run is halted while its ensure() waits: the body's failure is what a task's
    // halt reports, not the child's, raised later while the task halts its children.
    {
      body: [
        {
          t: "try",
          body: [
            {
              t: "spawn",
              body: [
                { t: "sleep", ms: 0 },
                { t: "try", body: [{ t: "throw", thrown: "string" }], catches: false, fin: [] },
              ],
              join: false,
            },
            {
              t: "all",
              branches: [
                [{ t: "resource", body: [{ t: "throw", thrown: "string" }], teardown: [] }],
              ],
            },
          ],
          catches: false,
          fin: [{ t: "ensure", body: [{ t: "ensure", body: [{ t: "sleep", ms: 1 }] }] }],
        },
        { t: "ensure", body: [] },
      ],
      haltAt: 0.5,
    },
    // The same, where the body fails because a child raised (it unwinds, it did not throw): then
    // the last failure a child raises while the task halts its children is the one its halt reports.
    {
      body: [
        {
          t: "try",
          body: [
            {
              t: "spawn",
              body: [{ t: "race", branches: [[{ t: "throw", thrown: "string" }], []] }],
              join: false,
            },
          ],
          catches: false,
          fin: [],
        },
        {
          t: "spawn",
          body: [
            {
              t: "ensure",
              body: [{ t: "ensure", body: [{ t: "call-reject", thrown: "string" }] }],
            },
          ],
          join: false,
        },
        {
          t: "ensure",
          body: [{ t: "try", body: [], catches: false, fin: [{ t: "sleep", ms: 1 }] }],
        },
        { t: "spawn", body: [{ t: "item", body: [{ t: "sleep", ms: 0 }] }], join: true },
      ],
      haltAt: 0.5,
    },
  ];

  it("behave the same on programs that once diverged", async () => {
    for (const program of regressions) {
      const task = await asTask(program);
      expect(await asItem(program), `as a selector item: ${show(program)}`).toEqual(task);
      expect(await bench.run(program), `as an HTTP handler: ${show(program)}`).toEqual(task);
    }
  });
});
