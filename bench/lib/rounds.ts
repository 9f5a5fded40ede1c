/**
 * Scheduling of repeated measurements under the run's time bound: which
 * round of which kind (scenarios, cluster, watch) runs next, and which are
 * skipped for lack of time.
 *
 * @module
 */

/** One kind of measurement repeated in rounds. */
export interface RoundKind {
  /** Used in the "not enough time" note: "scenarios", "cluster", "watch". */
  name: string;
  /** Rounds wanted. */
  rounds: number;
  /** Runs round `r` (1-based) on every server in turn. */
  run: (r: number) => Promise<void>;
}

/** The clock and bounds the schedule works against. */
export interface RoundClock {
  /** Milliseconds since the run began. */
  elapsedMs: () => number;
  /** The whole run's bound, ms; a round must end 30 s before it. */
  deadlineMs: number;
  /** True once the run was aborted: nothing more starts. */
  aborted: () => boolean;
  /** Records that a kind got fewer rounds than wanted. */
  note: (text: string) => void;
}

/** Margin kept free before the deadline for writing results and stopping servers. */
const MARGIN_MS = 30_000;

/**
 * Runs round 1 of every kind first (so every row has a figure), then round
 * 2 of every kind, and so on. A later round of a kind runs only if 1.3 ×
 * that kind's first round still ends before the deadline's margin; once one
 * is skipped, that kind gets no more. Returns the rounds each kind ran.
 */
export async function runRounds(
  kinds: RoundKind[],
  clock: RoundClock,
): Promise<Record<string, number>> {
  const first = new Map<string, number>();
  const ran: Record<string, number> = Object.fromEntries(kinds.map((k) => [k.name, 0]));
  const stopped = new Set<string>();
  const most = Math.max(0, ...kinds.map((k) => k.rounds));
  for (let round = 1; round <= most; round++) {
    for (const kind of kinds) {
      if (clock.aborted()) return ran;
      if (round > kind.rounds || stopped.has(kind.name)) continue;
      const t = clock.elapsedMs();
      if (round > 1 && t + 1.3 * first.get(kind.name)! > clock.deadlineMs - MARGIN_MS) {
        clock.note(`only ${round - 1} round(s) of ${kind.name}: not enough time left`);
        stopped.add(kind.name);
        continue;
      }
      await kind.run(round);
      ran[kind.name] = round;
      if (round === 1) first.set(kind.name, clock.elapsedMs() - t);
    }
  }
  return ran;
}
