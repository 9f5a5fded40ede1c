/**
 * The `--help` text: usage, then every flag of {@link FLAGS} by etcd's
 * sections, each with its default, environment variable, and a note when
 * cairn accepts it without effect.
 *
 * @module
 */
import { FLAGS, flagToEnv, LEGACY_IGNORED } from "./flags.ts";

/** The `--help` text. */
export function helpText(): string {
  const lines = [
    "Usage:",
    "",
    "  cairn [flags]",
    "    Start a cairn member (an etcd v3 compatible server).",
    "",
    "  cairn --version",
    "    Show the version of cairn.",
    "",
    "  cairn -h | --help",
    "    Show this help.",
    "",
    "  cairn --config-file",
    "    Path to the server configuration file. Note that if a configuration file is provided,",
    "    other command line flags and environment variables will be ignored.",
    "",
    "Every flag can also be set by an environment variable: --initial-cluster-token is",
    "ETCD_INITIAL_CLUSTER_TOKEN. Setting a flag and its variable together is an error.",
    "With --config-file (or ETCD_CONFIG_FILE), settings come only from that YAML file,",
    "whose keys are the flag names, e.g. 'listen-client-urls: http://10.0.0.1:2379'.",
    "Flags marked [no effect] are accepted for etcd compatibility, and those marked",
    "[no effect yet] are parsed but not acted on yet; setting either logs why.",
  ];
  let group = "";
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (spec.group !== group) {
      group = spec.group;
      lines.push("", `${group}:`);
    }
    const shown = spec.shownDef ?? spec.def;
    const since = spec.since ? ` (etcd ${spec.since})` : "";
    const ig = spec.ignored;
    const note = !ig
      ? ""
      : ig.unless
      ? ` [cairn behaves as '${ig.unless}': ${ig.reason}]`
      : ` [no effect: ${ig.reason}]`;
    const later = spec.notYet ? ` [no effect yet: ${spec.notYet}]` : "";
    lines.push(
      `  --${name} '${shown}'`,
      `    ${spec.help}${since}${note}${later} [$${flagToEnv(name)}]`,
    );
  }
  lines.push(
    "",
    "Accepted and ignored, as etcd does (flags of etcd 0.4 and 2.x):",
    "  " + LEGACY_IGNORED.map((n) => `--${n}`).join(", "),
  );
  return lines.join("\n") + "\n";
}
