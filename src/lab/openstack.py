#!/usr/bin/python3
"""The lab's cloud state, and its enforcement: the servers (the lab's VMs, powered on and off by
the lab's hypervisor agent, through a FIFO), security groups (nftables chains on server01's
bridge ports), ports (Neutron's port security, anti-spoofing, on the same bridge) and subnets
(what a node's DHCP lease gives). osapi.py serves it as OpenStack's API to the real client; the
lab's own hooks (--lab-init, --lab-status, --lab-dhcp) call it directly.

What it cannot prove: that a real Neutron enforces exactly this (OVS flows, conntrack zones);
only the traffic it lets through or drops, which the probes see as on a real cloud.
"""
import datetime
import fcntl
import json
import os
import subprocess
import sys
import uuid

LAB = os.environ.get("LAB", "/run/postmortem-lab")
STATE = os.path.join(LAB, "openstack", "state.json")
PROJECT = "5f2d1e8a9c3b4d6e8f0a1b2c3d4e5f60"


def now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def sid(seed):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "postmortem-lab/" + seed))


# --- state ---------------------------------------------------------------------------------

def load():
    with open(STATE) as f:
        return json.load(f)


def save(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, STATE)


def rule(group, proto, pmin, pmax, remote_ip=None, remote_group=None, direction="ingress", seed=None):
    return {
        "id": sid(seed) if seed else str(uuid.uuid4()),
        "security_group_id": group,
        "direction": direction,
        "ethertype": "IPv4",
        "protocol": proto,
        "port_range_min": pmin,
        "port_range_max": pmax,
        "remote_ip_prefix": remote_ip,
        "remote_group_id": remote_group,
        "description": "",
        "created_at": now(),
        "updated_at": now(),
        "revision_number": 0,
    }


