/**
 * The job-runner app as a resource: the runner, the API, the WebSocket and
 * the dashboard on one server. `main.ts` parses flags and runs it; tests start
 * it in-process on an ephemeral port.
 */
import { fileURLToPath } from "node:url";
import { type Operation, resource } from "effection";
import { useServer } from "../../src/http/index.js";
import { apiRoutes } from "./api.js";
import { type JobRunner, type JobRunnerOptions, useJobRunner } from "./runner.js";
import { queueSocket } from "./ws-queue.js";

/** Options of {@link useJobRunnerApp}. */
export interface JobRunnerAppOptions extends JobRunnerOptions {
  /** The port; 0 (default) picks a free one. */
  port?: number;
  /** The address. Default `127.0.0.1`. */
  host?: string;
  /** How long open streams get on shutdown. Default 2000 ms. */
  shutdownGraceMs?: number;
  /** The WebSocket (protocol-level) ping interval. Default 20 000 ms. */
  pingIntervalMs?: number;
  /** The app-level `{ type: "ping", ts }` interval on `/ws/queue`. Default 25 000 ms (PAGI's). */
  appPingIntervalMs?: number;
  /**
   * The folder served at `/`. Default: bough's dashboard ({@link PUBLIC_DIR}).
   * PAGI's own `public/` folder works here unchanged.
   */
  publicDir?: string;
}

/** The running app. */
export interface JobRunnerApp {
  readonly url: string;
  readonly port: number;
  readonly runner: JobRunner;
}

/** The dashboard's files. */
export const PUBLIC_DIR = fileURLToPath(new URL("./public/", import.meta.url));

/**
 * Starts the job runner with its HTTP API, WebSocket and dashboard for the
 * calling scope.
 *
 * @example
 * ```ts
 * await main(function* () {
 *   const app = yield* useJobRunnerApp({ port: 5001, concurrency: 3 });
 *   console.log(`open ${app.url}`);
 *   yield* suspend();
 * });
 * ```
 */
export function useJobRunnerApp(options: JobRunnerAppOptions = {}): Operation<JobRunnerApp> {
  return resource(function* (provide) {
    const runner = yield* useJobRunner(options);
    const router = apiRoutes(runner)
      .ws("/ws/queue", queueSocket(runner, { appPingIntervalMs: options.appPingIntervalMs }), {
        pingIntervalMs: options.pingIntervalMs ?? 20_000,
      })
      .static("/", options.publicDir ?? PUBLIC_DIR);
    const server = yield* useServer({
      port: options.port ?? 0,
      host: options.host ?? "127.0.0.1",
      handler: router,
      shutdownGraceMs: options.shutdownGraceMs ?? 2000,
    });
    yield* provide({ url: server.url, port: server.port, runner });
  });
}
