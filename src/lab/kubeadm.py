#!/usr/bin/python3
"""A stand-in for `kubeadm` on the lab's nodes, as kubespray's roles call it: `init` on the first
control-plane node creates the cluster (the API's datastore in the lab's state directory, and
/etc/kubernetes/admin.conf), `join` registers a node. A node's pod block comes from the lab's
address plan, as Calico's IPAM would hand it out.

Both start what a node then runs (again at each boot): the kubelet, which posts its node's
status to the API server over TCP 6443 every 2 s (its lease, as Kubernetes' node heartbeats)
and listens on 10250 (the kubelet API that `kubectl exec` reaches through the API server); and,
on the control plane, the API server's listener on 6443. A node whose kubelet has not reached
the API within 40 s (node-monitor-grace-period) is NotReady: real traffic, through the security
groups, decides it."""
import datetime
import fcntl
import json
import os
import socket
import subprocess
import sys
import time


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


LEASES = os.path.join(LAB, "k8s", "leases.json")
HEARTBEAT = 2.0


def api_address():
    """The API server's address, as the node's kubeconfig names it (kubelet.conf, or admin.conf
    on the control plane, whose own kubelet reaches it at its node address)."""
    with open(STATE) as f:
        state = json.load(f)
    return next(n["ip"] for n in state["nodes"] if n["master"])


def apiserver():
    """The API server's listener: a kubelet's `status NODE` line renews that node's lease."""
    import socketserver

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline(200).decode(errors="replace").split()
            if len(line) == 2 and line[0] == "status":
                with open(LEASES + ".lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    try:
                        with open(LEASES) as f:
                            leases = json.load(f)
                    except (OSError, ValueError):
                        leases = {}
                    leases[line[1]] = datetime.datetime.now(datetime.timezone.utc).timestamp()
                    tmp = LEASES + ".tmp"
                    with open(tmp, "w") as f:
                        json.dump(leases, f)
                    os.replace(tmp, LEASES)
                self.wfile.write(b"ok\n")

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("0.0.0.0", 6443), Handler) as srv:
        srv.serve_forever()


def kubelet():
    """The kubelet: its API on 10250 (accepts, as the API server's exec and logs need), and its
    node status posted to the API server every 2 s."""
    import threading
    name = socket.gethostname()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", 10250))
    lsock.listen(16)

    def serve():
        while True:
            c, _ = lsock.accept()
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    while True:
        try:
            with socket.create_connection((api_address(), 6443), timeout=1.5) as c:
                c.sendall(("status %s\n" % name).encode())
                c.recv(16)
        except (OSError, StopIteration, ValueError):
            pass
        time.sleep(HEARTBEAT)


def start_daemons(master):
    """The kubelet (and on the control plane the API server), now and at each boot."""
    me = os.path.abspath(__file__)
    os.makedirs("/etc/lab/boot.d", exist_ok=True)
    for role, wanted in (("apiserver", master), ("kubelet", True)):
        if not wanted:
            continue
        boot = "/etc/lab/boot.d/kube-%s" % role
        with open(boot, "w") as f:
            f.write("#!/bin/sh\n# The kubelet and the API server start at boot (systemd and static pods).\n"
                    "setsid %s %s --lab-%s < /dev/null >> /var/log/kube-%s.log 2>&1 &\n" % (sys.executable, me, role, role))
        os.chmod(boot, 0o755)
        pidfile = "/run/kube-%s.pid" % role
        try:
            os.kill(int(open(pidfile).read()), 0)
            continue
        except (OSError, ValueError):
            pass
        proc = subprocess.Popen([sys.executable, me, "--lab-" + role], stdin=subprocess.DEVNULL,
                                stdout=open("/var/log/kube-%s.log" % role, "a"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        with open(pidfile, "w") as f:
            f.write(str(proc.pid))


def main(argv):
    if argv[:1] == ["--lab-apiserver"]:
        with open("/run/kube-apiserver.pid", "w") as f:
            f.write(str(os.getpid()))
        return apiserver()
    if argv[:1] == ["--lab-kubelet"]:
        with open("/run/kube-kubelet.pid", "w") as f:
            f.write(str(os.getpid()))
        return kubelet()
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
        start_daemons(True)
        print("Your Kubernetes control-plane has initialized successfully!")
        return 0
    if argv[:1] == ["join"]:
        code = register(os.path.exists("/etc/kubernetes/admin.conf"))
        if code:
            return code
        os.makedirs("/etc/kubernetes", exist_ok=True)
        with open("/etc/kubernetes/kubelet.conf", "w") as f:
            f.write("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
                    "    server: https://%s:6443\n  name: default-cluster\ncontexts:\n- context:\n    cluster: default-cluster\n"
                    "    namespace: default\n    user: default-auth\n  name: default-context\ncurrent-context: default-context\n"
                    "kind: Config\npreferences: {}\nusers:\n- name: default-auth\n  user:\n"
                    "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n"
                    "    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n" % api_address())
        start_daemons(os.path.exists("/etc/kubernetes/admin.conf"))
        print("This node has joined the cluster.")
        return 0
    print("Usage:\n  kubeadm [command]\n\n(the lab's kubeadm knows init and join)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
