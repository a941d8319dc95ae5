/**
 * The client of seed 004's synopsis: connects to the worker server (retrying
 * until it is up, within the checkout's timeout), hashes, verifies.
 *
 *   npx tsx examples/password-hash/client.ts [--socket PATH] [--password secret] (--help)
 */
import { usePool } from "../../src/pool/index.js";
import { defineTool, intFlag, parseFlags, runTool } from "../cli.js";
import { hashAndVerify } from "./hash-and-verify.js";
import type worker from "./worker.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/password-hash/client.ts [--socket PATH] [--password TEXT] [--timeout MS]

Connects to server.ts (retrying until it is up, within the timeout), hashes TEXT and verifies it.

  --socket PATH     the server's unix socket (default /tmp/bough-password-hash.sock)
  --password TEXT   what to hash (default "secret")
  --timeout MS      per-checkout timeout, waiting for the server included (default 5000)
  -h, --help        print this help`,
);
const values = parseFlags(tool, {
  socket: { type: "string", default: "/tmp/bough-password-hash.sock" },
  password: { type: "string", default: "secret" },
  timeout: { type: "string", default: "5000" },
});
const timeout = intFlag(tool, "timeout", values.timeout, 1);

await runTool(tool, function* () {
  const pool = yield* usePool<(typeof worker)["interface"]>({ connect: { path: values.socket } });
  const ok = yield* hashAndVerify(pool, values.password, timeout);
  if (!ok) throw new Error("verify failed");
});
