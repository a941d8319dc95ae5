import { HttpError } from "../../src/http/index.js";

/**
 * A job request the runner refuses: a missing or unknown type, or a parameter
 * out of its type or bounds. The message is PAGI's own text (its client shows
 * it), e.g. `Parameter 'seconds' must be at most 60`; `field` names the field
 * (`job_type`, `params.seconds`). Over HTTP it is a 400
 * `{ "error": message, "code": "JOB_RUNNER_INVALID_JOB", "field": … }`.
 *
 * @example
 * ```ts
 * throw new InvalidJobError("params.seconds", "Parameter 'seconds' must be at least 1");
 * ```
 */
export class InvalidJobError extends HttpError {
  override readonly name = "InvalidJobError";
  /** The offending field, e.g. `"job_type"` or `"params.limit"`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(400, message, { code: "JOB_RUNNER_INVALID_JOB" });
    this.field = field;
  }
}

/**
 * No job has this id (it never existed, was cleared, or was dropped by
 * retention). Over HTTP: 404 `{"error":"Job not found: 7"}`.
 *
 * @example
 * ```ts
 * throw new JobNotFoundError("7");
 * ```
 */
export class JobNotFoundError extends HttpError {
  override readonly name = "JobNotFoundError";

  constructor(id: string | number) {
    super(404, `Job not found: ${id}`, { code: "JOB_RUNNER_NOT_FOUND" });
  }
}

/**
 * The job has already finished, so it cannot be cancelled. Over HTTP, as in
 * PAGI: 400 `{"error":"Cannot cancel job in status: completed","job_id":"7"}`.
 *
 * @example
 * ```ts
 * throw new JobNotCancellableError("completed");
 * ```
 */
export class JobNotCancellableError extends HttpError {
  override readonly name = "JobNotCancellableError";
  /** The job's status when the cancel arrived. */
  readonly jobStatus: string;

  constructor(status: string) {
    super(400, `Cannot cancel job in status: ${status}`, { code: "JOB_RUNNER_NOT_CANCELLABLE" });
    this.jobStatus = status;
  }
}

/**
 * The JSON body of an error: PAGI's `{ error }`, plus bough's stable `code`
 * and, for a bad field, `field` (extra fields PAGI's client ignores).
 *
 * @example
 * ```ts
 * errorBody(new JobNotFoundError(7)); // { error: "Job not found: 7", code: "JOB_RUNNER_NOT_FOUND" }
 * ```
 */
export function errorBody(error: HttpError): Record<string, unknown> {
  const body: Record<string, unknown> = { error: error.message, code: error.code };
  if (error instanceof InvalidJobError) body.field = error.field;
  return body;
}
