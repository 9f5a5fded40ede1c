/**
 * Which binaries the integration tests drive, and whether they are present.
 *
 * `CAIRN_CMD` overrides the command that starts a cairn member (whitespace
 * separated, e.g. `CAIRN_CMD=etcd` to validate the harness etcd-vs-etcd).
 * Without it cairn is started as `deno run -A <repo>/main.ts`.
 */

import { fileURLToPath } from "node:url";

/** Absolute path of the repository root (the directory holding main.ts). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url)).replace(
  /\/$/,
  "",
);

/** Searches PATH for an executable, like `command -v`. */
export function which(name: string): string | undefined {
  if (name.includes("/")) return isFile(name) ? name : undefined;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isFile(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The argv prefix that starts a cairn member (flags are appended to it). */
export function cairnCommand(): string[] {
  const override = Deno.env.get("CAIRN_CMD")?.trim();
  if (override) return override.split(/\s+/);
  return [Deno.execPath(), "run", "-A", `${REPO_ROOT}/main.ts`];
}

/** True when CAIRN_CMD points at etcd itself (harness validation mode). */
export function cairnIsEtcd(): boolean {
  const first = cairnCommand()[0];
  return first === "etcd" || first.endsWith("/etcd");
}

/** The argv prefix that starts the reference etcd. */
export function etcdCommand(): string[] {
  return [Deno.env.get("ETCD_BIN") ?? "etcd"];
}

/**
 * Why the integration tests cannot run, or undefined when etcd and etcdctl
 * are both installed. `make test` installs them, so normally this is undefined.
 */
export function missingTools(): string | undefined {
  const missing = ["etcd", "etcdctl"].filter((tool) => which(tool) === undefined);
  if (missing.length === 0) return undefined;
  return `skipping: ${missing.join(" and ")} not found on PATH ` +
    "(install Debian packages etcd-server and etcd-client, or run `make test`)";
}

/** Logs the skip reason once per file and returns whether to ignore the tests. */
export function skipIfToolsMissing(file: string): boolean {
  const reason = missingTools();
  if (reason) console.warn(`${file}: ${reason}`);
  return reason !== undefined;
}
