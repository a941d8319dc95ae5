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
import { parseArgs } from "node:util";
import { main } from "effection";
import { label } from "../../src/index.js";
import { useUdpSocket } from "../../src/sources/index.js";
import { DEFAULT_DB, useMessageQueue } from "./message-queue.js";

await main(function* (argv) {
  yield* label("produce");
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: "string", default: DEFAULT_DB },
      type: { type: "string", default: "email" },
      data: { type: "string", default: "" },
      "udp-port": { type: "string", default: "8001" },
      host: { type: "string", default: "127.0.0.1" },
      count: { type: "string", default: "1" },
      "no-kick": { type: "boolean", default: false },
    },
  });
  const count = Number(values.count);
  const port = Number(values["udp-port"]);
  if (!Number.isInteger(count) || count < 1)
    throw new TypeError(`--count must be >= 1, got ${values.count}`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new TypeError(`--udp-port must be 1–65535, got ${values["udp-port"]}`);

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