def lab_init(lab, nodes, faults, deployed="0", calico="ipip"):
    """The security groups the contest's environment evidently had: Kubernetes' ports and Calico's
    encapsulation between the groups (IP-in-IP, IP protocol 4, under kubespray 2.16, without the
    sg-ipip fault; VXLAN, UDP 4789, in the vxlan mode, without the sg-vxlan fault), TCP/179 only
    without the sg-bgp fault; Kubernetes' ports (6443, 10250, 2379-2380) without sg-k8s-ports. Every server starts SHUTOFF (the host was just rebooted)."""
    nodes = int(nodes)
    faults = faults.split(",")
    fixed = {1: "192.168.222.222", 2: "192.168.222.157"}
    floating = {1: "10.20.20.235", 2: "10.20.20.206"}
    groups = {}
    for name in ("default", "master", "worker"):
        groups[name] = {"id": sid("sg/" + name), "name": name, "description": name if name != "default" else "Default security group",
                        "project_id": PROJECT, "created_at": now(), "updated_at": now(), "revision_number": 1, "tags": [], "rules": []}
    m, w = groups["master"]["id"], groups["worker"]["id"]
    for g in (m, w):
        groups_rules = groups["master" if g == m else "worker"]["rules"]
        n = "m" if g == m else "w"
        groups_rules.append(rule(g, None, None, None, direction="egress", seed=n + "/egress"))
        groups_rules.append(rule(g, "tcp", 22, 22, remote_ip="0.0.0.0/0", seed=n + "/ssh"))
        groups_rules.append(rule(g, "icmp", None, None, remote_ip="0.0.0.0/0", seed=n + "/icmp"))
        for other in (m, w):
            o = "m" if other == m else "w"
            for lo, hi in ((6443, 6443), (10250, 10250), (2379, 2380)):
                if "sg-k8s-ports" not in faults:
                    groups_rules.append(rule(g, "tcp", lo, hi, remote_group=other, seed="%s/%s/%d" % (n, o, lo)))
            if calico == "ipip" and "sg-ipip" not in faults:
                groups_rules.append(rule(g, "4", None, None, remote_group=other, seed="%s/%s/ipip" % (n, o)))
            if calico == "vxlan" and "sg-vxlan" not in faults:
                groups_rules.append(rule(g, "udp", 4789, 4789, remote_group=other, seed="%s/%s/vxlan" % (n, o)))
            if "sg-bgp" not in faults:
                groups_rules.append(rule(g, "tcp", 179, 179, remote_group=other, seed="%s/%s/179" % (n, o)))
    servers = []
    for i in range(1, nodes + 1):
        name = {1: "ictsc-master", 2: "ictsc-worker"}.get(i, "ictsc-node%d" % i)
        fip = floating.get(i, "10.20.20.%d" % (100 + i))
        fx = fixed.get(i, "192.168.222.%d" % (10 + i))
        mac = "fa:16:3e:%02x:%02x:%02x" % (0x10 + i // 256, i % 256, 0x5a)
        # Neutron's port security: a port passes only what comes from its fixed IP or one of its
        # allowed address pairs. Calico without encapsulation puts the pods' own addresses on the
        # wire, so those ports carry the pool's CIDR as a pair, unless the anti-spoofing fault.
        pairs = [{"ip_address": "10.233.64.0/18", "mac_address": mac}] \
            if calico == "native" and "anti-spoofing" not in faults else []
        servers.append({"id": sid("server/%d" % i), "name": name, "node": "node%d" % i, "status": "SHUTOFF",
                        "fixed": fx, "floating": fip, "group": "master" if i == 1 else "worker",
                        "port": "tap-node%d" % i, "mark": i, "gateway": "192.168.222.1",
                        "port_id": sid("port/%d" % i), "mac": mac, "pairs": pairs})
    # The tenant subnet (DHCP; its resolver: server01's DNS forwarder on the external bridge,
    # none with the vm-dns fault) and microstack's external subnet (no DHCP).
    subnets = [
        {"id": sid("subnet/test"), "name": "test", "cidr": "192.168.222.0/24", "gateway_ip": "192.168.222.1",
         "enable_dhcp": True, "dns_nameservers": [] if "vm-dns" in faults else ["10.20.20.1"],
         "network_id": sid("network/test"), "allocation_pools": [{"start": "192.168.222.2", "end": "192.168.222.254"}]},
        {"id": sid("subnet/external"), "name": "external-subnet", "cidr": "10.20.20.0/24", "gateway_ip": "10.20.20.1",
         "enable_dhcp": False, "dns_nameservers": [], "network_id": sid("network/external"),
         "allocation_pools": [{"start": "10.20.20.2", "end": "10.20.20.254"}]},
    ]
    state = {"groups": list(groups.values()), "servers": servers, "subnets": subnets}
    os.makedirs(os.path.join(lab, "openstack"), exist_ok=True)
    global STATE
    STATE = os.path.join(lab, "openstack", "state.json")
    save(state)
    apply(state, netns="pm-server01")


def lab_status(node, status):
    lock = open(STATE + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = load()
    for s in state["servers"]:
        if s["node"] == node:
            s["status"] = status
    save(state)


# --- nftables: the groups enforced on server01's bridge ports -------------------------------

def nft_rules(state):
    by_id = {g["id"]: g for g in state["groups"]}
    members = {g["id"]: [s["fixed"] for s in state["servers"] if s["group"] == g["name"]] for g in state["groups"]}
    out = ["table bridge sg-ports {", "  chain tag_ports {", "    type filter hook forward priority -300; policy accept;"]
    for s in state["servers"]:
        out.append('    oifname "%s" meta mark set %d' % (s["port"], s["mark"]))
    out.append("  }")
    # Port security (anti-spoofing): what a VM sends with a source that is neither its fixed IP
    # nor one of its port's allowed address pairs is dropped at its port.
    for sv in state["servers"]:
        allowed = [sv["fixed"]] + [p["ip_address"] for p in sv.get("pairs", [])]
        out.append("  set allowed_%s { type ipv4_addr; flags interval; elements = { %s } }" % (sv["node"], ", ".join(allowed)))
    out += ["  chain port_security {", "    type filter hook forward priority -250; policy accept;"]
    for sv in state["servers"]:
        out.append('    iifname "%s" ip saddr != @allowed_%s drop' % (sv["port"], sv["node"]))
    out += ["  }", "}", "table inet sg {"]
    for g in state["groups"]:
        els = ", ".join(members[g["id"]])
        out.append("  set members_%s { type ipv4_addr; %s}" % (g["name"], ("elements = { %s } " % els) if els else ""))
    out += ["  chain forward {", "    type filter hook forward priority 0; policy accept;"]
    for s in state["servers"]:
        out.append("    meta mark %d jump port_%s" % (s["mark"], s["node"]))
    out.append("  }")
    for s in state["servers"]:
        out += ["  chain port_%s {" % s["node"], "    ct state established,related accept", "    ct state invalid drop",
                "    jump ingress_%s" % s["group"], "    drop", "  }"]
    for g in state["groups"]:
        out.append("  chain ingress_%s {" % g["name"])
        for r in g["rules"]:
            if r["direction"] != "ingress":
                continue
            match = []
            if r["remote_group_id"]:
                match.append("ip saddr @members_%s" % by_id[r["remote_group_id"]]["name"])
            elif r["remote_ip_prefix"] and r["remote_ip_prefix"] != "0.0.0.0/0":
                match.append("ip saddr %s" % r["remote_ip_prefix"])
            p = r["protocol"]
            if p in ("tcp", "udp"):
                if r["port_range_min"] is not None:
                    lo, hi = r["port_range_min"], r["port_range_max"] or r["port_range_min"]
                    match.append("%s dport %s" % (p, lo if lo == hi else "%d-%d" % (lo, hi)))
                else:
                    match.append("meta l4proto %s" % p)
            elif p == "icmp":
                match.append("meta l4proto icmp")
            elif p is not None:
                match.append("meta l4proto %s" % p)
            out.append("    %s accept comment \"%s\"" % (" ".join(match), r["id"]))
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def apply(state, netns=None):
    cmd = ["nft", "-f", "-"]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    flush = "table bridge sg-ports\ndelete table bridge sg-ports\ntable inet sg\ndelete table inet sg\n"
    subprocess.run(cmd, input=(flush + nft_rules(state)).encode(), check=True)


# --- the API's resources, as Neutron shows them ------------------------------------------------

def rule_show(r):
    return {"created_at": r["created_at"], "description": r["description"], "direction": r["direction"],
            "ether_type": r["ethertype"], "id": r["id"], "name": None, "port_range_max": r["port_range_max"],
            "port_range_min": r["port_range_min"], "project_id": PROJECT, "protocol": r["protocol"],
            "remote_group_id": r["remote_group_id"], "remote_ip_prefix": r["remote_ip_prefix"],
            "revision_number": r["revision_number"], "security_group_id": r["security_group_id"], "tags": [],
            "updated_at": r["updated_at"]}


SUBNET = sid("subnet/test")


def port_show(sv, state):
    """python-openstackclient 5.2's `port show` fields (machine-readable in JSON)."""
    group = next(g for g in state["groups"] if g["name"] == sv["group"])
    return {"admin_state_up": True, "allowed_address_pairs": sv.get("pairs", []), "binding_host_id": "server01",
            "binding_profile": {}, "binding_vif_details": {"port_filter": True}, "binding_vif_type": "ovs",
            "binding_vnic_type": "normal", "created_at": "2021-03-05T04:00:00Z", "data_plane_status": None,
            "description": "", "device_id": sv["id"], "device_owner": "compute:nova", "dns_assignment": None,
            "dns_domain": None, "dns_name": None, "extra_dhcp_opts": [],
            "fixed_ips": [{"subnet_id": SUBNET, "ip_address": sv["fixed"]}], "id": sv["port_id"],
            "location": None, "mac_address": sv["mac"], "name": "", "network_id": sid("network/test"),
            "port_security_enabled": True, "project_id": PROJECT, "propagate_uplink_status": None,
            "qos_policy_id": None, "resource_request": None, "revision_number": 4,
            "security_group_ids": [group["id"]], "status": "ACTIVE" if sv["status"] == "ACTIVE" else "DOWN",
            "tags": [], "trunk_details": None, "updated_at": "2021-03-05T04:01:00Z"}


def subnet_show(x):
    """python-openstackclient 5.2's `subnet show` fields (machine-readable in JSON)."""
    return {"allocation_pools": x["allocation_pools"], "cidr": x["cidr"], "created_at": "2021-03-05T03:50:00Z",
            "description": "", "dns_nameservers": x["dns_nameservers"], "enable_dhcp": x["enable_dhcp"],
            "gateway_ip": x["gateway_ip"], "host_routes": [], "id": x["id"], "ip_version": 4,
            "ipv6_address_mode": None, "ipv6_ra_mode": None, "location": None, "name": x["name"],
            "network_id": x["network_id"], "prefix_length": None, "project_id": PROJECT, "revision_number": 0,
            "segment_id": None, "service_types": [], "subnetpool_id": None, "tags": [],
            "updated_at": "2021-03-05T03:50:00Z"}


def main(argv):
    if argv[:1] == ["--lab-init"]:
        return lab_init(*argv[1:6])
    if argv[:1] == ["--lab-status"]:  # the hypervisor agent: a VM has booted or stopped
        return lab_status(*argv[1:3])
    if argv[:1] == ["--lab-dhcp"]:  # Neutron's DHCP: the resolvers a node's lease gives
        node = argv[1]
        st = load()
        sv = next((x for x in st["servers"] if x["node"] == node), None)
        sub = next((x for x in st.get("subnets", []) if x["id"] == SUBNET), None)
        print(" ".join(sub["dns_nameservers"]) if sv and sub else "")
        return 0
    print("openstack.py: the lab's cloud state (--lab-init, --lab-status, --lab-dhcp); "
          "server01's openstack is the real client, against osapi.py", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
