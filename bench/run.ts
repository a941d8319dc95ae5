/**
 * `npm run bench -- <name…>` runs bench/<name>.ts for each name (all of them
 * when none is given), each in its own process so that one benchmark's garbage
 * does not weigh on the next. Results go to bench/results/<name>.json and .md.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !["run.ts", "report.ts"].includes(f))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();
const names = process.argv.slice(2).filter((a) => a !== "--");
const chosen = names.length > 0 ? names : all;
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark "${name}"; known: ${all.join(", ")}`);
    process.exit(2);
  }
  console.log(`\n=== bench ${name} ===`);
  const result = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", join(here, `${name}.ts`)],
    {
      stdio: "inherit",
    },
  );
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
