import assert from "node:assert/strict";
import { type Disk, type DiskFile, REAL_DISK } from "./disk.ts";
import { SegmentPipeline, SPARE_SLICE } from "./segment_pipeline.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-pipeline-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const tmpFiles = (dir: string) =>
  [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wal.tmp"));

/** A disk whose files pass every call through to the real one, except those in `override`. */
function diskWith(override: (f: DiskFile) => Partial<DiskFile>): Disk {
  return {
    ...REAL_DISK,
    open: async (path, opts) => {
      const f = await REAL_DISK.open(path, opts);
      return {
        writeSync: (b) => f.writeSync(b),
        read: (b) => f.read(b),
        write: (b) => f.write(b),
        syncDataSync: () => f.syncDataSync(),
        syncData: () => f.syncData(),
        sync: () => f.sync(),
        truncate: (n) => f.truncate(n),
        seekSync: (o, w) => f.seekSync(o, w),
        seek: (o, w) => f.seek(o, w),
        close: () => f.close(),
        ...override(f),
      };
    },
  };
}

Deno.test("segment pipeline: a spare is zero-filled to the segment size, positioned at 0", async () => {
  await withDir(async (dir) => {
    const size = 3 * (1 << 20) + 123; // not a whole number of chunks
    const p = new SegmentPipeline(dir, size, REAL_DISK);
    assert.equal(p.ready, false);
    p.prepare();
    assert.equal(p.pending, true);
    await p.settled();
    assert.equal(p.ready, true);
    const spare = await p.take();
    assert.equal(p.ready, false);
    assert.equal(p.pending, false);
    const bytes = await Deno.readFile(spare.path);
    assert.equal(bytes.length, size);
    assert.ok(bytes.every((b) => b === 0));
    spare.file.writeSync(new Uint8Array([7]));
    spare.file.close();
    assert.equal((await Deno.readFile(spare.path))[0], 7, "the spare was positioned at 0");
    await p.close();
  });
});

Deno.test("segment pipeline: take() waits for a spare being prepared, each spare has its own name", async () => {
  await withDir(async (dir) => {
    const p = new SegmentPipeline(dir, 8192, REAL_DISK);
    const a = await p.take(); // none prepared: take starts one and waits for it
    p.prepare();
    const b = await p.take();
    assert.notEqual(a.path, b.path);
    a.file.close();
    b.file.close();
    await p.close();
  });
});

Deno.test("segment pipeline: close() drops the spare; take() after close is refused", async () => {
  await withDir(async (dir) => {
    const p = new SegmentPipeline(dir, 8192, REAL_DISK);
    p.prepare();
    await p.close(); // while it may still be preparing
    assert.deepEqual(tmpFiles(dir), []);
    await assert.rejects(() => p.take(), /closed/);
  });
});

Deno.test("segment pipeline: a failure to prepare reaches take(), not an unhandled rejection", async () => {
  await withDir(async (dir) => {
    const full = diskWith(() => ({
      write: () => Promise.reject(new Error("No space left on device (os error 28)")),
    }));
    const p = new SegmentPipeline(dir, 8192, full);
    p.prepare();
    await p.settled(); // the rejection is held, not thrown here
    assert.equal(p.ready, false);
    await assert.rejects(() => p.take(), /No space left/);
    assert.deepEqual(tmpFiles(dir), [], "the half-made spare was removed");
    await p.close();
  });
});

Deno.test("segment pipeline: a spare reaches the disk in slices, never more than SPARE_SLICE unsynced", async () => {
  await withDir(async (dir) => {
    // What the disk is asked to hold between two syncs: the WAL's own
    // fdatasync of that moment waits for all of it.
    let unsynced = 0;
    let mostUnsynced = 0;
    let syncs = 0;
    const synced = () => {
      mostUnsynced = Math.max(mostUnsynced, unsynced);
      unsynced = 0;
      syncs++;
    };
    const counting = diskWith((f) => ({
      write: async (b) => {
        const n = await f.write(b);
        unsynced += n;
        return n;
      },
      syncData: async () => {
        await f.syncData();
        synced();
      },
      sync: async () => {
        await f.sync();
        synced();
      },
    }));
    const size = 8 * SPARE_SLICE + 123;
    const p = new SegmentPipeline(dir, size, counting);
    const spare = await p.take();
    spare.file.close();
    assert.equal((await Deno.stat(spare.path)).size, size);
    assert.equal(unsynced, 0, "everything written was synced before the spare was handed out");
    assert.ok(mostUnsynced <= SPARE_SLICE, `${mostUnsynced} bytes were left unsynced at once`);
    assert.equal(syncs, 9, "one sync per slice, the last one an fsync");
    await p.close();
  });
});
