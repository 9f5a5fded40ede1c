import assert from "node:assert/strict";
import { FrameWriter, type WritableConn } from "./writer.ts";

/** A socket whose writes complete when the test says (`release`), keeping every byte. */
class SlowConn implements WritableConn {
  readonly written: number[] = [];
  #held: (() => void)[] = [];
  hold = false;
  write(p: Uint8Array): Promise<number> {
    // Copy now: the writer may reuse its gathering buffer once a write is done.
    const bytes = [...p];
    if (!this.hold) {
      this.written.push(...bytes);
      return Promise.resolve(p.length);
    }
    return new Promise((resolve) =>
      this.#held.push(() => {
        this.written.push(...bytes);
        resolve(p.length);
      })
    );
  }
  release(): void {
    this.hold = false;
    for (const f of this.#held.splice(0)) f();
  }
  close(): void {}
}

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: number[];
}

function parse(bytes: number[]): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < bytes.length;) {
    const len = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    const id = ((bytes[i + 5] << 24) | (bytes[i + 6] << 16) | (bytes[i + 7] << 8) | bytes[i + 8]) &
      0x7fffffff;
    out.push({
      type: bytes[i + 3],
      flags: bytes[i + 4],
      id,
      payload: bytes.slice(i + 9, i + 9 + len),
    });
    i += 9 + len;
  }
  return out;
}

const turn = () => new Promise((r) => setTimeout(r, 0));

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await turn();
  }
}

const payload = (n: number, seed: number) =>
  new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);

Deno.test("writer: small (staged) and large frames, sends and control frames leave in queue order", async () => {
  const conn = new SlowConn();
  const w = new FrameWriter(conn, () => {}, (e) => {
    throw e;
  });
  // Small frames past one staging buffer, with large frames and raw sends among them,
  // queued both before and while a write is in flight.
  const want: Frame[] = [];
  const frame = (type: number, id: number, n: number) => {
    const p = payload(n, id);
    w.frame(type, 0, id, p);
    want.push({ type, flags: 0, id, payload: [...p] });
  };
  const raw = (id: number) => {
    const p = payload(20, id);
    const bytes = new Uint8Array(9 + 20);
    bytes.set([0, 0, 20, 8, 0, 0, 0, id >> 8, id & 0xff], 0);
    bytes.set(p, 9);
    w.control(bytes);
    want.push({ type: 8, flags: 0, id, payload: [...p] });
  };
  frame(1, 1, 30);
  frame(0, 1, 5);
  frame(0, 3, 4000);
  raw(5);
  frame(1, 7, 0);
  conn.hold = true;
  await turn(); // the first write is now in flight and held
  for (let id = 9; id < 400; id += 2) frame(id % 3 === 0 ? 1 : 0, id, 100 + (id % 400));
  frame(0, 401, 20_000);
  raw(403);
  frame(1, 405, 512);
  frame(1, 407, 513);
  assert.ok(w.backlog > 0);
  conn.release();
  await until(() => w.backlog === 0 && parse(conn.written).length === want.length, "every frame");
  assert.deepEqual(parse(conn.written), want);
});

Deno.test("writer: frameAt copies b[start, end): the buffer overwritten right after changes nothing sent", async () => {
  const conn = new SlowConn();
  const w = new FrameWriter(conn, () => {}, (e) => {
    throw e;
  });
  const shared = new Uint8Array(2048);
  const want: Frame[] = [];
  const frameAt = (id: number, start: number, n: number) => {
    const p = payload(n, id);
    shared.set(p, start);
    w.frameAt(0, 1, id, shared, start, start + n);
    shared.fill(0xee); // reused at once, as a call's response buffer is
    want.push({ type: 0, flags: 1, id, payload: [...p] });
  };
  frameAt(1, 0, 25);
  conn.hold = true;
  await turn(); // a write in flight: what follows waits in the queue
  frameAt(3, 7, 0);
  frameAt(5, 3, 512);
  frameAt(7, 100, 513); // past the staged size: copied out as its own array
  frameAt(9, 0, 2048);
  conn.release();
  await until(() => w.backlog === 0 && parse(conn.written).length === want.length, "every frame");
  assert.deepEqual(parse(conn.written), want);
});

Deno.test("writer: frames dropped by discardQueued never reach the socket", async () => {
  const conn = new SlowConn();
  const w = new FrameWriter(conn, () => {}, (e) => {
    throw e;
  });
  conn.hold = true;
  w.frame(0, 0, 1, payload(10, 1));
  await turn(); // in flight
  w.frame(0, 0, 3, payload(10, 3));
  w.frame(0, 0, 5, payload(10_000, 5));
  w.discardQueued();
  assert.equal(w.backlog, 0);
  w.frame(0, 0, 7, payload(10, 7));
  conn.release();
  await until(() => parse(conn.written).length >= 2, "two frames");
  await turn();
  assert.deepEqual(parse(conn.written).map((f) => f.id), [1, 7]);
});

Deno.test("writer: written() settles only once the frames queued before it were handed to the socket", async () => {
  const conn = new SlowConn();
  const w = new FrameWriter(conn, () => {}, (e) => {
    throw e;
  });
  await w.written(); // nothing queued: at once
  conn.hold = true;
  const first = payload(2000, 1);
  w.frame(0, 0, 1, first);
  let firstDone = false;
  w.written().then(() => (firstDone = true));
  await until(() => conn.written.length === 0 && w.backlog === 0, "the first write in flight");
  // Queued while the first write is in flight: it goes in the next write.
  const second = payload(2000, 2);
  w.frame(0, 0, 3, second);
  let secondDone = false;
  w.written().then(() => (secondDone = true));
  await turn();
  assert.equal(firstDone, false, "the first frame is still in a write that has not completed");
  conn.release();
  conn.hold = true;
  await until(() => firstDone, "the first write to complete");
  assert.equal(secondDone, false, "the second frame waits for its own write");
  conn.release();
  await until(() => secondDone, "the second write to complete");
  const frames = parse(conn.written);
  assert.deepEqual(frames.map((f) => f.payload), [[...first], [...second]]);
});
