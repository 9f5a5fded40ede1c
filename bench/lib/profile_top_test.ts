import assert from "node:assert/strict";
import { cpuTotals, type HeapNode, heapTotals, top } from "./profile_top.ts";

const frame = (functionName: string, url = "file:///r/src/a/b.ts", lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

Deno.test("heap totals: self bytes per function, built-ins named with their caller", () => {
  const head: HeapNode = {
    callFrame: frame("(root)", ""),
    selfSize: 0,
    children: [
      {
        callFrame: frame("put", "file:///r/src/x/kv.ts", 9),
        selfSize: 100,
        children: [
          { callFrame: frame("subarray", ""), selfSize: 70, children: [] },
          { callFrame: frame("put", "file:///r/src/x/kv.ts", 9), selfSize: 5, children: [] },
        ],
      },
      {
        callFrame: frame("get", "file:///r/src/x/kv.ts", 20),
        selfSize: 0,
        children: [{ callFrame: frame("subarray", ""), selfSize: 30, children: [] }],
      },
    ],
  };
  const t = heapTotals(head);
  assert.deepEqual(top(t, 10), [
    ["put x/kv.ts:10", 105],
    ["subarray :1 <- put x/kv.ts:10", 70],
    ["subarray :1 <- get x/kv.ts:21", 30],
  ]);
  assert.deepEqual(top(t, 1), [["put x/kv.ts:10", 105]]);
});

Deno.test("cpu totals: each sample's time until the next one, per function", () => {
  const t = cpuTotals({
    nodes: [
      { id: 1, callFrame: frame("(root)", ""), children: [2] },
      { id: 2, callFrame: frame("apply"), children: [3] },
      { id: 3, callFrame: frame("op_write", ""), children: [] },
    ],
    samples: [2, 3, 2, 3],
    timeDeltas: [0, 10, 20, 30],
  });
  // apply: 10 (until the 2nd sample) + 30; op_write: 20 (the last sample has no end).
  assert.deepEqual(top(t, 5), [["apply a/b.ts:1", 40], ["op_write :1 <- apply a/b.ts:1", 20]]);
});
