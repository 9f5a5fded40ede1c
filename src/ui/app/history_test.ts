import assert from "node:assert/strict";
import { loadHistory } from "./history.ts";

type Ev = { type: 0 | 1; rev: bigint; value?: string };

/**
 * A member's history of one key as the two calls loadHistory makes see it:
 * Range answers the latest revision; Watch replays events from its start
 * revision (or is canceled below the compaction point), then stays open
 * with nothing more to say, as a caught-up watch does.
 */
function fakeMember(events: Ev[], opts: { exists: boolean; compacted?: bigint }) {
  const starts: bigint[] = [];
  const last = events[events.length - 1];
  const clients = {
    kv: {
      range: () =>
        Promise.resolve({
          kvs: opts.exists && last ? [{ modRevision: last.rev }] : [],
        }),
    },
    streams: {
      async *watch(req: { startRevision: bigint }, call: { signal: AbortSignal }) {
        starts.push(req.startRevision);
        yield { created: true, canceled: false, compactRevision: 0n, cancelReason: "", events: [] };
        if (opts.compacted && req.startRevision < opts.compacted) {
          yield {
            created: false,
            canceled: true,
            compactRevision: opts.compacted,
            cancelReason: "",
            events: [],
          };
          return;
        }
        for (const e of events.filter((e) => e.rev >= req.startRevision)) {
          yield {
            created: false,
            canceled: false,
            compactRevision: 0n,
            cancelReason: "",
            events: [{
              type: e.type,
              kv: {
                modRevision: e.rev,
                version: 1n,
                value: new TextEncoder().encode(e.value ?? ""),
                lease: 0n,
              },
            }],
          };
        }
        // Caught up: the stream stays open until the caller aborts it.
        await new Promise<void>((resolve) =>
          call.signal.addEventListener("abort", () => resolve())
        );
        throw new DOMException("aborted", "AbortError");
      },
    },
  };
  return { clients: clients as unknown as Parameters<typeof loadHistory>[0], starts };
}

const key = new TextEncoder().encode("k");

Deno.test("history: an existing key's history ends at its latest revision", async () => {
  const { clients } = fakeMember([
    { type: 0, rev: 2n, value: "a" },
    { type: 1, rev: 4n },
    { type: 0, rev: 7n, value: "b" },
  ], { exists: true });
  const h = await loadHistory(clients, key, { timeoutMs: 5_000 });
  assert.deepEqual(h.revisions.map((r) => `${r.revision}:${r.type}`), [
    "2:put",
    "4:delete",
    "7:put",
  ]);
  assert.equal(h.compactRevision, 0n);
});

Deno.test("history: a compacted start is retried from the compaction revision", async () => {
  const { clients, starts } = fakeMember([
    { type: 0, rev: 6n, value: "x" },
    { type: 0, rev: 9n, value: "y" },
  ], { exists: true, compacted: 5n });
  const h = await loadHistory(clients, key, { timeoutMs: 5_000 });
  assert.deepEqual(starts, [1n, 5n]);
  assert.equal(h.compactRevision, 5n);
  assert.deepEqual(h.revisions.map((r) => r.revision), [6n, 9n]);
});

Deno.test("history: a deleted key's history ends when the stream goes quiet", async () => {
  const { clients } = fakeMember([
    { type: 0, rev: 3n, value: "x" },
    { type: 1, rev: 5n },
  ], { exists: false });
  const h = await loadHistory(clients, key, { quietMs: 100, timeoutMs: 5_000 });
  assert.deepEqual(h.revisions.map((r) => r.type), ["put", "delete"]);
});

Deno.test("history: only the latest `max` revisions are kept", async () => {
  const events: Ev[] = Array.from({ length: 20 }, (_, i) => ({ type: 0, rev: BigInt(i + 1) }));
  const { clients } = fakeMember(events, { exists: true });
  const h = await loadHistory(clients, key, { max: 5, timeoutMs: 5_000 });
  assert.equal(h.truncated, true);
  assert.deepEqual(h.revisions.map((r) => r.revision), [16n, 17n, 18n, 19n, 20n]);
});
