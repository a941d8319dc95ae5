/**
 * The four job types (seed 002): their parameter schemas, served by
 * `GET /api/job-types`, their validation, and what each one runs.
 */
import type { Operation } from "effection";
import { delay, useClock } from "../../src/index.js";
import type { Pool } from "../../src/pool/index.js";
import { InvalidJobError } from "./errors.js";
import type primeWorker from "./prime-worker.js";

/** The pool the `prime` job computes in. */
export type PrimePool = Pool<(typeof primeWorker)["interface"]>;

/** One parameter of a job type, as served by `GET /api/job-types`. */
export interface ParamSchema {
  type: "integer" | "number" | "string";
  description: string;
  default: number | string;
  /** Bounds of a number (inclusive). */
  min?: number;
  max?: number;
  /** The longest string accepted. */
  maxLength?: number;
  /** The unit shown next to the field, if any. */
  unit?: string;
}

/** What a running job can do besides computing: report progress, use the pool. */
export interface JobContext {
  /** Reports progress (0–100, clamped) and a human message; published at once. */
  progress(percent: number, message: string): Operation<void>;
  /** The worker pool (threads) for CPU-bound work. */
  readonly pool: PrimePool;
}

/** A job type: its schema and its operation. */
export interface JobType {
  name: string;
  description: string;
  params: Record<string, ParamSchema>;
  /** Runs the job with validated parameters; its return value is the job's `result`. */
  run(params: Record<string, unknown>, ctx: JobContext): Operation<unknown>;
}

const countdown: JobType = {
  name: "countdown",
  description: "Counts down from N seconds, reporting progress every second.",
  params: {
    seconds: {
      type: "integer",
      description: "How long to count down",
      default: 10,
      min: 1,
      max: 300,
      unit: "s",
    },
  },
  *run(params, ctx) {
    const seconds = params.seconds as number;
    const clock = yield* useClock();
    const start = clock.now();
    for (let i = 0; i < seconds; i++) {
      const left = seconds - i;
      yield* ctx.progress(
        (i / seconds) * 100,
        `${left} ${left === 1 ? "second" : "seconds"} remaining`,
      );
      // scheduled from the start, so the count does not drift
      yield* clock.sleepUntil(start + (i + 1) * 1000);
    }
    return { seconds };
  },
};

/** How many pieces a `prime` job is cut into (one pool call and one progress event each). */
export const PRIME_CHUNKS = 100;

const prime: JobType = {
  name: "prime",
  description: "Finds the prime numbers up to N in the worker pool, in chunks, with progress.",
  params: {
    limit: {
      type: "integer",
      description: "Largest number to test",
      default: 100_000,
      min: 2,
      max: 10_000_000,
    },
  },
  *run(params, ctx) {
    const limit = params.limit as number;
    const size = Math.max(1000, Math.ceil(limit / PRIME_CHUNKS));
    let count = 0;
    let largest = 0;
    for (let from = 1; from <= limit; from += size) {
      const to = Math.min(limit, from + size - 1);
      const part = yield* ctx.pool.run("countPrimes", from, to);
      count += part.count;
      if (part.largest > 0) largest = part.largest;
      yield* ctx.progress((to / limit) * 100, `checked up to ${to}: ${count} primes`);
    }
    return { count, largest };
  },
};

/** How many terms of a `fibonacci` result are sent in `result.sequence` (the rest is summarised). */
export const FIBONACCI_SHOWN = 100;

const fibonacci: JobType = {
  name: "fibonacci",
  description: "Calculates the Fibonacci sequence up to N terms with BigInt (decimal strings).",
  params: {
    terms: {
      type: "integer",
      description: "How many terms",
      default: 100,
      min: 1,
      max: 10_000,
    },
  },
  *run(params, ctx) {
    const terms = params.terms as number;
    const steps = Math.min(terms, 20);
    const perStep = Math.ceil(terms / steps);
    const shown: string[] = [];
    let a = 0n;
    let b = 1n;
    let n = 0;
    while (n < terms) {
      const end = Math.min(terms, n + perStep);
      for (; n < end; n++) {
        if (n < FIBONACCI_SHOWN) shown.push(a.toString());
        if (n < terms - 1) [a, b] = [b, a + b];
      }
      yield* ctx.progress((n / terms) * 100, `${n} of ${terms} terms`);
      // paced so that a dashboard can watch the terms grow
      if (n < terms) yield* delay(50);
    }
    const last = a.toString();
    return {
      terms,
      last,
      digits: last.length,
      sequence: shown,
      truncated: terms > FIBONACCI_SHOWN,
    };
  },
};

