import { HttpError } from "../../src/http/index.js";

/**
 * A job request the runner refuses: an unknown type, or a parameter that is
 * missing its type or its bounds. The message names the field
 * (`params.seconds must be …`). Over HTTP it is a 400.
 *
 * @example
 * ```ts
 * throw new InvalidJobError("params.seconds", "must be an integer from 1 to 300, got 0");
 * ```
 */
export class InvalidJobError extends HttpError {
  override readonly name = "InvalidJobError";
  /** The offending field, e.g. `"job_type"` or `"params.limit"`. */
  readonly field: string;

  constructor(field: string, problem: string) {
    super(400, `${field} ${problem}`, { code: "JOB_RUNNER_INVALID_JOB" });
    this.field = field;
  }
}

/**
 * No job has this id (it never existed, or was cleared). Over HTTP: 404
 * `{"error":"Job not found: 7"}`.
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
 * The job has already finished, so it cannot be cancelled. Over HTTP: 409
 * `{"error":"Cannot cancel job in status: completed"}`.
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
    super(409, `Cannot cancel job in status: ${status}`, { code: "JOB_RUNNER_NOT_CANCELLABLE" });
    this.jobStatus = status;
  }
}
