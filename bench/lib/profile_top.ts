/**
 * Per-function totals of V8 inspector profiles, for bench/alloc_probe.ts:
 * bytes from a sampling heap profile (HeapProfiler.stopSampling) and
 * self time from a CPU profile (Profiler.stop). Built-ins and runtime
 * frames (no `file:` URL) are named with their caller, so a `subarray`
 * says whose view it made.
 *
 * @module
 */

/** A call frame as the inspector reports it. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** A node of a sampling heap profile. */
export interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** A CPU profile: nodes by id, and samples with the time since the previous one (µs). */
export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** `name file:line` of a frame, the file shortened to its last two path parts. */
export function frameName(f: CallFrame): string {
  return `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${
    f.lineNumber + 1
  }`;
}

function keyOf(f: CallFrame, parent: CallFrame | undefined): string {
  const own = frameName(f);
  return !f.url.startsWith("file:") && parent !== undefined
    ? `${own} <- ${frameName(parent)}`
    : own;
}

/** Bytes allocated per function (self, not children) in a sampling heap profile. */
export function heapTotals(head: HeapNode): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (n: HeapNode, parent: CallFrame | undefined) => {
    if (n.selfSize > 0) {
      const k = keyOf(n.callFrame, parent);
      out.set(k, (out.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, n.callFrame);
  };
  walk(head, undefined);
  return out;
}

/** Self time (µs) per function in a CPU profile. */
export function cpuTotals(p: CpuProfile): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<string, number>();
  // timeDeltas[i] is the time before sample i: sample i lasted until i + 1.
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    if (n === undefined) continue;
    const up = parent.get(n.id);
    const k = keyOf(n.callFrame, up === undefined ? undefined : byId.get(up)?.callFrame);
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  }
  return out;
}

/** The `n` largest totals, largest first. */
export function top(totals: Map<string, number>, n: number): [string, number][] {
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, n);
}
