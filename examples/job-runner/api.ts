/**
 * The REST routes and the SSE progress stream, as PAGI's `JobRunner::HTTP`
 * and `JobRunner::SSE` answer them: same paths, statuses, bodies and error
 * texts. Errors also carry bough's stable `code` (and `field` for a bad
 * parameter), extra fields PAGI's client ignores.
 */
import {
  BodyReply,
  createRouter,
  HttpError,
  json,
  MalformedJsonError,
  type RequestContext,
  type Router,
  sse,
  text,
} from "../../src/http/index.js";
import { errorBody } from "./errors.js";
import { jobTypeSchema } from "./job-types.js";
import { PROGRESS_SSE, progressStream } from "./progress-stream.js";
import type { JobRunner } from "./runner.js";
import { createdBody } from "./wire.js";

/** Turns a refusal into PAGI's `{ error }` reply with its status; anything else propagates. */
function refused(error: unknown, extra: Record<string, unknown> = {}) {
  if (!(error instanceof HttpError)) throw error;
  return json({ ...errorBody(error), ...extra }, error.status);
}

function* readJob(ctx: RequestContext) {
  try {
    return yield* ctx.json();
  } catch (error) {
    if (error instanceof MalformedJsonError)
      return json({ error: "Invalid JSON body", code: error.code, detail: error.message }, 400);
    throw error;
  }
}

/**
 * Adds the `/api` routes to `router` (a new one by default):
 * `GET /api/stats` `{ queue, worker }`, `GET /api/job-types`, `GET /api/jobs`,
 * `POST /api/jobs` (201 `{ id, type, params, status, created_at }`),
 * `GET /api/jobs/:id`, `DELETE /api/jobs/:id` (`{ success, job_id }`, 400 for a
 * finished job), `POST /api/jobs/clear-completed` (`{ cleared: count }`),
 * `GET /api/jobs/:id/progress` (SSE), and 404 `{ error: "Not found: path" }`
 * for anything else under `/api`.
 *
 * @example
 * ```ts
 * const router = apiRoutes(runner).ws("/ws/queue", queueSocket(runner));
 * yield* useServer({ port: 5001, handler: router });
 * ```
 */
export function apiRoutes(runner: JobRunner, router: Router = createRouter()): Router {
  router
    .get("/api/stats", function* () {
      return json({ queue: runner.stats(), worker: runner.worker(), instance: runner.instance });
    })
    .get("/api/job-types", function* () {
      return json(jobTypeSchema());
    })
    .get("/api/jobs", function* () {
      return json(runner.list());
    })
    .post("/api/jobs", function* (ctx) {
      const body = yield* readJob(ctx);
      if (body instanceof BodyReply) return body;
      try {
        return json(createdBody(yield* runner.create(body)), 201);
      } catch (error) {
        return refused(error);
      }
    })
    .post("/api/jobs/clear-completed", function* () {
      const cleared = yield* runner.clearCompleted();
      return json({ cleared: cleared.length });
    })
    .get("/api/jobs/:id", function* (ctx) {
      try {
        return json(runner.get(ctx.params.id ?? ""));
      } catch (error) {
        return refused(error);
      }
    })
    .delete("/api/jobs/:id", function* (ctx) {
      // PAGI echoes the id as it came in the path (a string)
      const id = ctx.params.id ?? "";
      try {
        yield* runner.cancel(id);
        return json({ success: true, job_id: id });
      } catch (error) {
        return refused(
          error,
          error instanceof HttpError && error.status === 400 ? { job_id: id } : {},
        );
      }
    })
    .get("/api/jobs/:id/progress", function* (ctx) {
      const id = ctx.params.id ?? "";
      if (!/^[0-9]+$/.test(id) || Number(id) === 0) {
        return text("Invalid job ID", 400);
      }
      let job: ReturnType<JobRunner["get"]>;
      try {
        job = runner.get(id);
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        return text("Job not found", 404);
      }
      return sse(progressStream(runner, job.id, ctx.lastEventId), PROGRESS_SSE);
    });
  const notFound = function* (ctx: RequestContext) {
    return json({ error: `Not found: ${ctx.path}` }, 404);
  };
  for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH"] as const) {
    router.on(method, "/api/*", notFound);
  }
  return router;
}
