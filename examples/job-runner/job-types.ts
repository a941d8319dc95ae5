/**
 * The four job types of PAGI's job runner (`JobRunner::Jobs`): their
 * parameter schemas (names, bounds, defaults and descriptions as PAGI has
 * them), served by `GET /api/job-types`; their validation, with PAGI's error
 * texts; and what each one runs, with PAGI's progress messages and result
 * shapes. `prime` computes in the worker pool instead of the event loop.
 */
import type { Operation } from "effection";
import { delay, useClock } from "../../src/index.js";
import type { Pool } from "../../src/pool/index.js";
import { InvalidJobError } from "./errors.js";
import type primeWorker from "./prime-worker.js";

/** The pool the `prime` job computes in. */
export type PrimePool = Pool<(typeof primeWorker)["interface"]>;

/** One parameter of a job type, as served by `GET /api/job-types` (PAGI's fields). */
export interface ParamSchema {
  name: string;
  type: "integer" | "string";
  default: number | string;
  description: string;
  /** Bounds of an integer (inclusive). */
  min?: number;
  max?: number;
  /** The longest string accepted, in characters. */
  max_length?: number;
}

/** What a running job can do besides computing: report progress, use the pool. */
export interface JobContext {
  /** Reports progress (a whole 0–100) and a human message; published at once. */
  progress(percent: number, message: string): Operation<void>;
  /** The worker pool (threads) for CPU-bound work. */
  readonly pool: PrimePool;
}

/** A job type: its schema and its operation. */
export interface JobType {
  name: string;
  description: string;
  params: readonly ParamSchema[];
  /** Runs the job with validated parameters; its return value is the job's `result`. */
  run(params: Record<string, unknown>, ctx: JobContext): Operation<unknown>;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

const countdown: JobType = {
  name: "countdown",
  description: "Count down from N seconds",
  params: [
    {
      name: "seconds",
      type: "integer",
      default: 10,
      min: 1,
      max: 60,
      description: "Number of seconds to count down",
    },
  ],
  *run(params, ctx) {
    const seconds = params.seconds as number;
    const clock = yield* useClock();
    const start = clock.now();
    for (let elapsed = 0; elapsed < seconds; elapsed++) {
      const remaining = seconds - elapsed;
      yield* ctx.progress(
        Math.floor((elapsed / seconds) * 100),
        `${plural(remaining, "second")} remaining...`,
      );
      // scheduled from the start, so the count does not drift
      yield* clock.sleepUntil(start + (elapsed + 1) * 1000);
    }
    yield* ctx.progress(100, "Complete!");
    return { message: "Countdown complete!", duration: seconds };
  },
};

/** How many pieces a `prime` job is cut into (one pool call and one progress event each: PAGI reports every 5 %). */
export const PRIME_CHUNKS = 20;

const prime: JobType = {
  name: "prime",
  description: "Find prime numbers up to N",
  params: [
    {
      name: "limit",
      type: "integer",
      default: 1000,
      min: 10,
      max: 100000,
      description: "Find primes up to this number",
    },
  ],
  *run(params, ctx) {
    const limit = params.limit as number;
    const size = Math.ceil((limit - 1) / PRIME_CHUNKS);
    let count = 0;
    let largest: number | null = null;
    const sample: (number | null)[] = [];
    for (let from = 2; from <= limit; from += size) {
      const to = Math.min(limit, from + size - 1);
      const part = yield* ctx.pool.run("countPrimes", from, to);
      count += part.count;
      if (part.largest > 0) largest = part.largest;
      for (const p of part.first) if (sample.length < 10) sample.push(p);
      const checked = to - 1;
      yield* ctx.progress(
        Math.floor((checked / (limit - 1)) * 100),
        `Checked ${checked} numbers, found ${count} primes...`,
      );
    }
    // PAGI's `@primes[0..9]`: always ten, null past the last prime
    while (sample.length < 10) sample.push(null);
    yield* ctx.progress(100, "Complete!");
    return {
      message: `Found ${count} prime numbers up to ${limit}`,
      prime_count: count,
      largest,
      sample,
    };
  },
};

const fibonacci: JobType = {
  name: "fibonacci",
  description: "Calculate Fibonacci sequence",
  params: [
    {
      name: "count",
      type: "integer",
      default: 20,
      min: 5,
      max: 50,
      description: "Number of Fibonacci numbers to calculate",
    },
  ],
  *run(params, ctx) {
    const count = params.count as number;
    const sequence = [0, 1];
    for (let i = 2; i < count; i++) {
      sequence.push(sequence[i - 1] + sequence[i - 2]);
      yield* ctx.progress(
        Math.floor((i / (count - 1)) * 100),
        `Calculated F(${i}) = ${sequence[i]}`,
      );
      // paced so that a dashboard can watch it, as in PAGI
      yield* delay(100);
    }
    yield* ctx.progress(100, "Complete!");
    return {
      message: `Calculated ${count} Fibonacci numbers`,
      count,
      sequence,
      last: sequence[sequence.length - 1],
    };
  },
};

const echo: JobType = {
  name: "echo",
  description: "Echo a message after delay",
  params: [
    {
      name: "message",
      type: "string",
      default: "Hello, World!",
      max_length: 200,
      description: "Message to echo back",
    },
    {
      name: "delay",
      type: "integer",
      default: 3,
      min: 1,
      max: 30,
      description: "Delay in seconds before echoing",
    },
  ],
  *run(params, ctx) {
    const message = params.message as string;
    const seconds = params.delay as number;
    const clock = yield* useClock();
    const start = clock.now();
    for (let i = 1; i <= seconds; i++) {
      const remaining = seconds - i + 1;
      yield* ctx.progress(
        Math.floor(((i - 1) / seconds) * 100),
        `Echoing in ${plural(remaining, "second")}...`,
      );
      yield* clock.sleepUntil(start + i * 1000);
    }
    yield* ctx.progress(100, "Complete!");
    return { message, echoed: message, delay: seconds };
  },
};

/**
 * The job types by name, in the order `/api/job-types` lists them.
 *
 * @example
 * ```ts
 * JOB_TYPES.countdown.params[0].default; // 10
 * ```
 */
export const JOB_TYPES: Readonly<Record<string, JobType>> = Object.freeze({
  countdown,
  prime,
  fibonacci,
  echo,
});

/** One job type as `GET /api/job-types` and the WebSocket's `job_types` send it. */
export interface JobTypeSchema {
  name: string;
  description: string;
  params: readonly ParamSchema[];
}

const SCHEMA: readonly JobTypeSchema[] = Object.values(JOB_TYPES).map(
  ({ name, description, params }) => ({ name, description, params }),
);

/**
 * The schema served by `GET /api/job-types`: every type with its parameters
 * as an array (PAGI's shape), their defaults and bounds.
 *
 * @example
 * ```ts
 * jobTypeSchema()[0].params[0]; // { name: "seconds", type: "integer", default: 10, min: 1, max: 60, … }
 * ```
 */
export function jobTypeSchema(): readonly JobTypeSchema[] {
  return SCHEMA;
}

function checkParam(schema: ParamSchema, given: unknown): number | string {
  const { name } = schema;
  const field = `params.${name}`;
  const value = given ?? schema.default;
  if (schema.type === "integer") {
    // PAGI: `/^\d+$/` on the value as Perl prints it, so "7" is accepted too
    let n: number | undefined;
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) n = value;
    else if (typeof value === "string" && /^[0-9]{1,15}$/.test(value)) n = Number(value);
    if (n === undefined) throw new InvalidJobError(field, `Parameter '${name}' must be an integer`);
    if (schema.min !== undefined && n < schema.min)
      throw new InvalidJobError(field, `Parameter '${name}' must be at least ${schema.min}`);
    if (schema.max !== undefined && n > schema.max)
      throw new InvalidJobError(field, `Parameter '${name}' must be at most ${schema.max}`);
    return n;
  }
  // PAGI prints a number into its string; anything else is refused here
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== "string")
    throw new InvalidJobError(field, `Parameter '${name}' must be a string`);
  if (text.length === 0) throw new InvalidJobError(field, `Parameter '${name}' cannot be empty`);
  if (schema.max_length !== undefined && [...text].length > schema.max_length) {
    throw new InvalidJobError(field, `Parameter '${name}' is too long (max ${schema.max_length})`);
  }
  return text;
}