const echo: JobType = {
  name: "echo",
  description: "Echoes a message back after a delay.",
  params: {
    message: {
      type: "string",
      description: "The message to echo",
      default: "Hello, bough!",
      maxLength: 10_000,
    },
    delay: {
      type: "number",
      description: "Seconds to wait before echoing",
      default: 1,
      min: 0,
      max: 60,
      unit: "s",
    },
  },
  *run(params, ctx) {
    const seconds = params.delay as number;
    if (seconds > 0) {
      yield* ctx.progress(0, `echoing in ${seconds} s`);
      yield* delay(seconds * 1000);
    }
    return { message: params.message };
  },
};

/**
 * The job types by name, in the order the dashboard shows them.
 *
 * @example
 * ```ts
 * JOB_TYPES.countdown.params.seconds.default; // 10
 * ```
 */
export const JOB_TYPES: Readonly<Record<string, JobType>> = Object.freeze({
  countdown,
  prime,
  fibonacci,
  echo,
});

/**
 * The schema served by `GET /api/job-types`: every type with its parameters,
 * their defaults and bounds.
 *
 * @example
 * ```ts
 * jobTypeSchema()[0]; // { name: "countdown", description: "…", params: { seconds: { … } } }
 * ```
 */
export function jobTypeSchema(): {
  name: string;
  description: string;
  params: Record<string, ParamSchema>;
}[] {
  return Object.values(JOB_TYPES).map(({ name, description, params }) => ({
    name,
    description,
    params,
  }));
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function checkParam(field: string, schema: ParamSchema, value: unknown): unknown {
  if (schema.type === "string") {
    if (typeof value !== "string")
      throw new InvalidJobError(field, `must be a string, got ${describe(value)}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      throw new InvalidJobError(
        field,
        `must be at most ${schema.maxLength} characters, got ${value.length}`,
      );
    }
    return value;
  }
  const kind = schema.type === "integer" ? "an integer" : "a number";
  const range = `${kind} from ${schema.min} to ${schema.max}`;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidJobError(field, `must be ${range}, got ${describe(value)}`);
  }
  if (schema.type === "integer" && !Number.isInteger(value)) {
    throw new InvalidJobError(field, `must be ${range}, got ${describe(value)}`);
  }
  if (
    (schema.min !== undefined && value < schema.min) ||
    (schema.max !== undefined && value > schema.max)
  ) {
    throw new InvalidJobError(field, `must be ${range}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Checks a job request (`{ job_type, params }`) and fills in default
 * parameters. Throws {@link InvalidJobError} naming the first bad field.
 *
 * @example
 * ```ts
 * validateJob({ job_type: "countdown", params: {} }); // { job_type: "countdown", params: { seconds: 10 } }
 * validateJob({ job_type: "countdown", params: { seconds: 0 } });
 * // InvalidJobError: params.seconds must be an integer from 1 to 300, got 0
 * ```
 */
export function validateJob(body: unknown): { job_type: string; params: Record<string, unknown> } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidJobError(
      "body",
      `must be a JSON object with job_type and params, got ${describe(body)}`,
    );
  }
  const { job_type: name, params: given } = body as { job_type?: unknown; params?: unknown };
  const names = Object.keys(JOB_TYPES);
  if (typeof name !== "string" || !Object.hasOwn(JOB_TYPES, name)) {
    throw new InvalidJobError(
      "job_type",
      `must be one of ${names.join(", ")}, got ${describe(name)}`,
    );
  }
  const type = JOB_TYPES[name];
  if (
    given !== undefined &&
    given !== null &&
    (typeof given !== "object" || Array.isArray(given))
  ) {
    throw new InvalidJobError("params", `must be an object, got ${describe(given)}`);
  }
  const input = (given ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(type.params, key)) {
      const known = Object.keys(type.params).join(", ");
      throw new InvalidJobError(
        `params.${key}`,
        `is not a parameter of ${name} (expected: ${known})`,
      );
    }
  }
  const params: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(type.params)) {
    const value = input[key];
    params[key] = value === undefined ? schema.default : checkParam(`params.${key}`, schema, value);
  }
  return { job_type: name, params };
}
