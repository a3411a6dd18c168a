#!/usr/bin/python3
"""A stand-in for calico-node on the lab's nodes, in the mode of the cluster's IP pool (as
kubespray applies it) and the networking backend kubespray passes (CALICO_NETWORKING_BACKEND):

- IP-in-IP `Always` with BIRD (kubespray 2.16's default): BIRD 2 with Calico's full-mesh
  configuration and timers (rendered from the cluster's datastore, as Calico's confd renders it),
  and IP-in-IP made real on the wire: a TUN device `tunl0`, routes to remote pod blocks through it
  (BIRD exports the BGP-learned blocks onto tunl0, so without BGP there is no route), and IP
  protocol 4 between the node addresses, by raw sockets (this kernel has no ipip module).
- VXLAN `Always` without BGP (kubespray 2.19 and later): the kernel's vxlan device
  `vxlan.calico` (VNI 4096, UDP 4789), and, as Felix programs them from the datastore, for each
  other node its VTEP's ARP and FDB entries and a route to its block through it. No BIRD runs.
- Native (neither) with BIRD: the blocks BIRD learns are routed through the other nodes'
  addresses on the tenant network, the pods' own addresses on the wire.

As Felix, a daemon applies the datastore's configuration on every change: the tunnel's MTU
(felixconfiguration ipipMTU / vxlanMTU), the IP pools' natOutgoing (masquerade of what pods send
outside every pool), the VXLAN peers.

  calico-node start   idempotent: config, devices, Felix, BIRD; prints "started" when it started
                      anything
  calico-node felix   the daemon (run by start, in the background)
"""
import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time


def lab_dir():
    with open("/etc/lab/env") as f:
        return dict(l.strip().split("=", 1) for l in f if "=" in l)["LAB"]


LAB = os.environ.get("LAB") or lab_dir()
STATE = os.path.join(LAB, "k8s", "state.json")
BIRD_SOCKET = "/run/bird/bird.ctl"
BIRD_CONF = "/etc/calico/bird.conf"
ENV = "/etc/calico/calico-node.env"
FELIX_PID = "/run/calico/felix.pid"
POOL = "10.233.64.0/18"
VXLAN = "vxlan.calico"
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def state():
    with open(STATE) as f:
        return json.load(f)


def nodes():
    return state()["nodes"]


def pools():
    try:
        return state().get("pools", [])
    except (OSError, ValueError):
        return []


def mode():
    """ipip, vxlan or native: from the first enabled pool, as Felix reads it."""
    for p in pools():
        spec = p["spec"]
        if spec.get("disabled"):
            continue
        if spec.get("vxlanMode", "Never") != "Never":
            return "vxlan"
        if spec.get("ipipMode", "Never") != "Never":
            return "ipip"
        return "native"
    return "ipip"


def backend():
    """CALICO_NETWORKING_BACKEND as kubespray passed it at the first start (kept for boots)."""
    b = os.environ.get("CALICO_NETWORKING_BACKEND")
    if b:
        os.makedirs(os.path.dirname(ENV), exist_ok=True)
        with open(ENV, "w") as f:
            f.write("CALICO_NETWORKING_BACKEND=%s\n" % b)
        return b
    try:
        with open(ENV) as f:
            return dict(l.strip().split("=", 1) for l in f if "=" in l).get("CALICO_NETWORKING_BACKEND", "bird")
    except OSError:
        return "bird"


def tunnel_mtu(kind):
    """The MTU Felix is configured with (Calico 3.17 under kubespray: 1480 for IP-in-IP, 1450 for
    VXLAN, unless set)."""
    key, default = ("vxlanMTU", 1450) if kind == "vxlan" else ("ipipMTU", 1480)
    try:
        return int(state().get("felix", {}).get(key, default))
    except (OSError, ValueError, TypeError):
        return default


