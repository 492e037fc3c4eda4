import { describe, expect, test } from "bun:test";
import { mayNestDeeperThan, scanJson } from "../../src/lib/json-scan";

/** `{"a":` … `}` nested `depth` levels, the innermost `{}`. */
const nested = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);

describe("scanJson", () => {
  test("counts every object and array level, and nothing else", () => {
    for (const [text, depth] of [
      ["1", 0],
      ['"x"', 0],
      ["{}", 1],
      ["[]", 1],
      ['{"a":[1,{"b":2}]}', 3],
      [nested(5), 5],
      ["[[[[]]],[]]", 4],
    ] as const) {
      expect(scanJson(text, depth).tooDeepAt, text).toBeUndefined();
      if (depth > 0) expect(scanJson(text, depth - 1).tooDeepAt, text).toBeDefined();
    }
  });

  test("brackets inside strings, escaped quotes and backslashes do not count", () => {
    const text = JSON.stringify({ a: "[[[[{{{{", b: 'say \\"[[[" ', c: "\\\\", d: ["]]]}}}"], e: { f: "\\" } });
    expect(JSON.parse(text)).toBeDefined();
    expect(scanJson(text, 2).tooDeepAt).toBeUndefined();
    expect(scanJson(text, 1).tooDeepAt).toBe("d");
  });

  test("names the top-level member that goes too deep, or \"\" for an array root", () => {
    const text = `{"type":"message.send","content":"hi","metadata":${nested(40)},"clientId":"c-1"}`;
    expect(scanJson(text, 33).tooDeepAt).toBe("metadata");
    expect(scanJson(text, 41).tooDeepAt).toBeUndefined();
    expect(scanJson(`{"m\\u0065ta":${nested(3)}}`, 2).tooDeepAt).toBe("meta");
    expect(scanJson("[[[[]]]]", 2).tooDeepAt).toBe("");
  });

  test("keeps the top-level string members asked for, even after the text went too deep", () => {
    const text = `{"type":"message.send","metadata":${nested(50)},"inner":{"clientId":"not this"},"clientId":"c-\\u0031"}`;
    const scan = scanJson(text, 33, ["type", "clientId"]);
    expect(scan.tooDeepAt).toBe("metadata");
    expect(scan.strings).toEqual({ type: "message.send", clientId: "c-1" });
    // Values that are not strings, and keys nested deeper, are not taken.
    expect(scanJson('{"clientId":5,"x":{"type":"no"}}', 33, ["type", "clientId"]).strings).toEqual({});
  });

  test("a text 100,000 levels deep is refused at the first level too many", () => {
    const text = "[".repeat(100_000) + "]".repeat(100_000);
    expect(scanJson(text, 33).tooDeepAt).toBe("");
  });

  test("text that is not JSON does not throw: JSON.parse refuses it afterwards", () => {
    for (const text of ["", "{", '{"a', '{"a":"\\', "}}}]]]", '{"a" "b"}'])
      expect(scanJson(text, 33, ["a"]).tooDeepAt).toBeUndefined();
  });
});

describe("mayNestDeeperThan", () => {
  test("is false while the text has no more opening brackets than the depth, true beyond it", () => {
    expect(mayNestDeeperThan('{"a":[1,{"b":2}]}', 3)).toBe(false);
    expect(mayNestDeeperThan('{"a":[1,{"b":[2]}]}', 3)).toBe(true);
    // Brackets inside strings count too: it only decides whether scanJson must look.
    expect(mayNestDeeperThan('{"a":"[[[["}', 3)).toBe(true);
    expect(scanJson('{"a":"[[[["}', 3).tooDeepAt).toBeUndefined();
    expect(mayNestDeeperThan("[".repeat(100_000), 32)).toBe(true);
  });
});
