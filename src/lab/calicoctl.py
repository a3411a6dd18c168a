#!/usr/bin/python3
"""A stand-in for calicoctl on the lab's nodes:
- `calicoctl node status`: Calico's table, from the node's real BIRD (as calicoctl reads
  calico-node's BIRD through its control socket);
- `calicoctl get felixconfiguration default -o json|yaml` and `calicoctl patch
  felixconfiguration default -p JSON`: Felix's configuration in the cluster's datastore, which
  calico-node applies on every node (the IP-in-IP MTU: `ipipMTU`);
- `calicoctl get ippool [NAME] [-o wide|json|yaml]`, `calicoctl patch ippool NAME -p JSON` and
  `calicoctl apply -f FILE` (an IPPool in JSON, as kubespray applies its pool): the IP pools,
  whose natOutgoing calico-node applies on every node."""
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


KINDS = {"felixconfiguration": "FelixConfiguration", "felixconfigurations": "FelixConfiguration",
         "ippool": "IPPool", "ippools": "IPPool", "ipp": "IPPool", "pool": "IPPool", "pools": "IPPool"}


def resource(kind, name, spec):
    return {"kind": kind, "apiVersion": "projectcalico.org/v3", "metadata": {"name": name}, "spec": spec}


def option(argv, *flags):
    for i, a in enumerate(argv):
        for f in flags:
            if a == f and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(f + "="):
                return a.split("=", 1)[1]
    return None


def locked(path):
    lock = open(path + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    with open(path) as f:
        return lock, json.load(f)


def save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def items(state, kind):
    """(name, spec) of every resource of a kind in the datastore."""
    if kind == "FelixConfiguration":
        return [("default", state.get("felix", {}))]
    return [(p["name"], p["spec"]) for p in state.get("pools", [])]


def yaml_of(res):
    out = ["apiVersion: projectcalico.org/v3", "kind: %s" % res["kind"], "metadata:",
           "  name: %s" % res["metadata"]["name"], "spec:"]
    for k, v in sorted(res["spec"].items()):
        out.append("  %s: %s" % (k, json.dumps(v) if not isinstance(v, str) or v == "" else v))
    return "\n".join(out)


def get(argv, state):
    kind = KINDS[argv[1].lower()]
    name = argv[2] if len(argv) > 2 and not argv[2].startswith("-") else None
    found = [(n, s) for n, s in items(state, kind) if name in (None, n)]
    if name and not found:
        print("Failed to get resources: resource does not exist: %s(%s) with error: <nil>" % (kind, name), file=sys.stderr)
        return 1
    fmt = option(argv, "-o", "--output") or "ps"
    res = [resource(kind, n, s) for n, s in found]
    if fmt == "json":
        print(json.dumps(res[0] if name else {"kind": kind + "List", "apiVersion": "projectcalico.org/v3", "items": res}, indent=2))
    elif fmt == "yaml":
        print("\n---\n".join(yaml_of(r) for r in res))
    elif kind == "IPPool":
        # calicoctl 3.17's columns (DISABLEBGPEXPORT came with 3.18).
        headers = ["NAME", "CIDR", "SELECTOR"]
        rows = [[n, s.get("cidr", ""), s.get("nodeSelector", "all()")] for n, s in found]
        if fmt == "wide":
            headers = ["NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "SELECTOR"]
            rows = [[n, s.get("cidr", ""), str(bool(s.get("natOutgoing", False))).lower(), s.get("ipipMode", "Never"),
                     s.get("vxlanMode", "Never"), str(bool(s.get("disabled", False))).lower(), s.get("nodeSelector", "all()")]
                    for n, s in found]
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        for r in [headers] + rows:
            print("".join(c.ljust(w + 3) for c, w in zip(r, widths)))
    else:
        print("NAME\n" + "\n".join(n for n, _ in found))
    return 0


def patch(argv, path):
    kind = KINDS[argv[1].lower()]
    name = argv[2] if len(argv) > 2 else ""
    text = option(argv[3:], "-p", "--patch")
    if text is None:
        print("Invalid option: a patch is required (-p)", file=sys.stderr)
        return 1
    try:
        change = json.loads(text)["spec"]
    except (ValueError, KeyError, TypeError):
        print("Failed to execute command: error parsing the patch", file=sys.stderr)
        return 1
    lock, state = locked(path)
    spec = None
    if kind == "FelixConfiguration" and name == "default":
        spec = state.setdefault("felix", {})
    for p in state.get("pools", []) if kind == "IPPool" else []:
        if p["name"] == name:
            spec = p["spec"]
    if spec is None:
        print("Hit error: resource does not exist: %s(%s) with error: <nil>" % (kind, name), file=sys.stderr)
        return 1
    for k, v in change.items():
        if v is None:
            spec.pop(k, None)
        else:
            spec[k] = v
    save(path, state)
    lock.close()
    print("Successfully patched 1 '%s' resource" % kind)
    return 0


def apply(argv, path):
    """`apply -f FILE`: an IPPool (JSON), created or replaced, as kubespray applies its pool."""
    f = option(argv, "-f", "--filename")
    try:
        res = json.load(sys.stdin if f == "-" else open(f))
        assert res["kind"] == "IPPool"
        name, spec = res["metadata"]["name"], res["spec"]
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
        print("Failed to execute command: error with the file %s: %s" % (f, e), file=sys.stderr)
        return 1
    lock, state = locked(path)
    pools = [p for p in state.get("pools", []) if p["name"] != name]
    state["pools"] = pools + [{"name": name, "spec": spec}]
    save(path, state)
    lock.close()
    print("Successfully applied 1 'IPPool' resource(s)")
    return 0


def felix_running():
    try:
        os.kill(int(open("/run/calico/felix.pid").read()), 0)
        return True
    except (OSError, ValueError):
        return False


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
    if argv[:1] in (["get"], ["patch"], ["apply"]) and (argv[0] == "apply" or argv[1:2] and argv[1].lower() in KINDS):
        if os.geteuid() != 0:
            print("Failed to execute command: the datastore is readable by root only in the lab", file=sys.stderr)
            return 1
        path = state_path()
        if argv[0] == "apply":
            return apply(argv, path)
        if argv[0] == "patch":
            return patch(argv, path)
        with open(path) as f:
            return get(argv, json.load(f))
    if argv[:2] != ["node", "status"]:
        print("Usage:\n  calicoctl node status\n\n(the lab's calicoctl knows `node status`, `get|patch felixconfiguration default`, `get|patch ippool`, `apply -f` of an IPPool)", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("calicoctl node status must be run as root.", file=sys.stderr)
        return 1
    try:
        out = subprocess.run(["birdc", "-s", SOCKET, "show", "protocols"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is None or out.returncode != 0 or "BIRD" not in out.stdout:
        # As calicoctl judges it from the process list: Felix (calico-node's daemon) running
        # without a BGP daemon is the VXLAN backend's normal state, or a BIRD that died.
        if not felix_running():
            print("Calico process is not running.")
            return 1
        print("Calico process is running.\n\nNone of the BGP backend processes (BIRD or GoBGP) are running.\n")
        return 0
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
