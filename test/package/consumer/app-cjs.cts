// The same package through `require`: the .d.cts types and the CommonJS builds.

import * as core from "bough";
import * as http from "bough/http";
import * as hub from "bough/hub";
import * as redis from "bough/hub/redis";
import * as inspect from "bough/inspect";
import * as pool from "bough/pool";
import * as sources from "bough/sources";
import * as testing from "bough/testing";
import { run } from "effection";

const entries = { core, hub, redis, http, inspect, pool, sources, testing };

run(function* () {
  const selector = yield* core.useSelector<void, string>();
  selector.add("two", core.delay(1));
  const [first] = yield* selector.select();
  const names = Object.fromEntries(
    Object.entries(entries).map(([name, module]) => [name, Object.keys(module).length]),
  );
  return { selected: first?.data, names };
}).then((result) => console.log(JSON.stringify(result)));
