import { request as httpRequest } from "node:http";
import { createScope, type Operation, type Scope, suspend } from "effection";
import { ClockContext } from "../../../src/core/clock.js";
import { SelectorEmptyError } from "../../../src/core/errors.js";
import { useSelector } from "../../../src/core/selector.js";
import { json } from "../../../src/http/reply.js";
import { type Server, useServer } from "../../../src/http/server.js";
import { describeError, type Env, interpret, type Program } from "./program.js";
import { createSteppedClock, type SteppedClock } from "./stepped-clock.js";

/*
 * Runs one program three ways and returns what a caller observes each time:
 * the trace the program wrote, its outcome, and what halting it gave. The
 * reference is the effection task; a selector item and an HTTP handler must
 * give the same result.
 *
 * Every way is driven the same: the program starts at virtual time 0; if it
 * has a `haltAt`, the clock is moved to that time (firing the program's
 * timers up to it) and the caller halts it (task.halt(), item.halt(), the
 * client closing its connection); then the clock runs until nothing is left.
 * The clock moves only while every task waits for it (see stepped-clock.ts),
 * never while a real timer or the server's socket events are still to come.
 */

/** What one run observed. */
export interface Observed {
  trace: string[];
  outcome: string;
}

/**
 * The outcome of a run that never settled. effection 4.1.1 itself leaves a
 * task hanging in one shape of program (a resource halted during its init
 * while a nested generator's `finally` suspends; see docs/guides/core.md); the
 * property skips programs whose reference run is stuck.
 */
export const STUCK = "stuck";

function newEnv(clock: SteppedClock): Env {
  return { clock, trace: [], thrown: new Map() };
}

/**
 * Moves virtual time to the halt (if any), starts `halt` (its cleanup may need
 * the clock to move on), then runs the clock until `settled()`.
 */
