#!/usr/bin/python3
"""A stand-in for `kubectl` on the lab's node1, acting on the lab's real pods: a pod is a network
namespace wired the way Calico wires it (a /32 on eth0, default via 169.254.1.1, a cali* veth with
proxy ARP on its node, a /32 route to it there), whose commands run as in the task's busybox
image: busybox's tools only, in UTS and mount namespaces of their own (the pod's name as hostname,
its /etc/hosts naming its address). Output follows kubectl 1.20's formats.

Only what the incident needs: get nodes|pods [-o wide|json], run NAME --image=IMG
[--overrides=JSON] [-i] [-t] [--rm] [--restart=Never] [-- CMD...], exec [-i] [-t] POD -- CMD...,
delete pod NAME... . As in kubectl, everything after `--` is the container's command: an
--overrides placed there is an argument of that command, not an option of `run`.
"""
import datetime
import fcntl
import hashlib
import json
import os
import subprocess
import sys

def lab_dir():
    with open("/etc/lab/env") as f:
        return dict(l.strip().split("=", 1) for l in f if "=" in l)["LAB"]


LAB = os.environ.get("LAB") or lab_dir()
STATE = os.path.join(LAB, "k8s", "state.json")
VERSION = "v1.20.7"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(ts):
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 120:
        return "%ds" % s
    if s < 7200:
        return "%dm" % (s // 60)
    return "%dh" % (s // 3600)


def load():
    with open(STATE) as f:
        return json.load(f)


def save(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, STATE)


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def columns(headers, rows):
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["   ".join(c.ljust(w) for c, w in zip(headers, widths)).rstrip()]
    for r in rows:
        lines.append("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def node_obj(n):
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n["name"], "creationTimestamp": n["created"],
                     "labels": {"kubernetes.io/hostname": n["name"], "kubernetes.io/os": "linux",
                                **({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""} if n["master"] else {})}},
        "spec": {"podCIDR": n["block"] + ".0/24", "podCIDRs": [n["block"] + ".0/24"]},
        "status": {
            "addresses": [{"address": n["ip"], "type": "InternalIP"}, {"address": n["name"], "type": "Hostname"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
                           if ready(n) else
                           {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}],
            "nodeInfo": {"kubeletVersion": VERSION, "osImage": "Ubuntu 20.04.6 LTS", "kernelVersion": os.uname().release,
                         "containerRuntimeVersion": "containerd://1.4.4", "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


GRACE = 40  # the controller manager's node-monitor-grace-period, in seconds


def lease_age(n):
    """Seconds since the node's kubelet last posted its status to the API server (None: never)."""
    try:
        with open(os.path.join(LAB, "k8s", "leases.json")) as f:
            t = json.load(f).get(n["name"])
    except (OSError, ValueError):
        t = None
    return None if t is None else datetime.datetime.now(datetime.timezone.utc).timestamp() - t


def ready(n):
    """A node is Ready while its VM runs, its network plugin (Calico's CNI config) is in place and
    its kubelet has posted its status to the API server within the grace period."""
    vm = os.path.join(LAB, "vms", n["name"])
    age = lease_age(n)
    return os.path.exists(os.path.join(vm, "up")) and os.path.exists(os.path.join(vm, "upper/etc/cni/net.d/10-calico.conflist")) \
        and age is not None and age < GRACE


def kubelet_reachable(node):
    """The API server (on this control-plane node) dials the node's kubelet for exec and logs."""
    import socket
    try:
        socket.create_connection((node["ip"], 10250), timeout=3).close()
        return True
    except OSError:
        return False


def pod_obj(p, state):
    node = next(n for n in state["nodes"] if n["name"] == p["node"])
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": p["name"], "namespace": "default", "creationTimestamp": p["created"], "labels": {"run": p["name"]}},
        "spec": {"nodeName": p["node"], "restartPolicy": "Always",
                 "containers": [{"name": p["name"], "image": p["image"], **({"args": p["args"]} if p["args"] else {})}]},
        "status": {"phase": "Running", "hostIP": node["ip"], "podIP": p["ip"], "podIPs": [{"ip": p["ip"]}],
                   "containerStatuses": [{"name": p["name"], "ready": True, "restartCount": 0, "image": p["image"]}]}
        if p.get("ip") else
        {"phase": "Pending", "hostIP": node["ip"],
         "containerStatuses": [{"name": p["name"], "ready": False, "restartCount": 0, "image": p["image"],
                                "state": {"waiting": {"reason": "ContainerCreating"}}}]},
    }


def as_list(items):
    return json.dumps({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": "", "selfLink": ""}}, indent=4)


def get(args, state):
    out = None
    if "-o" in args:
        out = args[args.index("-o") + 1]
    for a in args:
        if a.startswith("-o=") or a.startswith("--output="):
            out = a.split("=", 1)[1]
    what = args[0] if args else ""
    if what in ("nodes", "node", "no"):
        if out == "json":
            print(as_list([node_obj(n) for n in state["nodes"]]))
            return 0
        headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        rows = [[n["name"], "Ready" if ready(n) else "NotReady", "control-plane,master" if n["master"] else "<none>", age(n["created"]), VERSION] for n in state["nodes"]]
        if out == "wide":
            headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
            rows = [r + [n["ip"], "<none>", "Ubuntu 20.04.6 LTS", os.uname().release, "containerd://1.4.4"] for r, n in zip(rows, state["nodes"])]
        print(columns(headers, rows))
        return 0
    if what in ("pods", "pod", "po"):
        pods = state["pods"]
        if len(args) > 1 and not args[1].startswith("-"):
            pods = [p for p in pods if p["name"] == args[1]]
            if not pods:
                print('Error from server (NotFound): pods "%s" not found' % args[1], file=sys.stderr)
                return 1
        if out == "json":
            print(as_list([pod_obj(p, state) for p in pods]) if len(pods) != 1 or len(args) < 2 or args[1].startswith("-")
                  else json.dumps(pod_obj(pods[0], state), indent=4))
            return 0
        if not pods:
            print("No resources found in default namespace.", file=sys.stderr)
            return 0
        headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        rows = [[p["name"], "1/1" if p.get("ip") else "0/1", "Running" if p.get("ip") else "Pending", "0", age(p["created"])]
                for p in pods]
        if out == "wide":
            headers += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
            rows = [r + [p.get("ip") or "<none>", p["node"], "<none>", "<none>"] for r, p in zip(rows, pods)]
        print(columns(headers, rows))
        return 0
    print('error: the server doesn\'t have a resource type "%s"' % what, file=sys.stderr)
    return 1


def netns(pod):
    return "pm-pod-" + pod["name"]


def wire(pod, node):
    """Create the pod's network namespace on its node, the way Calico wires it."""
    ns, nodens = netns(pod), "pm-" + node["name"]
    cali = "cali" + hashlib.sha1(pod["name"].encode()).hexdigest()[:11]
    run("ip", "netns", "add", ns)
    run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "-n", nodens, "link", "add", cali, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "-n", nodens, "link", "set", cali, "up")
    run("ip", "-n", ns, "link", "set", "eth0", "up")
    run("ip", "-n", ns, "addr", "add", pod["ip"] + "/32", "dev", "eth0")
    run("ip", "-n", ns, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
    run("ip", "-n", ns, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
    run("ip", "netns", "exec", nodens, "sh", "-c",
        "echo 1 > /proc/sys/net/ipv4/conf/%s/proxy_arp; echo 0 > /proc/sys/net/ipv4/neigh/%s/proxy_delay" % (cali, cali))
    run("ip", "-n", nodens, "route", "add", pod["ip"] + "/32", "dev", cali, "scope", "link")


def unwire(pod):
    run("ip", "netns", "del", netns(pod), check=False)  # the veth pair goes with it, and its route
    try:
        os.remove(os.path.join(LAB, "pods", pod["name"] + ".hosts"))
    except FileNotFoundError:
        pass


# A pod's image: busybox's applets, one link each (the node's init makes them).
BUSYBOX = "/usr/local/lib/lab/busybox"

# Inside the pod's own UTS and mount namespaces: its hostname is its name and its /etc/hosts (as
# the kubelet writes it) names its address, so `hostname -i` prints the pod's IP; then the
# command runs with busybox's tools only, as in the task's image.
POD_SETUP = ('h=$1; n=$2; shift 2; mount --bind "$h" /etc/hosts && hostname "$n" && '
             'exec env -i PATH=%s HOME=/root HOSTNAME="$n" "$@"' % BUSYBOX)


def pod_hosts(pod):
    d = os.path.join(LAB, "pods")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, pod["name"] + ".hosts")
    with open(path, "w") as f:
        f.write("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "%s\t%s\n" % (pod["ip"], pod["name"]))
    return path


def exec_in(pod, cmd, interactive):
    full = ["ip", "netns", "exec", netns(pod), "unshare", "--uts", "--mount", "--propagation", "private",
            "sh", "-c", POD_SETUP, "sh", pod_hosts(pod), pod["name"]] + cmd
    if interactive:
        return subprocess.call(full)
    r = subprocess.run(full)
    return r.returncode


def main(argv):
    if os.geteuid() != 0:  # the API acts on the lab's namespaces: ask for root, keep the caller's KUBECONFIG
        os.execvp("sudo", ["sudo", "-n", "--preserve-env=KUBECONFIG", sys.executable, os.path.abspath(__file__)] + argv)
    user = os.environ.get("SUDO_USER") or "root"
    config = os.environ.get("KUBECONFIG") or os.path.expanduser("~%s/.kube/config" % user)
    if not os.path.exists(config):
        print("The connection to the server localhost:8080 was refused - did you specify the right host or port?", file=sys.stderr)
        return 1
    uid = int(os.environ.get("SUDO_UID") or 0)
    st = os.stat(config)
    if uid != 0 and st.st_uid != uid and not st.st_mode & 0o004:
        print("error: error loading config file \"%s\": open %s: permission denied" % (config, config), file=sys.stderr)
        return 1
    if not os.path.exists(STATE):
        print("The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?", file=sys.stderr)
        return 1
    lock = open(STATE + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = load()
    if not argv:
        print("kubectl controls the Kubernetes cluster manager.", file=sys.stderr)
        return 1
    verb, args = argv[0], argv[1:]
    if verb == "get":
        return get(args, state)
    if verb == "run":
        cmd = []
        if "--" in args:
            i = args.index("--")
            args, cmd = args[:i], args[i + 1:]
        name, image, overrides, interactive, rm = None, None, None, False, False
        k = 0
        while k < len(args):
            a = args[k]
            if a.startswith("--image="):
                image = a.split("=", 1)[1]
            elif a == "--image":
                k += 1
                image = args[k]
            elif a.startswith("--overrides="):
                overrides = a.split("=", 1)[1]
            elif a == "--overrides":
                k += 1
                overrides = args[k]
            elif a in ("-it", "-ti", "-i", "-t", "--stdin", "--tty"):
                interactive = True
            elif a == "--rm":
                rm = True
            elif a.startswith("--restart") or a.startswith("--command"):
                pass
            elif not a.startswith("-") and name is None:
                name = a
            k += 1
        if not name or not image:
            print("error: NAME and --image are required for `kubectl run`", file=sys.stderr)
            return 1
        if any(p["name"] == name for p in state["pods"]):
            print('Error from server (AlreadyExists): pods "%s" already exists' % name, file=sys.stderr)
            return 1
        node_name = None
        if overrides:
            try:
                o = json.loads(overrides)
            except ValueError as e:
                print("error: Invalid JSON Patch: %s" % e, file=sys.stderr)
                return 1
            node_name = (o.get("spec") or {}).get("nodeName")  # unknown fields are dropped, as 1.20 does
        if node_name and not any(n["name"] == node_name for n in state["nodes"]):
            node_name = None  # a pod bound to a node that does not exist stays Pending; not modelled
        if not node_name:  # the scheduler: the node with the fewest pods
            node_name = min(state["nodes"], key=lambda n: (sum(p["node"] == n["name"] for p in state["pods"]), n["name"]))["name"]
        node = next(n for n in state["nodes"] if n["name"] == node_name)
        used = {p["ip"] for p in state["pods"]}
        pod = {"name": name, "node": node_name, "ip": None, "image": image, "args": cmd, "created": now()}
        # A node whose kubelet does not reach the API never learns of the pod: it stays Pending.
        if ready(node):
            pod["ip"] = next("%s.%d" % (node["block"], i) for i in range(2, 250) if "%s.%d" % (node["block"], i) not in used)
        state["pods"].append(pod)
        save(state)
        lock.close()
        # The pod's sandbox is made outside the API's lock, as a kubelet makes it: many pods are
        # created at once, each in its own namespace (its address was taken under the lock).
        if pod["ip"]:
            try:
                wire(pod, node)
            except subprocess.CalledProcessError as e:
                unwire(pod)
                delete([name], quiet=True)
                print("error: the pod's sandbox could not be made: %s" % (e.stderr or e).strip(), file=sys.stderr)
                return 1
        if interactive and not pod["ip"]:
            print("error: timed out waiting for the condition", file=sys.stderr)
            if rm:  # --rm removes the pod whatever the attach did, as kubectl does
                delete([name], quiet=True)
            return 1
        if interactive:
            print("If you don't see a command prompt, try pressing enter.")
            code = exec_in(pod, cmd or ["sh"], True)
            if rm:
                delete([name])
            return code
        print("pod/%s created" % name)
        return 0
    if verb == "exec":
        cmd = []
        if "--" in args:
            i = args.index("--")
            args, cmd = args[:i], args[i + 1:]
        names = [a for a in args if not a.startswith("-")]
        if not names or not cmd:
            print("error: you must specify at least one command for the container", file=sys.stderr)
            return 1
        pod = next((p for p in state["pods"] if p["name"] == names[0]), None)
        if not pod:
            print('Error from server (NotFound): pods "%s" not found' % names[0], file=sys.stderr)
            return 1
        lock.close()
        if not pod.get("ip"):
            print('error: unable to upgrade connection: container not found ("%s")' % pod["name"], file=sys.stderr)
            return 1
        node = next(n for n in state["nodes"] if n["name"] == pod["node"])
        if not kubelet_reachable(node):
            print("Error from server: error dialing backend: dial tcp %s:10250: i/o timeout" % node["ip"], file=sys.stderr)
            return 1
        return exec_in(pod, cmd, any(a in ("-it", "-ti", "-i", "-t") for a in args))
    if verb == "delete":
        if args[:1] not in (["pod"], ["pods"], ["po"]):
            print("error: the lab's kubectl deletes pods only", file=sys.stderr)
            return 1
        lock.close()
        return delete([a for a in args[1:] if not a.startswith("-")])
    print('Error: unknown command "%s" for "kubectl"' % verb, file=sys.stderr)
    return 1


def delete(names, quiet=False):
    lock = open(STATE + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = load()
    code = 0
    gone = []
    for name in names:
        pod = next((p for p in state["pods"] if p["name"] == name), None)
        if not pod:
            print('Error from server (NotFound): pods "%s" not found' % name, file=sys.stderr)
            code = 1
            continue
        state["pods"].remove(pod)
        gone.append(pod)
    save(state)
    lock.close()
    # Torn down outside the lock, as a kubelet tears a sandbox down.
    for pod in gone:
        unwire(pod)
        if not quiet:
            print('pod "%s" deleted' % pod["name"])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
