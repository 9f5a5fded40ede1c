/**
 * Text renderings of a Jepsen run: a Markdown report (bench/JEPSEN.md) and a
 * short summary for test output. A non-linearizable key is shown with its
 * minimal witness, then its whole history.
 *
 * @module
 */

import { formatHistory } from "../lin/format.ts";
import { FAULT_KINDS } from "./nemesis.ts";
import type { JepsenReport } from "./run.ts";

const s = (ms: number | null) => ms === null ? "-" : `${(ms / 1000).toFixed(1)} s`;

/** A few lines: verdict, op counts, fault counts. */
export function summary(r: JepsenReport): string {
  const k = r.ops.byKind;
  const faults = FAULT_KINDS.map((f) => `${f} ${r.nemesis.counts[f]}`).join(", ");
  const lines = [
    `verdict: ${r.verdict} (seed ${r.seed})`,
    `ops: ${r.ops.total} (get ${k.get.ok} ok / ${k.get.unknown} failed; ` +
    `put ${k.put.ok} ok / ${k.put.fail} not sent / ${k.put.unknown} unknown; ` +
    `cas ${k.cas.ok} ok (${r.ops.casSwapped} swapped) / ${k.cas.fail} not sent / ` +
    `${k.cas.unknown} unknown) + ${r.ops.finalReads} final reads`,
    `faults: ${faults}; ${r.nemesis.kills} kills, ${r.nemesis.restarts} restarts, ` +
    `${r.nemesis.pauses} pauses`,
    `keys: ${r.keys.length} checked, ${r.violations.length} not linearizable, ` +
    `${r.tooBig.length} too big to decide; planted stale read caught: ${r.plantedCaught}`,
    `time: start ${s(r.timing.startup)}, faults ${s(r.timing.faults)}, ` +
    `recovery ${s(r.timing.recovery)}, check ${s(r.timing.check)}, total ${s(r.timing.total)}`,
  ];
  if (r.unexpectedExits.length > 0) {
    lines.push(
      `members that exited by themselves: ` +
        r.unexpectedExits.map((e) => `${e.member} (code ${e.code})`).join(", "),
    );
  }
  if (r.recoveryProblems.length > 0) {
    lines.push(`recovery problems: ${r.recoveryProblems.join("; ")}`);
  }
  return lines.join("\n");
}

/** The witness and full history of every violation, for a failure message. */
export function violationsText(r: JepsenReport): string {
  return r.violations.map((v) =>
    `key ${v.key} is not linearizable. Minimal witness (${v.witness.length} of ` +
    `${v.history.length} ops; times in ms from its first op):\n${formatHistory(v.witness)}\n` +
    `whole history of ${v.key}:\n${formatHistory(v.history)}`
  ).join("\n\n");
}

/** The Markdown report. */
export function markdown(r: JepsenReport, command: string): string {
  const k = r.ops.byKind;
  const row = (name: string, c: { ok: number; fail: number; unknown: number }) =>
    `| ${name} | ${c.ok} | ${c.fail} | ${c.unknown} |`;
  const out: string[] = [
    "# Jepsen-style check of cairn",
    "",
    `Written by \`${command}\` on ${new Date().toISOString()}.`,
    "",
    "Three cairn members in Linux network namespaces; clients run random get/put/CAS through",
    "random members with `etcdctl` while the nemesis kills (SIGKILL), pauses (SIGSTOP),",
    "partitions and reconfigures the cluster; then everything is healed, every key is read",
    "through every member, and each key's history is checked for linearizability",
    "(tests/lin/checker.ts). A write without an answer may have taken effect at any time",
    "after it was sent, or never; the checker allows both.",
    "",
    `**Verdict: ${r.verdict}.**`,
    "",
    `Seed ${r.seed}; ${s(r.timing.faults)} of faults; startup ${s(r.timing.startup)}, ` +
    `recovery after the last heal ${s(r.timing.recovery)}, check ${s(r.timing.check)}, ` +
    `total ${s(r.timing.total)}.`,
    "",
    "## Operations",
    "",
    "| op | ok | not sent | unknown outcome |",
    "| --- | ---: | ---: | ---: |",
    row("get", k.get),
    row("put", k.put),
    row("cas", k.cas),
    "",
    `${r.ops.total} client operations; ${r.ops.casSwapped} swaps succeeded and ` +
    `${r.ops.casNotSwapped} found another value; plus ${r.ops.finalReads} final reads ` +
    `(through ${r.finalReadMembers.join(", ") || "no member"}). A failed get is counted as ` +
    "unknown and observed nothing.",
    "",
    "## Faults",
    "",
    "| fault | cycles |",
    "| --- | ---: |",
    ...FAULT_KINDS.map((f) => `| ${f} | ${r.nemesis.counts[f]} |`),
    "",
    `${r.nemesis.kills} processes killed, ${r.nemesis.restarts} restarted, ${r.nemesis.pauses} ` +
    `paused; ${r.nemesis.faults.filter((f) => f.leader).length} of ` +
    `${r.nemesis.faults.length} faults aimed at the leader. Recovery after a heal (all ` +
    `members healthy): ${recoveryStats(r)}.`,
    "",
    "## Keys",
    "",
    `${r.keys.length} keys checked: ${
      r.keys.filter((x) => x.verdict === "linearizable").length
    } linearizable, ${r.violations.length} not, ${r.tooBig.length} too big to decide ` +
    `(search bound). Largest key history: ${Math.max(0, ...r.keys.map((x) => x.ops))} ops; ` +
    `most search steps on one key: ${Math.max(0, ...r.keys.map((x) => x.steps))}.`,
    "",
    `Check of the checker: a stale read planted in this history was ${
      r.plantedCaught === undefined ? "not plantable" : r.plantedCaught ? "caught" : "NOT caught"
    }.`,
    "",
    "## Cluster",
    "",
    `Members that exited by themselves: ${
      r.unexpectedExits.length === 0
        ? "none"
        : r.unexpectedExits.map((e) => `${e.member} (code ${e.code}, signal ${e.signal})`).join(
          ", ",
        )
    }. Recovery problems: ${r.recoveryProblems.join("; ") || "none"}. hashkv after recovery: ${
      Object.entries(r.hashes).map(([m, h]) => `${m} ${h}`).join(", ") || "not read"
    }.`,
  ];
  for (const e of r.unexpectedExits) {
    out.push("", "```", e.tail, "```");
  }
  if (r.violations.length > 0) {
    out.push("", "## Violations", "", "```", violationsText(r), "```");
  }
  out.push(
    "",
    "## Fault log",
    "",
    "| start | fault | targets | healed | healthy after |",
    "| ---: | --- | --- | ---: | ---: |",
    ...r.nemesis.faults.map((f) =>
      `| ${s(f.start)} | ${f.kind}${f.leader ? " (leader)" : ""} | ${f.targets.join(", ")} | ${
        s(f.healed)
      } | ${f.recoveredMs === null ? "not within bound" : s(f.recoveredMs)}${
        f.problems.length ? ` (${f.problems.join("; ")})` : ""
      } |`
    ),
    "",
  );
  return out.join("\n");
}

function recoveryStats(r: JepsenReport): string {
  const done = r.nemesis.faults.map((f) => f.recoveredMs).filter((x): x is number => x !== null);
  const missed = r.nemesis.faults.length - done.length;
  if (done.length === 0) return missed ? `never within the bound (${missed})` : "no faults";
  const sorted = [...done].sort((a, b) => a - b);
  return `median ${s(sorted[Math.floor(sorted.length / 2)])}, max ${s(sorted.at(-1)!)}` +
    (missed ? `, ${missed} not within the bound` : "");
}
