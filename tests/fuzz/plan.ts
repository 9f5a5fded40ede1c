/**
 * How many cases a fuzzer runs, from which seed, and how a failure names
 * the case that found it.
 *
 * Environment:
 * - `FUZZ_SEED=<n>`: the run's seed (default: a fresh random one, printed);
 * - `FUZZ_CASES=<n>`: cases per fuzzer instead of its CI default (`make
 *   fuzz` sets a large number), scaled by the fuzzer's weight (a costly
 *   one runs fewer); the time budget is then lifted unless
 *   `FUZZ_BUDGET_MS` is given too;
 * - `FUZZ_CASE=<i>` or `FUZZ_CASE=<i>-<j>`: run only that case or range
 *   (with the seed of the failing run, this replays it);
 * - `FUZZ_BUDGET_MS=<ms>`: wall-clock budget per fuzzer (CI default:
 *   each fuzzer's own, a few tens of seconds), after which it stops early
 *   and says how far it got;
 * - `FUZZ_VERBOSE=1`: print every case and what became of it.
 *
 * @module
 */
import { Rng } from "./rng.ts";

/** What one fuzzer will run. */
export interface FuzzPlan {
  /** Fuzzer name, used in every message. */
  name: string;
  /** Test file, for the replay command. */
  file: string;
  seed: number;
  /** First case index (inclusive). */
  first: number;
  /** Last case index (exclusive). */
  end: number;
  /** Stop starting new cases after this many ms (Infinity: never). */
  budgetMs: number;
  /** When the plan was made (the budget counts from here). */
  startedAt: number;
}

/** A fuzzer's CI defaults. */
export interface FuzzDefaults {
  cases: number;
  budgetMs: number;
  /** Share of FUZZ_CASES this fuzzer runs (default 1; a real-process fuzzer takes far fewer). */
  weight?: number;
}

function envInt(name: string): number | undefined {
  const raw = Deno.env.get(name)?.trim();
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${name}=${raw}: expected an integer >= 0`);
  }
  return n;
}

/** The run's seed: FUZZ_SEED, or one drawn once per process (so all fuzzers of a file share it). */
let processSeed: number | undefined;
function seedFromEnv(): number {
  const given = envInt("FUZZ_SEED");
  if (given !== undefined) return given;
  processSeed ??= crypto.getRandomValues(new Uint32Array(1))[0];
  return processSeed;
}

/** Reads the environment into a plan, and prints it (the seed is what replays a failure). */
export function fuzzPlan(name: string, file: string, defaults: FuzzDefaults): FuzzPlan {
  const seed = seedFromEnv();
  const cases = envInt("FUZZ_CASES");
  const budget = envInt("FUZZ_BUDGET_MS");
  let first = 0;
  let end = cases === undefined
    ? defaults.cases
    : Math.max(1, Math.ceil(cases * (defaults.weight ?? 1)));
  const only = Deno.env.get("FUZZ_CASE")?.trim();
  if (only) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(only);
    if (!m) throw new Error(`FUZZ_CASE=${only}: expected <i> or <i>-<j>`);
    first = Number(m[1]);
    end = m[2] === undefined ? first + 1 : Number(m[2]) + 1;
  }
  const budgetMs = budget ?? (cases !== undefined || only ? Infinity : defaults.budgetMs);
  const plan = { name, file, seed, first, end, budgetMs, startedAt: Date.now() };
  console.log(
    `fuzz ${name}: seed ${seed}, cases ${first}..${end - 1}` +
      (Number.isFinite(budgetMs) ? `, budget ${budgetMs} ms` : ""),
  );
  return plan;
}

/** Whether FUZZ_VERBOSE asks for a line per case. */
export const VERBOSE = Deno.env.get("FUZZ_VERBOSE") === "1";

/** Prints a line about one case when FUZZ_VERBOSE=1. */
export function trace(plan: FuzzPlan, index: number, line: string): void {
  if (VERBOSE) console.log(`fuzz ${plan.name} #${index}: ${line}`);
}

/** True once the plan's time budget is spent. */
export function overBudget(plan: FuzzPlan): boolean {
  return Date.now() - plan.startedAt > plan.budgetMs;
}

/** The generator of one case of the plan (`stream` separates independent uses within a case). */
export function caseRng(plan: FuzzPlan, index: number, stream = 0): Rng {
  return Rng.forCase(plan.seed, index, stream);
}

/** The command that replays cases `from`..`to` of this plan's run. */
export function replayCommand(plan: FuzzPlan, from: number, to = from): string {
  const range = from === to ? `${from}` : `${from}-${to}`;
  return `FUZZ_SEED=${plan.seed} FUZZ_CASE=${range} deno test -A ${plan.file}`;
}

/** A property failed on a case (or a batch of cases) of a fuzz run. */
export class FuzzFailure extends Error {
  /** Names the seed and cases and says how to replay them. */
  constructor(plan: FuzzPlan, from: number, to: number, detail: string) {
    const which = from === to ? `case ${from}` : `cases ${from}..${to}`;
    super(
      `fuzz ${plan.name}: ${which} of seed ${plan.seed} failed: ${detail}\n` +
        `  replay: ${replayCommand(plan, from, to)}`,
    );
    this.name = "FuzzFailure";
  }
}

/**
 * Cuts the plan's case indexes into batches of `size`, stopping (with a
 * line saying so) once the budget is spent. Returns how many cases ran
 * through `onBatch`.
 */
export async function forEachBatch(
  plan: FuzzPlan,
  size: number,
  onBatch: (from: number, to: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  for (let from = plan.first; from < plan.end; from += size) {
    if (overBudget(plan)) {
      console.log(
        `fuzz ${plan.name}: time budget of ${plan.budgetMs} ms spent after ${done} cases ` +
          `(next: ${replayCommand(plan, from, plan.end - 1)})`,
      );
      break;
    }
    const to = Math.min(plan.end, from + size) - 1;
    await onBatch(from, to);
    done += to - from + 1;
  }
  console.log(`fuzz ${plan.name}: ${done} cases passed (seed ${plan.seed})`);
  return done;
}
