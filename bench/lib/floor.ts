/**
 * Put at 1 client against the physical floor (issue 15): one sequential
 * durable put costs at least one fdatasync of a small append plus one
 * client round trip, so no server can exceed
 * 1 ÷ (median fdatasync + median round trip of a serializable get at 1
 * client). The bench measures both parts in the same run (fsync_probe.ts
 * between the scenario rounds; the getser1 scenario on cairn) and reports
 * each server's put-at-1-client figure as a share of that floor. Pure: no
 * I/O, so it is unit-tested on fixed numbers.
 *
 * @module
 */

import { describeKind, type ProbeFileKind } from "./fsync_probe.ts";
import { median, type ScenarioOutcome } from "./report.ts";

/** The file kind the floor uses: what cairn's preallocated WAL segments are. */
export const FLOOR_KIND: ProbeFileKind = "zeroed";

/** The share of the floor issue 15 asks for. */
export const FLOOR_TARGET = 0.9;

/** What the floor section is computed from. */
export interface FloorInputs {
  /** fdatasync durations (ms) by probed file kind, every round's samples together. */
  fsyncMs: Partial<Record<ProbeFileKind, number[]>>;
  /** Bytes per probed append. */
  appendBytes: number;
  /** cairn's serializable get at 1 client, every round (their p50 is the round trip). */
  cairnGet: ScenarioOutcome[];
  /** The reported put-at-1-client outcome of each server. */
  put1: { etcd?: ScenarioOutcome; cairn?: ScenarioOutcome };
}

/** The floor and its parts; null where a part was not measured. */
export interface Floor {
  /** Median fdatasync (ms) of the floor's file kind. */
  fsyncMs: number | null;
  /** Median over rounds of cairn's getser1 p50 (ms). */
  getMs: number | null;
  /** 1000 ÷ (fsyncMs + getMs): sequential durable puts per second. */
  putsPerSecond: number | null;
}

/** Puts/s of the floor from its two parts (ms); null if either is missing or the sum is not positive. */
export function floorRate(fsyncMs: number | null, getMs: number | null): number | null {
  if (fsyncMs === null || getMs === null || !(fsyncMs + getMs > 0)) return null;
  return 1000 / (fsyncMs + getMs);
}

/** The floor of one run. */
export function computeFloor(x: FloorInputs): Floor {
  const fsyncMs = median(x.fsyncMs[FLOOR_KIND] ?? []);
  const p50s = x.cairnGet.flatMap((o) => (o.result && o.result.ok > 0 ? [o.result.p50_ms] : []));
  const getMs = median(p50s);
  return { fsyncMs, getMs, putsPerSecond: floorRate(fsyncMs, getMs) };
}

/** `rps` ÷ floor; null when either is missing. */
export function floorShare(rps: number | null | undefined, floor: number | null): number | null {
  if (rps === null || rps === undefined || floor === null || floor <= 0) return null;
  return rps / floor;
}

const n = (v: number | null, digits: number) =>
  v === null ? "n/a" : v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });

/** The markdown section: the two parts, the floor, and each server's share of it. */
export function floorSection(x: FloorInputs): string {
  const f = computeFloor(x);
  const kinds = (Object.keys(x.fsyncMs) as ProbeFileKind[]).sort();
  const lines = [
    "## Put at 1 client against the physical floor",
    "",
    "| figure | value |",
    "|---|---:|",
  ];
  for (const kind of kinds) {
    const s = x.fsyncMs[kind] ?? [];
    lines.push(
      `| fdatasync of a ${x.appendBytes} B append ${describeKind(kind)}, on the disk of the` +
        ` data dirs (ms, median of ${s.length.toLocaleString("en-US")}) | ${n(median(s), 3)} |`,
    );
  }
  lines.push(
    `| serializable get, 1 client / 1 conn, on cairn (ms, median of ${x.cairnGet.length}` +
      ` rounds' p50) | ${n(f.getMs, 3)} |`,
    `| physical floor: 1 ÷ (fdatasync into the ${FLOOR_KIND} file + that get) (puts/s) |` +
      ` ${n(f.putsPerSecond, 0)} |`,
  );
  for (const [label, o] of [["cairn", x.put1.cairn], ["etcd", x.put1.etcd]] as const) {
    const rps = o?.result?.rps ?? null;
    const share = floorShare(rps, f.putsPerSecond);
    lines.push(
      `| put, 1 client: share of the physical floor, ${label} (${n(rps, 0)} puts/s) |` +
        ` ${n(share, 2)} |`,
    );
  }
  lines.push(
    "",
    `The target (issue 15) is a share ≥ ${FLOOR_TARGET} for cairn. The fdatasync probe runs` +
      " before each scenario round, with no server running; each kind is a new file, removed" +
      " afterwards. The put figure is the comparison table's (best round).",
  );
  return lines.join("\n");
}
