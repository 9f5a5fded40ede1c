/**
 * Helpers the cluster tests share: filling a member with keys, reading one
 * back from a member's own store, and waiting on a condition with a bound.
 *
 * @module
 */
import { etcdctl } from "./etcdctl.ts";
import { GrpcClient } from "./grpc.ts";
import { type Member, sleep } from "./member.ts";

/**
 * Puts `<prefix>0 … <prefix>(n-1)` through `m`, 50 at a time: each `v<i>`,
 * or `value` for all when given.
 */
export async function putMany(
  m: Member,
  prefix: string,
  n: number,
  value?: string,
): Promise<void> {
  const client = new GrpcClient(m.clientUrl);
  try {
    for (let i = 0; i < n; i += 50) {
      const puts = [];
      for (let j = i; j < Math.min(n, i + 50); j++) {
        puts.push(client.put(`${prefix}${j}`, value ?? `v${j}`));
      }
      await Promise.all(puts);
    }
  } finally {
    await client.close();
  }
}

/** `key`'s value as `m` itself holds it (serializable), or `error: …`. */
export async function serializableGet(m: Member, key: string): Promise<string> {
  const res = await etcdctl(m.endpoint, ["get", key, "--print-value-only", "--consistency=s"]);
  return res.code === 0 ? res.stdout.trim() : `error: ${res.stderr.trim()}`;
}

/** Polls `ok` every 200 ms until it holds (a throw counts as no); throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  ok: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}
