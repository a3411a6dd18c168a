#!/usr/bin/python3
"""A stand-in for calicoctl on the lab's nodes:
- `calicoctl node status`: Calico's table, from the node's real BIRD (as calicoctl reads
  calico-node's BIRD through its control socket);
- `calicoctl get felixconfiguration default -o json|yaml` and `calicoctl patch
  felixconfiguration default -p JSON`: Felix's configuration in the cluster's datastore, which
  calico-node applies on every node (the IP-in-IP MTU: `ipipMTU`)."""
import fcntl
import json
import os
import subprocess
import sys

SOCKET = "/run/bird/bird.ctl"


def state_path():
    lab = os.environ.get("LAB")
    if not lab:
        with open("/etc/lab/env") as f:
            lab = dict(l.strip().split("=", 1) for l in f if "=" in l)["LAB"]
    return os.path.join(lab, "k8s", "state.json")


def felix_resource(spec):
    return {"kind": "FelixConfiguration", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": "default"}, "spec": spec}


def felix(argv):
    """get/patch felixconfiguration default."""
    path = state_path()
    if argv[:3] == ["get", "felixconfiguration", "default"]:
        with open(path) as f:
            spec = json.load(f).get("felix", {})
        fmt = argv[argv.index("-o") + 1] if "-o" in argv and argv.index("-o") + 1 < len(argv) else "yaml"
        res = felix_resource(spec)
        if fmt == "json":
            print(json.dumps(res, indent=2))
        else:
            print("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: default\nspec:")
            for k, v in sorted(spec.items()):
                print("  %s: %s" % (k, json.dumps(v)))
        return 0
    if argv[:3] == ["patch", "felixconfiguration", "default"]:
        rest = argv[3:]
        patch = None
        for flag in ("-p", "--patch"):
            if flag in rest and rest.index(flag) + 1 < len(rest):
                patch = rest[rest.index(flag) + 1]
        if patch is None:
            print("Invalid option: a patch is required (-p)", file=sys.stderr)
            return 1
        try:
            change = json.loads(patch)["spec"]
        except (ValueError, KeyError, TypeError):
            print("Failed to execute command: error parsing the patch", file=sys.stderr)
            return 1
        lock = open(path + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(path) as f:
            state = json.load(f)
        spec = state.setdefault("felix", {})
        for k, v in change.items():
            if v is None:
                spec.pop(k, None)
            else:
                spec[k] = v
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, path)
        print("Successfully patched 1 'FelixConfiguration' resource")
        return 0
    print("Failed to execute command: resource type or name not known to the lab's calicoctl", file=sys.stderr)
    return 1


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
    if argv[1:2] == ["felixconfiguration"]:
        if os.geteuid() != 0:
            print("Failed to execute command: the datastore is readable by root only in the lab", file=sys.stderr)
            return 1
        return felix(argv)
    if argv[:2] != ["node", "status"]:
        print("Usage:\n  calicoctl node status\n\n(the lab's calicoctl knows `node status` and `get|patch felixconfiguration default`)", file=sys.stderr)
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
