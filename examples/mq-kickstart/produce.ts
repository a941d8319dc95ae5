/**
 * Seed 001's producer: inserts a row into the MessageQueue table and sends
 * the datagram that kick-starts the consumer (main.ts).
 *
 *   npx tsx examples/mq-kickstart/produce.ts --type email --data "to: ops@example.com"
 *       [--db PATH] [--udp-port 8001] [--host 127.0.0.1] [--count 1] [--no-kick]
 *
 * Without the kick (`--no-kick`, or a lost datagram) the row still gets
 * handled at the consumer's next poll.
 */
import { main } from "effection";
import { label } from "../../src/index.js";
import { useUdpSocket } from "../../src/sources/index.js";
import { defineTool, intFlag, parseFlags } from "../cli.js";
import { DEFAULT_DB, useMessageQueue } from "./message-queue.js";

const tool = defineTool(
  import.meta.url,
  `usage: npx tsx examples/mq-kickstart/produce.ts [flags]

Inserts rows into the MessageQueue table and kicks the consumer (main.ts) with one datagram.

  --db PATH       the SQLite database (default: the consumer's demo database)
  --type TYPE     the row type (default email)
  --data TEXT     the row's data (default empty; data containing "fail" makes its handler fail)
  --udp-port N    the consumer's UDP port (default 8001)
  --host ADDR     the consumer's address (default 127.0.0.1)
  --count N       insert N rows, then send one kick (default 1)
  --no-kick       insert only; the row waits for the consumer's next poll
  -h, --help      print this help`,
);
const values = parseFlags(tool, {
  db: { type: "string", default: DEFAULT_DB },
  type: { type: "string", default: "email" },
  data: { type: "string", default: "" },
  "udp-port": { type: "string", default: "8001" },
  host: { type: "string", default: "127.0.0.1" },
  count: { type: "string", default: "1" },
  "no-kick": { type: "boolean", default: false },
});
const count = intFlag(tool, "count", values.count, 1);
const port = intFlag(tool, "udp-port", values["udp-port"], 1, 65_535);

await main(function* () {
  yield* label("produce");
  const queue = yield* useMessageQueue(values.db);
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(queue.insert(values.type, values.data));
  if (values["no-kick"]) {
    console.log(`inserted ${values.type} row ${ids.join(", ")} (no kick)`);
    return;
  }
  const udp = yield* useUdpSocket({ host: values.host });
  yield* udp.send(`kick ${values.type}`, port, values.host);
  console.log(`inserted ${values.type} row ${ids.join(", ")} and kicked ${values.host}:${port}`);
});