async function drive(
  clock: SteppedClock,
  program: Program,
  halt: () => Promise<void> | void,
  settled: () => boolean,
): Promise<boolean> {
  let halting: Promise<void> | undefined;
  if (program.haltAt !== undefined) {
    await clock.advanceTo(program.haltAt);
    halting = Promise.resolve(halt());
  }
  for (let turns = 0; !settled(); turns++) {
    if (turns > 2_000) return false;
    await clock.runUntilIdle();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await halting;
  return true;
}

/**
 * After a halt was asked for, a halted run's outcome is "halted" whatever
 * else it says: a task's join then rejects with the teardown's error, where a
 * selector drops the halted item and reports the error to `halt()` only.
 */
function outcomeOf(outcome: string, halted: boolean): string {
  return halted ? "halted" : outcome;
}

/** What the caller of one run has seen so far. */
interface Run {
  outcome?: string;
  /** A halt was asked for before the run had an outcome. */
  halted: boolean;
  /** The halt (if any) has returned or thrown. */
  haltDone: boolean;
}

/**
 * Drives `run` (see {@link drive}), halting it through `halt` in a task of
 * `scope` at the program's halt time; returns what the caller observed.
 */
async function observe(
  clock: SteppedClock,
  scope: Scope,
  env: Env,
  program: Program,
  run: Run,
  halt: () => Operation<void>,
): Promise<Observed | undefined> {
  const settled = await drive(
    clock,
    program,
    () =>
      haltWith(scope, env, halt, () => {
        run.halted = run.outcome === undefined;
      }).then(() => {
        run.haltDone = true;
      }),
    () => run.outcome !== undefined && (program.haltAt === undefined || run.haltDone),
  );
  if (!settled) return { trace: env.trace, outcome: STUCK };
  return undefined;
}

/** The reference: the program as an effection task, joined by its caller. */
export async function asTask(program: Program): Promise<Observed> {
  const clock = createSteppedClock();
  const env = newEnv(clock);
  const [scope, destroy] = createScope();
  scope.set(ClockContext, clock);
  const run: Run = { halted: false, haltDone: false };
  const task = scope.run(interpret(program, env));
  task.then(
    (value) => {
      run.outcome = `value ${value}`;
    },
    (error) => {
      run.outcome = `error ${describeError(env, error)}`;
    },
  );
  const stuck = await observe(clock, scope, env, program, run, () => task.halt());
  if (stuck) return stuck;
  await destroy();
  return { trace: env.trace, outcome: outcomeOf(run.outcome as string, run.halted) };
}

/** Halts through `halt` in a task of `scope` and writes the result to the trace. */
function haltWith(scope: Scope, env: Env, halt: () => Operation<void>, before: () => void) {
  return new Promise<void>((resolve) => {
    scope.run(function* () {
      before();
      try {
        yield* halt();
        env.trace.push("halt ok");
      } catch (error) {
        env.trace.push(`halt failed ${describeError(env, error)}`);
      }
      resolve();
    });
  });
}

/** The program as an item of a selector, whose `select()` reports it. */
export async function asItem(program: Program): Promise<Observed> {
  const clock = createSteppedClock();
  const env = newEnv(clock);
  const [scope, destroy] = createScope();
  scope.set(ClockContext, clock);
  const run: Run = { halted: false, haltDone: false };
  let halt: () => Operation<void> = () => {
    throw new Error("not started");
  };
  const owner = scope.run(function* () {
    const selector = yield* useSelector<string, number>();
    const item = selector.add(0, interpret(program, env)());
    halt = () => item.halt();
    try {
      for (const { value } of yield* selector.select()) run.outcome = `value ${value}`;
    } catch (error) {
      run.outcome =
        error instanceof SelectorEmptyError ? "error halted" : `error ${describeError(env, error)}`;
    }
    yield* suspend();
  });
  const stuck = await observe(clock, scope, env, program, run, () => halt());
  if (stuck) return stuck;
  await owner.halt();
  await destroy();
  return { trace: env.trace, outcome: outcomeOf(run.outcome as string, run.halted) };
}

/** A server that runs whatever program the next request names, on a virtual clock. */
export interface HandlerBench {
  run(program: Program): Promise<Observed>;
  close(): Promise<void>;
}

/**
 * Starts one bough HTTP server whose handler runs the current program; each
 * `run()` sends one request and observes the response, the server's log and,
 * for a halt, what the server logs after the client left.
 */
export async function startHandlerBench(): Promise<HandlerBench> {
  let current: { program: Program; env: Env; serverSawClose: boolean } | undefined;
  const logged: unknown[] = [];
  let clock = createSteppedClock();
  const [scope, destroy] = createScope();
  // The handler reads the clock per request, so each program gets a fresh one.
  scope.set(ClockContext, {
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    sleepUntil: (time) => clock.sleepUntil(time),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    scope
      .run(function* () {
        const server = yield* useServer({
          handler: function* (ctx) {
            const run = current as { program: Program; env: Env; serverSawClose: boolean };
            // registered before the server's own listener (added once this first step
            // returns), which halts the handler in the same emit
            ctx.response.once("close", () => {
              run.serverSawClose = true;
            });
            return json({ value: yield* interpret(run.program, run.env)() });
          },
          logger: { error: (_message, error) => logged.push(error) },
          shutdownGraceMs: 0,
        });
        resolve(server);
        yield* suspend();
      })
      .catch(reject);
  });

  return {
    async run(program) {
      clock = createSteppedClock();
      const env = newEnv(clock);
      const run = { program, env, serverSawClose: false };
      current = run;
      logged.length = 0;
      let outcome: string | undefined;
      let halted = false;
      const req = httpRequest(`${server.url}/`, { agent: false });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => {
          if (res.statusCode === 200) outcome = `value ${JSON.parse(body).value}`;
          else outcome = `status ${res.statusCode}`;
        });
      });
      req.on("error", () => {
        // the halt closes the connection; a reset is an outcome like any other
        outcome ??= "reset";
      });
      req.end();
      // wait until the handler took its first step (the request reached the server)
      while (env.trace.length === 0 && outcome === undefined && !entered(server)) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const settled = await drive(
        clock,
        program,
        async () => {
          if (outcome !== undefined) return;
          halted = true;
          req.destroy();
          // the server halts the handler on its response's close event: wait for that event
          // itself, not for some turns (the clock must not move before the halt)
          while (!run.serverSawClose) await new Promise<void>((resolve) => setImmediate(resolve));
        },
        () => (outcome !== undefined || halted) && server.active === 0,
      );
      if (!settled) return { trace: env.trace, outcome: STUCK };
      const errors = logged.map((error) => describeError(env, error));
      if (program.haltAt !== undefined) {
        env.trace.push(halted && errors.length > 0 ? `halt failed ${errors.shift()}` : "halt ok");
      }
      let final = halted ? "halted" : (outcome as string);
      if (final === "status 500") final = `error ${errors.shift() ?? "(nothing logged)"}`;
      if (errors.length > 0) final += ` (also logged: ${errors.join("; ")})`;
      return { trace: env.trace, outcome: final };
    },
    async close() {
      await destroy();
    },
  };
}

/** Whether the server has seen the request (it counts it once it suspended). */
function entered(server: Server): boolean {
  return server.active > 0;
}

/**
 * The two differences docs/guides/core.md ("Light routines and effection
 * tasks") allows: returns which one `routine` shows against the reference
 * `task`, or `undefined` if none does. Both are about two failures in one
 * instant; the trace (every step and cleanup) must still be equal.
 *
 * - "concurrent failures": a child fails while the body is already failing;
 *   both runs fail, with one of the errors the program threw each.
 * - "failure while halting": the operation fails by itself while it is being
 *   halted; effection's `task.halt()` then succeeds (the failure goes only to
 *   the task's own promise), where a routine's `halt()` throws it.
 */
export function allowedDifference(task: Observed, routine: Observed): string | undefined {
  const thrown = (s: string) => !s.includes("(not") && !s.endsWith(" halted");
  const t = task.trace;
  const r = routine.trace;
  const sameBeforeLast =
    t.length === r.length && t.every((entry, i) => i === t.length - 1 || entry === r[i]);
  if (!sameBeforeLast) return undefined;
  const lastT = t.at(-1) ?? "";
  const lastR = r.at(-1) ?? "";
  if (
    lastT === lastR &&
    task.outcome.startsWith("error ") &&
    routine.outcome.startsWith("error ") &&
    thrown(task.outcome) &&
    thrown(routine.outcome)
  ) {
    return "concurrent failures";
  }
  if (
    task.outcome === routine.outcome &&
    lastT === "halt ok" &&
    lastR.startsWith("halt failed ") &&
    thrown(lastR)
  ) {
    return "failure while halting";
  }
  return undefined;
}
