/**
 * The REST routes (seed 002's table) and the SSE progress stream.
 */
import { createRouter, json, type Router, sse } from "../../src/http/index.js";
import { jobTypeSchema } from "./job-types.js";
import { PROGRESS_SSE, progressStream } from "./progress-stream.js";
import type { JobRunner } from "./runner.js";

/**
 * Adds the `/api` routes to `router` (a new one by default). Errors are thrown
 * as `HttpError`s, which the server turns into `{ "error": message }` with
 * their status: 400 for a bad request (naming the field), 404 for an unknown
 * job, 409 for cancelling a finished one.
 *
 * @example
 * ```ts
 * const router = apiRoutes(runner).ws("/ws/queue", queueSocket(runner));
 * yield* useServer({ port: 5001, handler: router });
 * ```
 */
export function apiRoutes(runner: JobRunner, router: Router = createRouter()): Router {
  return router
    .get("/api/stats", function* () {
      return json(runner.stats());
    })
    .get("/api/job-types", function* () {
      return json(jobTypeSchema());
    })
    .get("/api/jobs", function* () {
      return json(runner.list());
    })
    .post("/api/jobs", function* (ctx) {
      const body = yield* ctx.json();
      return json(yield* runner.create(body), 201);
    })
    .post("/api/jobs/clear-completed", function* () {
      const cleared = yield* runner.clearCompleted();
      return json({ cleared });
    })
    .get("/api/jobs/:id", function* (ctx) {
      return json(runner.get(ctx.params.id ?? ""));
    })
    .delete("/api/jobs/:id", function* (ctx) {
      return json(yield* runner.cancel(ctx.params.id ?? ""));
    })
    .get("/api/jobs/:id/progress", function* (ctx) {
      const job = runner.get(ctx.params.id ?? "");
      return sse(progressStream(runner, job.id, ctx.lastEventId), PROGRESS_SSE);
    });
}
