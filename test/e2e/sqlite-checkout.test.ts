import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runExample } from "./helpers/run-example.js";

checkLeaksAfterEach();

describe("examples/sqlite-checkout", () => {
  it("commits whole transactions and rolls back the one that failed mid-way", async () => {
    const db = join(tmpdir(), `bough-e2e-sqlite-${process.pid}.db`);
    const app = runExample("examples/sqlite-checkout/main.ts", ["--db", db]);
    expect(await app.exited(), app.output()).toBe(0);
    expect(app.output()).toContain("committed two transactions: 2 + 2 rows");
    expect(app.output()).toContain("UNIQUE constraint failed");
    const conn = new Database(db, { readonly: true });
    try {
      const names = conn.prepare("SELECT username FROM user ORDER BY username").all() as {
        username: string;
      }[];
      expect(names.map((n) => n.username)).toEqual(["alice", "bob", "carol", "dave"]);
    } finally {
      conn.close();
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
    }
  });
});
