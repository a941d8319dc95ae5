/**
 * What makes an example behave like a command-line tool: `--help` prints the
 * usage and exits 0; a bad flag or a busy port prints one line and exits 2
 * (no stack trace); everything else is the example's own `main`.
 */
import { basename, dirname } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { exit, main, type Operation } from "effection";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** A command-line tool: its name (as printed before error lines) and its usage text. */
export interface Tool {
  /** Printed before every one-line error, e.g. `periodic-events`. */
  readonly name: string;
  /** The text `--help` prints (the first line is usually `usage: …`). */
  readonly usage: string;
}

/**
 * Describes a tool from the file that runs it: the name is the example's
 * folder (or the file's name for a second command in the same folder).
 *
 * @example
 * ```ts
 * const tool = defineTool(import.meta.url, "usage: npx tsx examples/x/main.ts [--port N]");
 * ```
 */
export function defineTool(fileUrl: string, usage: string): Tool {
  const path = new URL(fileUrl).pathname;
  const file = basename(path).replace(/\.[cm]?[jt]s$/, "");
  const folder = basename(dirname(path));
  return { name: file === "main" ? folder : `${folder}/${file}`, usage: usage.trim() };
}

/** Prints `name: message` on stderr and exits with status 2 (a usage error). */
export function usageError(tool: Tool, message: string): never {
  process.stderr.write(`${tool.name}: ${message} (see --help)\n`);
  process.exit(2);
}

/**
 * Parses the flags (`--help`/`-h` included): prints the usage and exits 0 on
 * `--help`; prints one line and exits 2 on an unknown or malformed flag.
 *
 * @example
 * ```ts
 * const values = parseFlags(tool, { port: { type: "string", default: "5014" } });
 * ```
 */
export function parseFlags<const O extends OptionsConfig>(
  tool: Tool,
  options: O,
  args: string[] = process.argv.slice(2),
): ReturnType<typeof parseArgs<{ options: O; strict: true }>>["values"] {
  const withHelp = { ...options, help: { type: "boolean", short: "h" } } as const;
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options: withHelp, strict: true }).values;
  } catch (error) {
    usageError(tool, (error as Error).message.split("\n")[0] ?? String(error));
  }
  if (values.help) {
    process.stdout.write(`${tool.usage}\n`);
    process.exit(0);
  }
  return values as ReturnType<typeof parseArgs<{ options: O; strict: true }>>["values"];
}

/**
 * Reads an integer flag; a value that is not an integer in `[min, max]` is a
 * usage error.
 *
 * @example
 * ```ts
 * const port = intFlag(tool, "port", values.port, 0, 65_535);
 * ```
 */
export function intFlag(
  tool: Tool,
  name: string,
  value: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    usageError(
      tool,
      `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** What is busy in an "address in use" failure (node's EADDRINUSE or bough's PortInUseError). */
export function busyAddress(error: unknown): string | undefined {
  const e = error as { code?: unknown; port?: unknown; address?: unknown } | null;
  if (e?.code === "BOUGH_SOURCES_PORT_IN_USE" && typeof e.port === "number")
    return `UDP port ${e.port}`;
  if (e?.code !== "EADDRINUSE") return undefined;
  if (typeof e.port === "number") return `port ${e.port}`;
  return typeof e.address === "string" ? `socket ${e.address}` : "address";
}

/**
 * Runs `body` as the program (effection's `main`: Ctrl-C halts it and waits
 * for cleanup); a busy port ends it with one line on stderr and status 2.
 *
 * @example
 * ```ts
 * await runTool(tool, function* () {
 *   const server = yield* useServer({ port, handler });
 *   console.log(`listening on ${server.url} (pid ${process.pid})`);
 *   yield* suspend();
 * });
 * ```
 */
export function runTool(tool: Tool, body: () => Operation<void>): Promise<void> {
  return main(function* () {
    try {
      yield* body();
    } catch (error) {
      const busy = busyAddress(error);
      if (!busy) throw error;
      process.stderr.write(`${tool.name}: ${busy} is already in use\n`);
      yield* exit(2);
    }
  });
}
