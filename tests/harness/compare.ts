/**
 * Differential testing: the same etcdctl script against etcd and cairn, with
 * every step's normalised stdout, stderr and exit code compared.
 */

import { etcdctl } from "./etcdctl.ts";
import { Member } from "./member.ts";
import { type NormalizeOptions, normalizeOutput, normalizeStderr } from "./normalize.ts";

/** One etcdctl invocation in a script. `${var}` in args/stdin is replaced per side. */
export interface Step {
  /** etcdctl arguments (without `--endpoints`). */
  args: string[];
  /** Text for stdin; an array is fed chunk by chunk (see CtlOptions.stdin). */
  stdin?: string | string[];
  /** Variables to capture from this step's stdout, each from group 1 of its regexp. */
  capture?: Record<string, RegExp>;
  /** Normalise header revisions too (for outputs that legitimately differ). */
  revisions?: boolean;
}

/** A step's normalised observation on one side. */
export interface Observation {
  /** Exit code. */
  code: number;
  /** Normalised stdout. */
  stdout: string;
  /** Normalised stderr. */
  stderr: string;
}

/** A reference etcd and a cairn started with the same flags. */
export class Pair {
  /** The reference. */
  readonly etcd: Member;
  /** The member under test (CAIRN_CMD). */
  readonly cairn: Member;
  #vars = new Map<Member, Record<string, string>>();

  private constructor(etcd: Member, cairn: Member) {
    this.etcd = etcd;
    this.cairn = cairn;
    this.#vars.set(etcd, {});
    this.#vars.set(cairn, {});
  }

  /** Starts both members concurrently with the same name and extra flags. */
  static async start(extraArgs: string[] = [], name = "it"): Promise<Pair> {
    const started = await Promise.allSettled([
      Member.start({ kind: "etcd", name, extraArgs }),
      Member.start({ kind: "cairn", name, extraArgs }),
    ]);
    const members = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    const failure = started.find((s) => s.status === "rejected");
    if (failure) {
      await Promise.all(members.map((m) => m.destroy()));
      throw (failure as PromiseRejectedResult).reason;
    }
    return new Pair(members[0], members[1]);
  }

  /** Stops both members and removes their directories. */
  async destroy(): Promise<void> {
    await Promise.all([this.etcd.destroy(), this.cairn.destroy()]);
  }

  /** Normalisation options for one side: its own ports become placeholders. */
  normalizeOptions(member: Member, revisions = false): NormalizeOptions {
    return {
      ports: { [member.clientPort]: "CLIENT", [member.peerPort]: "PEER" },
      revisions,
    };
  }

  /** Runs one step on one side, capturing variables, and normalises the result. */
  async observe(member: Member, step: Step): Promise<Observation> {
    const vars = this.#vars.get(member)!;
    const expand = (s: string) => s.replace(/\$\{(\w+)\}/g, (_, v: string) => vars[v] ?? "");
    const res = await etcdctl(member.endpoint, step.args.map(expand), {
      stdin: typeof step.stdin === "string" ? expand(step.stdin) : step.stdin?.map(expand),
    });
    for (const [name, pattern] of Object.entries(step.capture ?? {})) {
      const match = res.stdout.match(pattern);
      if (match) vars[name] = match[1];
    }
    const opts = this.normalizeOptions(member, step.revisions);
    return {
      code: res.code,
      stdout: normalizeOutput(res.stdout, opts),
      stderr: normalizeStderr(res.stderr, opts),
    };
  }

  /**
   * Runs every step on both sides (the two sides concurrently, steps in
   * order) and throws one error listing every step whose observations differ.
   */
  async compare(steps: Step[]): Promise<void> {
    const mismatches: string[] = [];
    for (const step of steps) {
      const [want, got] = await Promise.all([
        this.observe(this.etcd, step),
        this.observe(this.cairn, step),
      ]);
      if (Deno.env.get("COMPARE_VERBOSE") === "1") {
        console.log(`== etcdctl ${step.args.join(" ")}\n${JSON.stringify(want, null, 1)}`);
      }
      const diff = describeMismatch(step, want, got);
      if (diff) mismatches.push(diff);
    }
    if (mismatches.length > 0) {
      throw new Error(
        `${mismatches.length} of ${steps.length} steps differ between etcd and cairn:\n\n` +
          mismatches.join("\n\n") + "\n\n" + await this.cairn.stderrTail(20),
      );
    }
  }
}

/** Describes how two observations differ, or returns undefined when equal. */
export function describeMismatch(
  step: Step,
  want: Observation,
  got: Observation,
): string | undefined {
  if (want.code === got.code && want.stdout === got.stdout && want.stderr === got.stderr) {
    return undefined;
  }
  const input = step.stdin === undefined ? "" : ` <<< ${JSON.stringify(step.stdin)}`;
  return [
    `== etcdctl ${step.args.join(" ")}${input}`,
    `-- etcd  (exit ${want.code}) stdout:\n${want.stdout}`,
    `-- cairn (exit ${got.code}) stdout:\n${got.stdout}`,
    want.stderr === got.stderr
      ? "-- stderr equal"
      : `-- etcd stderr:\n${want.stderr}\n-- cairn stderr:\n${got.stderr}`,
  ].join("\n");
}

/** Shorthand: a step from plain arguments. */
export function ctl(...args: string[]): Step {
  return { args };
}
