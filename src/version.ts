/**
 * The versions cairn reports: its own release and build (`--version`), the
 * etcd API version it implements (clients gate features on it) and the
 * cluster version. Every room may read them.
 *
 * The git commit comes from the checkout when there is one (`deno run`,
 * `make run`: always the commit being run), otherwise from the stamp
 * `make build` writes to `build/build_info.json` and embeds in the
 * `deno compile` binary, which carries no `.git`.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };

/** etcd API version cairn implements; clients gate features on it. */
export const SERVER_VERSION = "3.5.17";
/** The cluster version cairn reports (etcd reports major.minor.0). */
export const CLUSTER_VERSION = "3.5.0";
/** cairn's own release, kept in one place: deno.json's `version`. */
export const CAIRN_VERSION: string = denoConfig.version;

/** What `--version` prints when no commit is known (etcd's words for the same case). */
export const NO_COMMIT = "Not provided (use make build instead of deno compile)";

/** The repository root as seen from this module (a virtual path inside a compiled binary). */
const SOURCE_ROOT = new URL("../", import.meta.url);

/** The build stamp's path relative to the source root; the Makefile writes it there. */
export const BUILD_INFO_PATH = "build/build_info.json";

/** What `make build` stamps into the binary. */
export interface BuildInfo {
  /** Full hex commit the binary was built from, or "" outside a git checkout. */
  commit: string;
}

/**
 * The commit of the source tree at `root`: HEAD of its git checkout if it
 * is one, else the build stamp, else undefined. Reads files only (no `git`
 * process), so it works without --allow-run; no read permission means
 * nothing is known.
 */
export function sourceCommit(root: URL = SOURCE_ROOT): string | undefined {
  return gitHead(root) ?? stampedCommit(root);
}

/** The lines `cairn --version` prints: etcd's four (with cairn's names), then the API version. */
export function versionLines(root: URL = SOURCE_ROOT): string[] {
  const commit = sourceCommit(root);
  return [
    `cairn Version: ${CAIRN_VERSION}`,
    `Git SHA: ${commit === undefined ? NO_COMMIT : commit.slice(0, 7)}`,
    `Deno Version: ${Deno.version.deno}`,
    `Deno OS/Arch: ${Deno.build.os}/${Deno.build.arch}`,
    `etcd API Version: ${SERVER_VERSION}`,
  ];
}

function readText(url: URL): string | undefined {
  try {
    return Deno.readTextFileSync(url);
  } catch {
    // Missing, unreadable or not permitted: the caller falls back.
    return undefined;
  }
}

const HEX_COMMIT = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

function stampedCommit(root: URL): string | undefined {
  const text = readText(new URL(BUILD_INFO_PATH, root));
  if (text === undefined) return undefined;
  try {
    const info = JSON.parse(text) as Partial<BuildInfo>;
    return typeof info.commit === "string" && HEX_COMMIT.test(info.commit)
      ? info.commit
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * HEAD of the checkout at `root`, read as git stores it: `.git` is a
 * directory or (worktrees, submodules) a `gitdir:` file; HEAD names a
 * commit or a ref, which is a loose file or a line of packed-refs, in the
 * git dir or its common dir.
 */
function gitHead(root: URL): string | undefined {
  let gitDir = new URL(".git/", root);
  const dotGit = readText(new URL(".git", root));
  if (dotGit !== undefined) {
    const m = /^gitdir: (.+)$/m.exec(dotGit);
    if (m === null) return undefined;
    gitDir = new URL(m[1].trim().replace(/\/?$/, "/"), root);
  }
  const head = readText(new URL("HEAD", gitDir))?.trim();
  if (head === undefined) return undefined;
  if (HEX_COMMIT.test(head)) return head;
  const ref = /^ref: (\S+)$/.exec(head)?.[1];
  if (ref === undefined) return undefined;
  const common = readText(new URL("commondir", gitDir))?.trim();
  const dirs = [gitDir];
  if (common) dirs.push(new URL(common.replace(/\/?$/, "/"), gitDir));
  for (const dir of dirs) {
    const loose = readText(new URL(ref, dir))?.trim();
    if (loose !== undefined && HEX_COMMIT.test(loose)) return loose;
    const packed = readText(new URL("packed-refs", dir));
    for (const line of packed?.split("\n") ?? []) {
      const [hash, name] = line.trim().split(" ");
      if (name === ref && HEX_COMMIT.test(hash)) return hash;
    }
  }
  // A branch with no commit yet.
  return undefined;
}
