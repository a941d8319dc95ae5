import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// dist/ is built (when stale) by test/package/build-dist.ts, vitest's global setup.
const root = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};

/** Runs a command; a failure shows its stdout and stderr (tsc reports on stdout). */
function sh(file: string, args: string[], cwd: string, timeout = 120_000): string {
  try {
    return execFileSync(file, args, { cwd, encoding: "utf8", stdio: "pipe", timeout });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${[file, ...args].join(" ")} failed:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

/** Runs npm with the Node that runs the tests (`npm_execpath` under `npm test`), so each Node of the matrix checks its own install. */
function npm(args: string[], cwd: string): string {
  const cli = process.env.npm_execpath;
  const [file, argv] =
    cli && /\.[cm]?js$/.test(cli) ? [process.execPath, [cli, ...args]] : ["npm", args];
  return sh(file, argv, cwd);
}

describe("a consumer of the packed tarball", () => {
  const scratch = mkdtempSync(join(tmpdir(), "bough-consumer-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("installs it, type-checks every subpath strictly and runs ESM, CommonJS and .mjs/.cjs pool workers with plain node", () => {
    const packed = JSON.parse(
      npm(["pack", "--json", "--ignore-scripts", "--pack-destination", scratch], root),
    ) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]?.files.map((file) => file.path) ?? [];
    expect(files).toEqual(
      expect.arrayContaining(["LICENSE", "README.md", "CHANGELOG.md", "docs/guides/core.md"]),
    );
    expect(
      files.filter(
        (file) =>
          !/^(dist|docs\/guides)\/|^(LICENSE|README\.md|CHANGELOG\.md|package\.json)$/.test(file),
      ),
    ).toEqual([]);

    cpSync(join(root, "test/package/consumer"), scratch, { recursive: true });
    const effection = pkg.peerDependencies?.effection ?? pkg.dependencies?.effection ?? "4";
    writeFileSync(
      join(scratch, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: { bough: `file:./${packed[0]?.filename}`, effection },
      }),
    );
    // The cache already holds every dependency after the repository's own install; the registry is the fallback.
    npm(["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], scratch);

    const tsc = join(root, "node_modules/typescript/bin/tsc");
    sh(process.execPath, [tsc, "-p", scratch], scratch);

    const node = (file: string) =>
      JSON.parse(sh(process.execPath, [file], scratch, 30_000)) as unknown;
    expect(node("app.js")).toEqual({
      selector: ["one=1"],
      timeout: true,
      tick: true,
      hub: "world",
      redis: true,
      "thread mjs": 5,
      "thread cjs": 5,
      "process mjs": 5,
      "process cjs": 5,
      http: { a: 4 },
      inspect: true,
      clock: 1000,
    });
    expect(node("app-cjs.cjs")).toMatchObject({ selected: "two" });
    expect(existsSync(join(scratch, "node_modules/tsx"))).toBe(false);
  }, 240_000);

  it("is refused at install beside effection 4.0, with a message naming both versions", () => {
    const app = mkdtempSync(join(tmpdir(), "bough-effection-402-"));
    try {
      const packed = JSON.parse(
        npm(["pack", "--json", "--ignore-scripts", "--pack-destination", app], root),
      ) as { filename: string }[];
      writeFileSync(
        join(app, "package.json"),
        JSON.stringify({
          name: "app-on-effection-4-0",
          private: true,
          type: "module",
          dependencies: { bough: `file:./${packed[0]?.filename}`, effection: "4.0.2" },
        }),
      );
      // effection 4.0 lacks what bough's light routines need (effection/experimental); npm
      // says so before anything runs instead of a second effection copy failing later
      let message = "";
      try {
        npm(["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], app);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/ERESOLVE/);
      expect(message).toMatch(/effection@4\.0\.2/);
      expect(message).toContain(`peer effection@"${pkg.peerDependencies?.effection}"`);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }, 240_000);
});
