#!/usr/bin/python3
"""A stand-in for `kubeadm` on the lab's nodes, as kubespray's roles call it: `init` on the first
control-plane node creates the cluster (the API's datastore in the lab's state directory, and
/etc/kubernetes/admin.conf), `join` registers a node. A node's pod block comes from the lab's
address plan, as Calico's IPAM would hand it out."""
import datetime
import fcntl
import json
import os
import socket
import subprocess
import sys


def lab_dir():
    with open("/etc/lab/env") as f:
        return dict(l.strip().split("=", 1) for l in f if "=" in l)["LAB"]


LAB = os.environ.get("LAB") or lab_dir()
STATE = os.path.join(LAB, "k8s", "state.json")


def kubeconfig(key):
    return """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://127.0.0.1:6443
  name: cluster.local
contexts:
- context:
    cluster: cluster.local
    user: kubernetes-admin
  name: kubernetes-admin@cluster.local
current-context: kubernetes-admin@cluster.local
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    client-key-data: %s
""" % key


def register(master):
    name = socket.gethostname()
    plan = {}
    with open(os.path.join(LAB, "plan")) as f:
        for line in f:
            n, fixed, _float, block, _group = line.split()
            plan[n] = (fixed, block)
    if name not in plan:
        print("error: this node (%s) is not in the cluster's address plan" % name, file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(STATE) as f:
                state = json.load(f)
        except FileNotFoundError:
            if not master:
                print("error execution phase preflight: couldn't validate the identity of the API Server: "
                      "Get \"https://192.168.222.222:6443/api/v1/namespaces/kube-public/configmaps/cluster-info\": "
                      "dial tcp 192.168.222.222:6443: connect: connection refused", file=sys.stderr)
                return 1
            state = {"nodes": [], "pods": []}
        if not any(n["name"] == name for n in state["nodes"]):
            fixed, block = plan[name]
            state["nodes"].append({"name": name, "ip": fixed, "block": block, "master": master,
                                   "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
            state["nodes"].sort(key=lambda n: int(n["name"][4:]) if n["name"][4:].isdigit() else 0)
        tmp = STATE + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, STATE)
    return 0


def main(argv):
    if os.geteuid() != 0:
        print("[preflight] Some fatal errors occurred:\n\t[ERROR IsPrivilegedUser]: user is not running as root", file=sys.stderr)
        return 1
    if argv[:1] == ["init"]:
        code = register(True)
        if code:
            return code
        os.makedirs("/etc/kubernetes", exist_ok=True)
        key = subprocess.run(["sh", "-c", "head -c 48 /dev/urandom | base64 -w0"], capture_output=True, text=True).stdout
        fd = os.open("/etc/kubernetes/admin.conf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(kubeconfig(key))
        print("Your Kubernetes control-plane has initialized successfully!")
        return 0
    if argv[:1] == ["join"]:
        code = register(os.path.exists("/etc/kubernetes/admin.conf"))
        if code:
            return code
        os.makedirs("/etc/kubernetes", exist_ok=True)
        with open("/etc/kubernetes/kubelet.conf", "w") as f:
            f.write("# kubelet's kubeconfig (lab)\n")
        print("This node has joined the cluster.")
        return 0
    print("Usage:\n  kubeadm [command]\n\n(the lab's kubeadm knows init and join)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
