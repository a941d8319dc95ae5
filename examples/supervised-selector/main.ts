/**
 * A small tour of bough's core: one selector multiplexes a ticker, a
 * heartbeat and a supervised flaky job; a failing job is restarted with
 * backoff; after three seconds everything is halted and every `finally` runs.
 *
 *   npx tsx examples/supervised-selector/main.ts [--seconds 3] (--help)
 */
import { ensure, main, type Operation, sleep } from "effection";
import { delay, label, labelTree, supervise, useSelector, withTimeout } from "../../src/index.js";
import { defineTool, intFlag, parseFlags } from "../cli.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/supervised-selector/main.ts [--seconds N]

One selector multiplexes a ticker, a heartbeat and a supervised flaky job; after N seconds
everything is halted and every finally block runs.

  --seconds N   how long to run (default 3)
  -h, --help    print this help`,
);
const values = parseFlags(tool, { seconds: { type: "string", default: "3" } });
const seconds = intFlag(tool, "seconds", values.seconds, 1);
const t0 = Date.now();
const log = (message: string) =>
  console.log(`${String(Date.now() - t0).padStart(5)} ms  ${message}`);

function* every(name: string, ms: number, n: number): Operation<string> {
  yield* delay(ms);
  return `${name} #${n}`;
}

let attempts = 0;
function* flakyJob(): Operation<string> {
  attempts++;
  yield* delay(200);
  if (attempts < 3) throw new Error(`flaky job failed (attempt ${attempts})`);
  return `flaky job succeeded on attempt ${attempts}`;
}

await main(function* () {
  yield* label("demo");
  // registered first, so it runs last: after every item's finally block
  yield* ensure(() => log("done: nothing left running"));
  const selector = yield* useSelector<string, string>();

  let ticks = 0;
  let beats = 0;
  selector.addGenerator("tick", () => every("tick", 500, ++ticks));
  selector.addGenerator("beat", () => every("beat", 1250, ++beats));
  selector.add(
    "job",
    supervise(flakyJob, {
      backoff: { initialMs: 100, jitter: 0 },
      intensity: { maxRestarts: 5, withinMs: 10_000 },
      onRestart: (error, n) => log(`restart ${n} after: ${(error as Error).message}`),
    }),
  );
  selector.add(
    "cleanup-demo",
    (function* () {
      try {
        yield* sleep(60_000);
        return "never";
      } finally {
        log("cleanup-demo: finally block ran on halt");
      }
    })(),
  );

  try {
    yield* withTimeout(
      seconds * 1000,
      (function* () {
        for (;;) {
          for (const { data, value } of yield* selector.select()) log(`${data}: ${value}`);
        }
      })(),
    );
  } catch (error) {
    log(`${(error as Error).name} after ${seconds} s: halting the selector`);
  }
  log(`live labelled tasks: ${JSON.stringify(labelTree().children.map((c) => c.name))}`);
});
