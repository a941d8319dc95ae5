import type { Operation } from "effection";
import type { Pool } from "../../src/pool/index.js";
import type worker from "./worker.js";

type HashWorker = (typeof worker)["interface"];

/**
 * The client half of the synopsis: one checkout, two calls queued in order on
 * the same worker, with a timeout that counts from when each call is queued
 * (so it covers waiting for the server and for a free worker).
 */
export function* hashAndVerify(
  pool: Pool<HashWorker>,
  password: string,
  timeout = 30_000, // covers forking a worker that compiles through tsx, slow on a loaded machine
): Operation<boolean> {
  const checkout = yield* pool.checkout({ timeoutMs: timeout });
  const crypted = yield* checkout.api.hash(password);
  console.log(`Hashed password is ${crypted}`);
  const result = yield* checkout.api.verify(crypted, password);
  console.log(`Verify result is ${result ? 1 : 0}`);
  return result;
}
