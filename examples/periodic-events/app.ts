/**
 * The periodic-events app (seed 000) as a resource: a ticker and a heartbeat
 * on one selector owned by the server's lifespan, a hub per source, and three
 * routes. `main.ts` parses flags and runs it; tests start it in-process.
 */
import { each, type Operation, resource, spawn } from "effection";
import { createRouter, json, longPoll, ndjson, useServer } from "../../src/http/index.js";
import { type Broker, type Hub, useHub } from "../../src/hub/index.js";
import { label, useSelector } from "../../src/index.js";
import { ticker } from "../../src/sources/index.js";

/** Options of {@link usePeriodicEvents}. */
export interface PeriodicEventsOptions {
  port?: number;
  host?: string;
  tickMs?: number;
  beatMs?: number;
  /** Throw from the ticker at this tick (to show that a failing source is not lost). */
  failAtTick?: number;
  /** Where the hubs live; default in memory. */
  broker?: Broker;
  /**
   * Runs the sources. Default: run them here. With Redis, `useLeader` passes
   * an operation that runs them only while this process holds the lease.
   */
  lead?: (sources: () => Operation<never>) => Operation<unknown>;
  /** How long `/next` waits before answering 204. Default 30 s. */
  nextTimeoutMs?: number;
  shutdownGraceMs?: number;
}

export interface Tick {
  tick: number;
}
export interface Beat {
  beat: number;
}

/** A running app, as provided by {@link usePeriodicEvents}. */
export interface PeriodicEvents {
  url: string;
  port: number;
  ticks: Hub<Tick>;
  beats: Hub<Beat>;
}

function* counting<T>(
  hub: Hub<T>,
  intervalMs: number,
  make: (n: number) => T,
  read: (value: T) => number,
  failAt?: number,
): Operation<never> {
  // continue from what the hub already holds: after a leader change, counting goes on
  const latest = yield* hub.latest();
  let n = latest ? read(latest.value) : 0;
  for (const _ of yield* each(ticker({ intervalMs: intervalMs }))) {
    n++;
    if (failAt !== undefined && n >= failAt)
      throw new Error(`source failed at tick ${n} (--fail-at-tick)`);
    yield* hub.publish(make(n));
    yield* each.next();
  }
  throw new Error("ticker ended");
}

/**
 * Starts the app for the calling scope.
 *
 * @example
 * ```ts
 * const app = yield* usePeriodicEvents({ port: 0, tickMs: 100, beatMs: 250 });
 * console.log(app.url);
 * ```
 */
export function usePeriodicEvents(options: PeriodicEventsOptions = {}): Operation<PeriodicEvents> {
  return resource(function* (provide) {
    const { tickMs = 2000, beatMs = 5000, nextTimeoutMs = 30_000 } = options;
    const ticks = yield* useHub<Tick>({
      topic: "periodic-events:ticks",
      broker: options.broker,
      history: 100,
    });
    const beats = yield* useHub<Beat>({
      topic: "periodic-events:beats",
      broker: options.broker,
      history: 100,
    });

    const latestTick = function* () {
      return (yield* ticks.latest())?.value.tick ?? 0;
    };
    const latestBeat = function* () {
      return (yield* beats.latest())?.value.beat ?? 0;
    };

    const router = createRouter()
      .get("/", function* () {
        return json({
          count: yield* latestTick(),
          beats: yield* latestBeat(),
          hint: "GET /next to wait for the next tick",
        });
      })
      .get("/next", function* (ctx) {
        // `?after=<id>` resumes after a tick already seen (from history if it passed meanwhile)
        const after = typeof ctx.query.after === "string" ? ctx.query.after : undefined;
        return longPoll(
          (function* () {
            const message = yield* ticks.next(after);
            return { tick: message.value.tick, id: message.id };
          })(),
          { timeoutMs: nextTimeoutMs },
        );
      })
      .get("/stream", function* () {
        return ndjson(ticks.subscribe(), { map: (message) => ({ tick: message.value.tick }) });
      });

    const server = yield* useServer({
      port: options.port ?? 0,
      host: options.host,
      handler: router,
      shutdownGraceMs: options.shutdownGraceMs ?? 1000,
    });

    // Both sources are items of one selector owned by this scope: the server's lifespan.
    // A failing source surfaces from selector.run() and fails this scope, so it is never lost.
    const sources = function* (): Operation<never> {
      const selector = yield* useSelector<never, string>();
      selector.add(
        "ticker",
        (function* () {
          yield* label("ticker");
          return yield* counting(
            ticks,
            tickMs,
            (tick) => ({ tick }),
            (v) => v.tick,
            options.failAtTick,
          );
        })(),
      );
      selector.add(
        "heartbeat",
        (function* () {
          yield* label("heartbeat");
          return yield* counting(
            beats,
            beatMs,
            (beat) => ({ beat }),
            (v) => v.beat,
          );
        })(),
      );
      return yield* selector.run();
    };
    yield* spawn(function* () {
      yield* label("sources");
      yield* options.lead ? options.lead(sources) : sources();
    });

    yield* provide({ url: server.url, port: server.port, ticks, beats });
  });
}
