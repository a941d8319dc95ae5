/**
 * The client of seed 004's synopsis: connects to the worker server (retrying
 * until it is up, within the checkout's timeout), hashes, verifies.
 *
 *   npx tsx examples/password-hash/client.ts [--socket /tmp/bough-password-hash.sock] [--password secret]
 */
import { parseArgs } from "node:util";
import { main } from "effection";
import { usePool } from "../../src/pool/index.js";
import { hashAndVerify } from "./hash-and-verify.js";
import type worker from "./worker.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string", default: "/tmp/bough-password-hash.sock" },
    password: { type: "string", default: "secret" },
    timeout: { type: "string", default: "5000" },
  },
});

await main(function* () {
  const pool = yield* usePool<(typeof worker)["interface"]>({ connect: { path: values.socket } });
  const ok = yield* hashAndVerify(pool, values.password, Number(values.timeout));
  if (!ok) throw new Error("verify failed");
});
