/**
 * Idle resident memory only, measured exactly as `bench/run.ts` measures its
 * "idle RSS" row: start a fresh single member (etcd and cairn, alternating),
 * wait until it has served a linearizable Get (kvtool's probe), wait
 * `IDLE_WAIT_MS` (default 1000, as run.ts), then read VmRSS / RssAnon /
 * RssFile of the process tree from /proc. Repeats `ROUNDS` times (default 3)
 * and prints every sample and the medians, so a change to start-up memory
 * can be checked in a minute instead of a whole `make bench`.
 *
 * Usage: `deno run -A bench/idle_rss.ts` (ETCD_CMD / CAIRN_CMD override the
 * commands as in run.ts; ONLY=cairn skips etcd). CAIRN_B_CMD adds a second
 * cairn command, "cairn-b", started in turn with the others: an A/B of two
 * builds in the same minutes, since the figures move by 2-3 MiB with the
 * machine's load and page cache.
 *
 * @module
 */
import { defaultCairnArgv } from "./lib/cairn_cmd.ts";
import { type ServerSpec, startServer } from "./lib/server.ts";
import { ensureKvtool, repoRoot } from "./lib/tools.ts";
import type { Rss } from "./lib/proc.ts";

function splitCommand(cmd: string): string[] {
  return cmd.trim().split(/\s+/);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

async function main(): Promise<void> {
  const repo = repoRoot();
  const kvtool = await ensureKvtool(repo);
  const rounds = Number(Deno.env.get("ROUNDS") ?? "3");
  const waitMs = Number(Deno.env.get("IDLE_WAIT_MS") ?? "1000");
  const only = Deno.env.get("ONLY");
  const specs: ServerSpec[] = [
    { name: "etcd", argv: splitCommand(Deno.env.get("ETCD_CMD") ?? "etcd") },
    {
      name: "cairn",
      argv: Deno.env.get("CAIRN_CMD")
        ? splitCommand(Deno.env.get("CAIRN_CMD")!)
        : defaultCairnArgv(repo),
    },
  ];
  const b = Deno.env.get("CAIRN_B_CMD");
  if (b) specs.push({ name: "cairn-b", argv: splitCommand(b) });
  const chosen = specs.filter((s) => only === undefined || s.name.startsWith(only));
  const workDir = await Deno.makeTempDir({ prefix: "cairn-idle-rss-" });
  const samples = new Map<string, Rss[]>();
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const spec of chosen) {
        const s = await startServer(spec, workDir, `idle${r}`, kvtool, 30_000);
        try {
          await new Promise((res) => setTimeout(res, waitMs));
          const rss = s.rss();
          samples.set(spec.name, [...(samples.get(spec.name) ?? []), rss]);
          console.log(
            `${spec.name} round ${r}: rss ${mib(rss.rssKiB)} MiB (anon ${mib(rss.anonKiB)}, file ${
              mib(rss.fileKiB)
            }), served after ${s.startupMs.toFixed(0)} ms`,
          );
        } finally {
          await s.stop();
        }
      }
    }
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
  for (const [name, xs] of samples) {
    console.log(
      `${name} median: rss ${mib(median(xs.map((x) => x.rssKiB)))} MiB (anon ${
        mib(median(xs.map((x) => x.anonKiB)))
      }, file ${mib(median(xs.map((x) => x.fileKiB)))})`,
    );
  }
  const e = samples.get("etcd"), c = samples.get("cairn");
  if (e && c) {
    const ratio = median(c.map((x) => x.rssKiB)) / median(e.map((x) => x.rssKiB));
    console.log(`cairn / etcd: ${ratio.toFixed(2)}x (load ${Deno.loadavg().join(" ")})`);
  }
}

if (import.meta.main) await main();
