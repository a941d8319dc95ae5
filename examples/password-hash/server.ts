/**
 * The standalone worker server (AnyEvent::Task::Server): every client
 * connection gets its own worker process running ./worker.ts.
 *
 *   npx tsx examples/password-hash/server.ts [--socket /tmp/bough-password-hash.sock] (--help)
 */
import { suspend } from "effection";
import { serveWorkers } from "../../src/pool/index.js";
import { defineTool, parseFlags, runTool } from "../cli.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/password-hash/server.ts [--socket PATH]

The standalone worker server: every client connection gets a worker process of its own.

  --socket PATH   the unix socket to listen on (default /tmp/bough-password-hash.sock)
  -h, --help      print this help`,
);
const values = parseFlags(tool, {
  socket: { type: "string", default: "/tmp/bough-password-hash.sock" },
});

await runTool(tool, function* () {
  const server = yield* serveWorkers({
    listen: { path: values.socket },
    worker: new URL("./worker.ts", import.meta.url),
  });
  console.log(`worker server listening on ${JSON.stringify(server.address)} (pid ${process.pid})`);
  yield* suspend();
});
