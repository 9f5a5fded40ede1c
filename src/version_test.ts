import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  BUILD_INFO_PATH,
  CAIRN_VERSION,
  NO_COMMIT,
  sourceCommit,
  versionLines,
} from "./version.ts";

const A = "0123456789abcdef0123456789abcdef01234567";
const B = "fedcba9876543210fedcba9876543210fedcba98";

const made: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of made) Deno.removeSync(dir, { recursive: true });
});

function tree(files: Record<string, string>): URL {
  const dir = Deno.makeTempDirSync({ prefix: "cairn-version-" });
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    Deno.mkdirSync(join(full, ".."), { recursive: true });
    Deno.writeTextFileSync(full, text);
  }
  return pathToFileURL(dir + "/");
}

Deno.test("version: the commit of this checkout is what git says HEAD is", () => {
  const root = new URL("../", import.meta.url);
  const git = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
  assert.equal(sourceCommit(root), git);
  assert.equal(versionLines(root)[1], `Git SHA: ${git.slice(0, 7)}`);
});

Deno.test("version: loose refs, packed refs, detached HEAD and a gitdir file", () => {
  assert.equal(
    sourceCommit(tree({ ".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": A + "\n" })),
    A,
  );
  assert.equal(
    sourceCommit(tree({
      ".git/HEAD": "ref: refs/heads/dev\n",
      ".git/packed-refs": `# pack-refs with: peeled fully-peeled sorted\n${B} refs/heads/main\n` +
        `${A} refs/heads/dev\n`,
    })),
    A,
  );
  assert.equal(sourceCommit(tree({ ".git/HEAD": B + "\n" })), B);
  // A linked worktree: .git names its own dir, whose refs live in the common dir.
  assert.equal(
    sourceCommit(tree({
      ".git": "gitdir: wt/.git/worktrees/x\n",
      "wt/.git/worktrees/x/HEAD": "ref: refs/heads/feature\n",
      "wt/.git/worktrees/x/commondir": "../..\n",
      "wt/.git/refs/heads/feature": B + "\n",
    })),
    B,
  );
});

Deno.test("version: without a checkout the build stamp is used, and a checkout wins over it", () => {
  const stamp = JSON.stringify({ commit: B });
  assert.equal(sourceCommit(tree({ [BUILD_INFO_PATH]: stamp })), B);
  assert.equal(
    sourceCommit(tree({ [BUILD_INFO_PATH]: stamp, ".git/HEAD": A })),
    A,
    "a stale stamp must not hide the commit being run",
  );
});

Deno.test("version: nothing known prints etcd's 'Not provided', never a guess", () => {
  const cases: Record<string, string>[] = [
    {},
    { [BUILD_INFO_PATH]: JSON.stringify({ commit: "" }) },
    { [BUILD_INFO_PATH]: "{not json" },
    { ".git/HEAD": "ref: refs/heads/unborn\n" },
  ];
  for (const files of cases) {
    const lines = versionLines(tree(files));
    assert.equal(lines[1], `Git SHA: ${NO_COMMIT}`, JSON.stringify(files));
  }
});

Deno.test("version: etcd's line shape with cairn's names", () => {
  const lines = versionLines(tree({ ".git/HEAD": A }));
  assert.deepEqual(lines.map((l) => l.split(": ")[0]), [
    "cairn Version",
    "Git SHA",
    "Deno Version",
    "Deno OS/Arch",
    "etcd API Version",
  ]);
  assert.equal(lines[0], `cairn Version: ${CAIRN_VERSION}`);
  assert.match(CAIRN_VERSION, /^\d+\.\d+\.\d+/);
  assert.equal(lines[2], `Deno Version: ${Deno.version.deno}`);
  assert.equal(lines[3], `Deno OS/Arch: ${Deno.build.os}/${Deno.build.arch}`);
});