def nat_outgoing(st=None, applied=None):
    """Felix's cali-nat-outgoing, in nft: what pods of a pool with natOutgoing send to a
    destination outside every pool is masqueraded to the node's address; nothing else is.
    From the datastore `st` (read when not given); programmed unless it is the text `applied`
    (as Felix programs differences, not every change of the datastore). Returns the text."""
    ps = [p["spec"] for p in (st.get("pools", []) if st is not None else pools()) if p["spec"].get("cidr")]
    nat = [p["cidr"] for p in ps if p.get("natOutgoing") and not p.get("disabled")]
    rules = ["  set all_pools { type ipv4_addr; flags interval; %s}" % (
                 ("elements = { %s } " % ", ".join(p["cidr"] for p in ps)) if ps else ""),
             "  chain nat_outgoing {", "    type nat hook postrouting priority srcnat; policy accept;"]
    rules += ["    ip saddr %s ip daddr != @all_pools masquerade" % c for c in nat]
    text = "table ip calico\ndelete table ip calico\ntable ip calico {\n%s\n  }\n}\n" % "\n".join(rules)
    if text != applied:
        subprocess.run(["nft", "-f", "-"], input=text.encode(), capture_output=True)
    return text


def underlay_mtu():
    try:
        with open("/sys/class/net/ens3/mtu") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1500


def me():
    name = socket.gethostname()
    return next(n for n in nodes() if n["name"] == name)


def vtep_mac(name):
    """A node's VTEP MAC (Felix keeps a random one in the node resource; here, from its name)."""
    h = hashlib.sha1(name.encode()).digest()
    return "66:cb:%02x:%02x:%02x:%02x" % tuple(h[:4])


def bird_conf(node, peers, encap):
    kernel = ('if net ~ [ %s+ ] && source = RTS_BGP then { ifname = "tunl0"; accept; }' % POOL
              if encap == "ipip" else
              "if net ~ [ %s+ ] && source = RTS_BGP then accept;" % POOL)
    out = ["# Generated by calico-node from the cluster's datastore (Calico's confd templates).",
           "router id %s;" % node["ip"],
           'protocol device { scan time 10; }',
           'protocol direct { ipv4; interface "ens3"; }',
           "filter calico_kernel_programming {",
           "  # IP-in-IP Always: routes to the pool's remote blocks go through tunl0; native: through",
           "  # the other node's address.",
           "  " + kernel,
           "  reject;",
           "}",
           "protocol kernel {",
           "  ipv4 { import none; export filter calico_kernel_programming; };",
           "  learn; merge paths on; scan time 10; graceful restart;",
           "}",
           "protocol static { ipv4; route %s.0/24 blackhole; }" % node["block"],
           "template bgp bgp_template {",
           "  local as 64512;",
           "  ipv4 { import all; export where source = RTS_STATIC; next hop self; };",
           "  connect delay time 2; connect retry time 5; error wait time 5,30;",
           "}"]
    for p in peers:
        out.append("protocol bgp Mesh_%s from bgp_template { neighbor %s as 64512; source address %s; }"
                   % (p["ip"].replace(".", "_"), p["ip"], node["ip"]))
    return "\n".join(out) + "\n"


def running(pidfile):
    try:
        pid = int(open(pidfile).read())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def ip(*args):
    return subprocess.run(["ip"] + list(args), capture_output=True)


def start():
    node = me()
    peers = [n for n in nodes() if n["name"] != node["name"]]
    encap, bgp = mode(), backend()
    started = []
    os.makedirs("/etc/calico", exist_ok=True)
    os.makedirs("/run/calico", exist_ok=True)
    os.makedirs("/etc/lab/boot.d", exist_ok=True)
    boot = "/etc/lab/boot.d/calico-node"
    if not os.path.exists(boot):
        with open(boot, "w") as f:
            f.write("#!/bin/sh\nexec /usr/local/bin/calico-node start\n")
        os.chmod(boot, 0o755)
    if encap == "vxlan" and ip("link", "show", VXLAN).returncode != 0:
        subprocess.run(["ip", "link", "add", VXLAN, "type", "vxlan", "id", "4096", "local", node["ip"],
                        "dev", "ens3", "dstport", "4789", "nolearning"], check=True)
        subprocess.run(["ip", "link", "set", VXLAN, "address", vtep_mac(node["name"]),
                        "mtu", str(tunnel_mtu("vxlan")), "up"], check=True)
        subprocess.run(["ip", "addr", "replace", node["block"] + ".0/32", "dev", VXLAN], check=True)
        started.append("vxlan")
    if not running(FELIX_PID):
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "felix"], stdin=subprocess.DEVNULL,
                         stdout=open("/var/log/calico-felix.log", "a"), stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            if running(FELIX_PID) and (encap != "ipip" or ip("link", "show", "tunl0").returncode == 0):
                break
            time.sleep(0.05)
        if encap == "ipip":
            subprocess.run(["ip", "link", "set", "tunl0", "up", "mtu", str(tunnel_mtu("ipip"))], check=True)
            subprocess.run(["ip", "addr", "replace", node["block"] + ".0/32", "dev", "tunl0"], check=True)
        started.append("felix")
    # What Felix programs at its start is in place when start returns.
    nat_outgoing()
    if encap == "vxlan":
        vxlan_peers()
    if bgp == "bird":
        conf = bird_conf(node, peers, encap)
        old = open(BIRD_CONF).read() if os.path.exists(BIRD_CONF) else None
        if conf != old:
            with open(BIRD_CONF, "w") as f:
                f.write(conf)
        alive = subprocess.run(["birdc", "-s", BIRD_SOCKET, "show", "status"], capture_output=True).returncode == 0
        if not alive:
            os.makedirs("/run/bird", exist_ok=True)
            subprocess.run(["bird", "-c", BIRD_CONF, "-s", BIRD_SOCKET], check=True)
            started.append("bird")
        elif conf != old:
            subprocess.run(["birdc", "-s", BIRD_SOCKET, "configure"], capture_output=True)
            started.append("bird-reconfigured")
    print("calico-node %s" % (("started: " + ", ".join(started)) if started else "running"))
    return 0


