import { describe, expect, it } from "vitest";
import { createLineBuffer } from "../../src/inspect/line-buffer.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("createLineBuffer", () => {
  it("keeps exactly the last N complete lines, oldest first", () => {
    const buffer = createLineBuffer({ lines: 3 });
    expect(buffer.lines()).toEqual([]);
    buffer.write("a\nb\n");
    expect(buffer.lines()).toEqual(["a", "b"]);
    buffer.write("c\nd\ne\n");
    expect(buffer.lines()).toEqual(["c", "d", "e"]);
    for (let i = 0; i < 10_000; i++) buffer.write(`line ${i}\n`);
    expect(buffer.lines()).toEqual(["line 9997", "line 9998", "line 9999"]);
    expect(buffer.total).toBe(10_005);
    expect(buffer.capacity).toBe(3);
  });

  it("holds a partial line until its newline arrives, across any split", () => {
    const buffer = createLineBuffer({ lines: 10 });
    const text = "first line\nsecond\r\nthird, split\n\nlast";
    for (const ch of text) buffer.write(ch);
    expect(buffer.lines()).toEqual(["first line", "second", "third, split", ""]);
    expect(buffer.partial()).toBe("last");
    buffer.write(" words\n");
    expect(buffer.lines().at(-1)).toBe("last words");
    expect(buffer.partial()).toBe("");
  });

  it("keeps a single line when the capacity is one", () => {
    const buffer = createLineBuffer({ lines: 1 });
    buffer.write("x\ny\nz");
    expect(buffer.lines()).toEqual(["y"]);
    buffer.write("\n");
    expect(buffer.lines()).toEqual(["z"]);
  });

  it("cuts lines longer than maxLineLength, even before their newline", () => {
    const buffer = createLineBuffer({ lines: 2, maxLineLength: 5 });
    buffer.write("abc");
    buffer.write("defgh");
    buffer.write("ijk".repeat(1000));
    expect(buffer.partial()).toBe("abcde…");
    buffer.write("\nok\n");
    expect(buffer.lines()).toEqual(["abcde…", "ok"]);
  });

  it("forgets everything on clear", () => {
    const buffer = createLineBuffer({ lines: 2 });
    buffer.write("a\nb\nc");
    buffer.clear();
    expect([buffer.lines(), buffer.partial(), buffer.total]).toEqual([[], "", 0]);
    buffer.write("d\n");
    expect(buffer.lines()).toEqual(["d"]);
  });

  it("adds a line in constant time whatever the capacity", () => {
    const time = (capacity: number) => {
      const buffer = createLineBuffer({ lines: capacity });
      for (let i = 0; i < capacity; i++) buffer.write("fill\n");
      const t0 = performance.now();
      for (let i = 0; i < 50_000; i++) buffer.write("x\n");
      return performance.now() - t0;
    };
    time(10); // warm up
    const small = time(10);
    const large = time(200_000);
    // an O(N) shift per line would make the large buffer thousands of times slower
    expect(large).toBeLessThan(small * 20 + 50);
  });

  it("rejects a capacity that is not a positive integer", () => {
    expect(() => createLineBuffer({ lines: 0 })).toThrow(TypeError);
    expect(() => createLineBuffer({ lines: 1.5 })).toThrow(/lines must be an integer >= 1/);
    expect(() => createLineBuffer({ lines: 1, maxLineLength: -1 })).toThrow(TypeError);
  });
});
