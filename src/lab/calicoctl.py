#!/usr/bin/python3
"""A stand-in for `calicoctl node status` on the lab's nodes: Calico's table, from the node's
real BIRD (as calicoctl reads calico-node's BIRD through its control socket)."""
import os
import subprocess
import sys

SOCKET = "/run/bird/bird.ctl"


def pad(text, width):
    gap = width - len(text)
    return " " * (gap // 2) + text + " " * (gap - gap // 2)


def table(headers, rows):
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [sep, "| " + " | ".join(pad(h, w) for h, w in zip(headers, widths)) + " |", sep]
    for r in rows:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    out.append(sep)
    return "\n".join(out)


def main(argv):
    if argv[:2] != ["node", "status"]:
        print("Usage:\n  calicoctl node status\n\n(the lab's calicoctl knows only `node status`)", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("calicoctl node status must be run as root.", file=sys.stderr)
        return 1
    try:
        out = subprocess.run(["birdc", "-s", SOCKET, "show", "protocols"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is None or out.returncode != 0 or "BIRD" not in out.stdout:
        print("Calico process is not running.")
        return 1
    rows = []
    for line in out.stdout.splitlines():
        f = line.split()
        if not f or not f[0].startswith("Mesh_") or len(f) < 5:
            continue
        peer = f[0][len("Mesh_"):].replace("_", ".")
        state, since = f[3], f[4].split(".")[0]
        info = " ".join(f[5:])
        rows.append([peer, "node-to-node mesh", state, since, info])
    print("Calico process is running.\n")
    print("IPv4 BGP status")
    if rows:
        print(table(["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"], rows))
    else:
        print("No IPv4 peers found.")
    print("\nIPv6 BGP status\nNo IPv6 peers found.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