def vxlan_peers():
    """Felix's VXLAN programming: each other node's VTEP (ARP, FDB) and a route to its block."""
    name = socket.gethostname()
    for n in nodes():
        if n["name"] == name:
            continue
        vtep, mac = n["block"] + ".0", vtep_mac(n["name"])
        ip("neigh", "replace", vtep, "lladdr", mac, "dev", VXLAN, "nud", "permanent")
        subprocess.run(["bridge", "fdb", "replace", mac, "dev", VXLAN, "dst", n["ip"], "self", "permanent"],
                       capture_output=True)
        ip("route", "replace", n["block"] + ".0/24", "via", vtep, "dev", VXLAN, "onlink")


def felix():
    encap = mode()
    fd = raw = None
    if encap == "ipip":
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"tunl0", IFF_TUN | IFF_NO_PI))
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
        # As a kernel ipip tunnel with pmtudisc: an inner packet without DF may be fragmented on
        # the wire; one with DF that does not fit the underlay is dropped.
        raw.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
    with open(FELIX_PID, "w") as f:
        f.write(str(os.getpid()))
    peers, mtime, mtu, under, nat = {}, None, None, underlay_mtu(), None
    watch = [x for x in (fd, raw) if x is not None]
    while True:
        r, _, _ = select.select(watch, [], [], 1.0)
        try:  # the datastore: the other nodes' blocks (as Calico's IPAM knows them), the config
            m = os.stat(STATE).st_mtime
            if m != mtime:
                mtime = m
                st = state()  # once per change: every pod made or removed changes it
                peers = {n["block"]: n["ip"] for n in st["nodes"]}
                under = underlay_mtu()
                nat = nat_outgoing(st, nat)
                if encap == "vxlan":
                    vxlan_peers()
                want = tunnel_mtu(encap)
                if encap != "native" and want != mtu:
                    ip("link", "set", "tunl0" if encap == "ipip" else VXLAN, "mtu", str(want))
                    mtu = want
        except (OSError, ValueError, KeyError):
            pass
        if fd is not None and fd in r:
            pkt = os.read(fd, 65535)
            if len(pkt) >= 20 and pkt[0] >> 4 == 4:
                if pkt[6] & 0x40 and len(pkt) + 20 > under:
                    continue
                dst = socket.inet_ntoa(pkt[16:20])
                peer = peers.get(dst.rsplit(".", 1)[0])
                if peer:
                    try:
                        raw.sendto(pkt, (peer, 0))
                    except OSError:
                        pass
        if raw is not None and raw in r:
            data = raw.recv(65535)
            if len(data) > 20:
                os.write(fd, data[(data[0] & 15) * 4:])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("calico-node must run as root", file=sys.stderr)
        sys.exit(1)
    cmd = sys.argv[1:2]
    if cmd == ["start"]:
        sys.exit(start())
    if cmd == ["felix"]:
        felix()
    print(__doc__, file=sys.stderr)
    sys.exit(2)
