/**
 * Throughput between two transports on loopback, in one process:
 * `deno run -A src/transport/transport_bench.ts`. The sender keeps a bounded
 * number of messages in flight (so the queue never drops) and sends a batch
 * per turn; figures are for delivered messages and encoded bytes.
 *
 * @module
 */
import { encodeBatch } from "./codec.ts";
import { memoryLog } from "./test_util.ts";
import { Transport } from "./transport.ts";
import { type Message, MessageType, newMessage } from "../raft/types.ts";

interface Shape {
  name: string;
  entries: number;
  entryBytes: number;
  perTurn: number;
}

const SHAPES: Shape[] = [
  { name: "heartbeat-sized (no entries)", entries: 0, entryBytes: 0, perTurn: 64 },
  { name: "append, 1 entry x 128 B", entries: 1, entryBytes: 128, perTurn: 64 },
  { name: "append, 100 entries x 128 B", entries: 100, entryBytes: 128, perTurn: 8 },
  { name: "append, 1 entry x 64 KiB", entries: 1, entryBytes: 65536, perTurn: 4 },
];

function message(s: Shape, n: number): Message {
  return newMessage({
    type: s.entries ? MessageType.App : MessageType.Heartbeat,
    from: 0x8e9e05c52164694dn,
    to: 0xfd422379fda50e48n,
    term: 4,
    logTerm: 4,
    index: 1_000_000 + n,
    commit: 999_000 + n,
    entries: Array.from({ length: s.entries }, (_, i) => ({
      term: 4,
      index: 1_000_001 + n + i,
      type: 0,
      data: new Uint8Array(s.entryBytes).fill(i),
    })),
  });
}

async function run(s: Shape, seconds: number): Promise<void> {
  const logs: string[] = [];
  let received = 0;
  let wake: (() => void) | undefined;
  const common = {
    clusterId: 7n,
    listenUrls: [new URL("http://127.0.0.1:0")],
    log: memoryLog(logs),
    isMember: () => true,
    onSnapshot() {},
    onUnreachable() {
      throw new Error("dropped: the window is too large");
    },
    onSnapshotStatus() {},
  };
  const a = await Transport.start({ ...common, selfId: 0x8e9e05c52164694dn, onMessages() {} });
  const b = await Transport.start({
    ...common,
    selfId: 0xfd422379fda50e48n,
    onMessages(msgs) {
      received += msgs.length;
      wake?.();
    },
  });
  a.setPeer(0xfd422379fda50e48n, [`http://127.0.0.1:${b.addresses[0].port}`]);
  while (!a.isActive(0xfd422379fda50e48n)) await new Promise((r) => setTimeout(r, 5));
  const batch = Array.from({ length: s.perTurn }, (_, i) => message(s, i));
  const msgBytes = encodeBatch([batch[0]]).length;
  // Stay inside the default queue bounds (4096 messages, 64 MiB) so nothing is dropped.
  const window = Math.min(2048, Math.floor((32 << 20) / msgBytes));
  let sent = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    a.send(batch);
    sent += batch.length;
    if (sent - received > window) {
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    } else {
      await new Promise((r) => setImmediate(r));
    }
  }
  while (received < sent) {
    await new Promise<void>((r) => (wake = r));
  }
  const secs = (performance.now() - start) / 1000;
  const rate = received / secs;
  console.log(
    `${s.name.padEnd(30)} ${Math.round(rate).toLocaleString("en").padStart(10)} msg/s ` +
      `${(rate * msgBytes / 1e6).toFixed(1).padStart(7)} MB/s  (${msgBytes} B/msg)`,
  );
  if (logs.length) console.log(logs.join(""));
  await a.stop();
  await b.stop();
}

/** One append and its reply at a time: the latency a lone client's write sees. */
async function pingPong(seconds: number): Promise<void> {
  const logs: string[] = [];
  const ids = [1n, 2n];
  let trips = 0;
  let done: (() => void) | undefined;
  const ts: Transport[] = [];
  for (const id of ids) {
    ts.push(
      await Transport.start({
        selfId: id,
        clusterId: 7n,
        listenUrls: [new URL("http://127.0.0.1:0")],
        log: memoryLog(logs),
        isMember: () => true,
        onMessages(msgs) {
          for (const m of msgs) {
            if (m.type === MessageType.App) {
              ts[1].send([
                newMessage({ type: MessageType.AppResp, from: 2n, to: 1n, index: m.index }),
              ]);
            } else {
              trips++;
              done?.();
            }
          }
        },
        onSnapshot() {},
        onUnreachable() {},
        onSnapshotStatus() {},
      }),
    );
  }
  ts[0].setPeer(2n, [`http://127.0.0.1:${ts[1].addresses[0].port}`]);
  ts[1].setPeer(1n, [`http://127.0.0.1:${ts[0].addresses[0].port}`]);
  while (!ts[0].isActive(2n) || !ts[1].isActive(1n)) await new Promise((r) => setTimeout(r, 5));
  const s = SHAPES[1];
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const p = new Promise<void>((r) => (done = r));
    ts[0].send([{ ...message(s, trips), from: 1n, to: 2n }]);
    await p;
  }
  const secs = (performance.now() - start) / 1000;
  console.log(
    `${"ping-pong append/reply".padEnd(30)} ${
      Math.round(trips / secs).toLocaleString("en").padStart(10)
    } ` +
      `round trips/s (${(secs * 1e6 / trips).toFixed(0)} µs each)`,
  );
  for (const t of ts) await t.stop();
}

for (const s of SHAPES) await run(s, Number(Deno.args[0] ?? 2));
await pingPong(Number(Deno.args[0] ?? 2));