/**
 * Checks a job request (`{ job_type, params }`) as PAGI does, in its order and
 * with its messages, and fills in default parameters. Throws
 * {@link InvalidJobError} naming the first bad field. Parameters a type does
 * not declare are dropped (PAGI keeps them in the record).
 *
 * @example
 * ```ts
 * validateJob({ job_type: "countdown", params: {} }); // { job_type: "countdown", params: { seconds: 10 } }
 * validateJob({ job_type: "countdown", params: { seconds: 0 } });
 * // InvalidJobError: Parameter 'seconds' must be at least 1
 * ```
 */
export function validateJob(body: unknown): { job_type: string; params: Record<string, unknown> } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidJobError("body", "Invalid JSON body");
  }
  const { job_type: name, params: given } = body as { job_type?: unknown; params?: unknown };
  if (name === undefined || name === null || name === "" || name === 0 || name === "0") {
    throw new InvalidJobError("job_type", "Missing 'job_type' field");
  }
  if (typeof name !== "string" || !Object.hasOwn(JOB_TYPES, name)) {
    throw new InvalidJobError("job_type", `Unknown job type: ${String(name).slice(0, 100)}`);
  }
  const type = JOB_TYPES[name];
  if (
    given !== undefined &&
    given !== null &&
    (typeof given !== "object" || Array.isArray(given))
  ) {
    throw new InvalidJobError("params", "Parameter 'params' must be an object");
  }
  const input = (given ?? {}) as Record<string, unknown>;
  const params: Record<string, unknown> = {};
  for (const schema of type.params) {
    params[schema.name] = checkParam(
      schema,
      Object.hasOwn(input, schema.name) ? input[schema.name] : undefined,
    );
  }
  return { job_type: name, params };
}
