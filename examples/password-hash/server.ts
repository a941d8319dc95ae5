/**
 * The standalone worker server (AnyEvent::Task::Server): every client
 * connection gets its own worker process running ./worker.ts.
 *
 *   npx tsx examples/password-hash/server.ts [--socket /tmp/bough-password-hash.sock]
 */
import { parseArgs } from "node:util";
import { main, suspend } from "effection";
import { serveWorkers } from "../../src/pool/index.js";

const { values } = parseArgs({
  options: { socket: { type: "string", default: "/tmp/bough-password-hash.sock" } },
});

await main(function* () {
  const server = yield* serveWorkers({
    listen: { path: values.socket },
    worker: new URL("./worker.ts", import.meta.url),
  });
  console.log(`worker server listening on ${JSON.stringify(server.address)} (pid ${process.pid})`);
  yield* suspend();
});
