/**
 * Server and client in one command: `useWorkerServer` forks a dedicated
 * worker server tied to this scope (AnyEvent::Task's fork_task_server with a
 * keep-alive: if this process dies, the server exits too), then the client
 * hashes and verifies through it.
 *
 *   npx tsx examples/password-hash/main.ts [--password secret] (--help)
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { usePool, useWorkerServer } from "../../src/pool/index.js";
import { defineTool, parseFlags, runTool } from "../cli.js";
import { hashAndVerify } from "./hash-and-verify.js";
import type worker from "./worker.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/password-hash/main.ts [--password TEXT]

Forks a worker server tied to this process, then hashes and verifies TEXT through it.

  --password TEXT   what to hash (default "secret")
  -h, --help        print this help`,
);
const values = parseFlags(tool, { password: { type: "string", default: "secret" } });

await runTool(tool, function* () {
  const server = yield* useWorkerServer({
    listen: { path: join(tmpdir(), `bough-password-hash-${process.pid}.sock`) },
    worker: new URL("./worker.ts", import.meta.url),
  });
  console.log(`forked worker server pid ${server.pid}`);
  const pool = yield* usePool<(typeof worker)["interface"]>({ connect: server.address });
  yield* hashAndVerify(pool, values.password);
});
