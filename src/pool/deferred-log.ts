/** Log::Defer levels: lower is more severe. */
export const LogLevel = { error: 10, warn: 20, info: 30, debug: 40 } as const;

/**
 * A deferred log in Log::Defer's format. `start` is wall-clock time in
 * seconds since the epoch; every other time (`end`, each log entry's first
 * element, each timer's start and end) is seconds relative to `start`.
 */
export interface DeferredLogData {
  start: number;
  end?: number;
  /** `[time, level, ...message]` */
  logs: [number, number, ...unknown[]][];
  /** `[name, start, end]`, in start order; a name may appear more than once. */
  timers: [string, number, number | undefined][];
  data?: Record<string, unknown>;
}

/** A running timer of a {@link DeferredLog}. */
export interface LogTimer {
  /** Stops the timer (its end time is recorded). Calling it again does nothing. */
  end(): void;
}

/**
 * Collects log lines, timers and data for one unit of work and hands them
 * over at the end, all at once (Perl's Log::Defer). Pool workers write to one
 * through {@link log}; the entries come back with each reply and are merged
 * into the checkout's `logger` with their times shifted onto its timeline.
 */
export interface DeferredLog {
  error(...message: unknown[]): void;
  warn(...message: unknown[]): void;
  info(...message: unknown[]): void;
  debug(...message: unknown[]): void;
  /** Starts a named timer. */
  timer(name: string): LogTimer;
  /** Free-form data attached to the log (merged shallowly). */
  readonly data: Record<string, unknown>;
  /** Merges another deferred log, shifting its times onto this log's timeline. */
  merge(other: DeferredLogData): void;
  /** Records the end time (now, or a later call) and returns the data. */
  end(): DeferredLogData;
  /** The log as plain data (Log::Defer format). */
  toJSON(): DeferredLogData;
  /** True when nothing was logged, timed or attached. */
  readonly isEmpty: boolean;
}

/** Wall-clock milliseconds since the epoch with sub-millisecond resolution. */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Creates a {@link DeferredLog} whose timeline starts now.
 *
 * @example
 * ```ts
 * const logger = createDeferredLog();
 * logger.info("hashing a password in a worker");
 * const checkout = yield* pool.checkout({ logger });
 * yield* checkout.call("hash", "secret"); // the worker's log.info(...) lines land in logger
 * console.log(JSON.stringify(logger.end()));
 * ```
 */
export function createDeferredLog(options: { now?: () => number } = {}): DeferredLog {
  const now = options.now ?? epochMs;
  const startMs = now();
  const start = startMs / 1000;
  const logs: DeferredLogData["logs"] = [];
  const timers: DeferredLogData["timers"] = [];
  const data: Record<string, unknown> = {};
  let end: number | undefined;
  const rel = () => (now() - startMs) / 1000;
  const add = (level: number, message: unknown[]) => {
    logs.push([rel(), level, ...message]);
  };
  return {
    error: (...m) => add(LogLevel.error, m),
    warn: (...m) => add(LogLevel.warn, m),
    info: (...m) => add(LogLevel.info, m),
    debug: (...m) => add(LogLevel.debug, m),
    timer(name) {
      const entry: [string, number, number | undefined] = [name, rel(), undefined];
      timers.push(entry);
      return {
        end() {
          if (entry[2] === undefined) entry[2] = rel();
        },
      };
    },
    data,
    merge(other) {
      const shift = other.start - start;
      for (const [time, level, ...message] of other.logs) {
        logs.push([time + shift, level, ...message]);
      }
      for (const [name, s, e] of other.timers) {
        timers.push([name, s + shift, e === undefined ? undefined : e + shift]);
      }
      timers.sort((a, b) => a[1] - b[1]);
      if (other.data) Object.assign(data, other.data);
      logs.sort((a, b) => a[0] - b[0]);
    },
    end() {
      end ??= rel();
      return this.toJSON();
    },
    toJSON() {
      const out: DeferredLogData = { start, logs, timers };
      if (end !== undefined) out.end = end;
      if (Object.keys(data).length > 0) out.data = data;
      return out;
    },
    get isEmpty() {
      return logs.length === 0 && timers.length === 0 && Object.keys(data).length === 0;
    },
  };
}
