#!/usr/bin/python3
"""A stand-in for the `openstack` CLI on the lab's server01 (python-openstackclient 5.2's output
formats, as microstack's ussuri client prints them), acting on the lab's real state: security
groups are nftables chains on server01's bridge ports, servers are the lab's VMs (powered on and
off by the lab's hypervisor agent, through a FIFO).

Only what the incident needs: server list|show|start|stop, security group list|show,
security group rule list|create|delete|show, port list [--server]|show|set|unset
--allowed-address, subnet list|show|set|unset --dns-nameserver, with -f table|json|value and
-c COLUMN. Ports enforce Neutron's port security
(anti-spoofing) on server01's bridge.
"""
import argparse
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


# --- output, as cliff formats it -------------------------------------------------------------

def cell(v):
    if v is None:
        return "None"
    if isinstance(v, list):
        return "\n".join(cell(x) for x in v) if v and not isinstance(v[0], dict) else \
            "\n".join(", ".join("%s='%s'" % (k, x[k]) for k in sorted(x)) for x in v)
    return str(v)


def table(headers, rows):
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [max(len(l) for l in c[i].split("\n")) for c in cells]) for i, h in enumerate(headers)]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [sep, "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |", sep]
    for c in cells:
        parts = [x.split("\n") for x in c]
        for k in range(max(len(p) for p in parts)):
            lines.append("| " + " | ".join((p[k] if k < len(p) else "").ljust(w) for p, w in zip(parts, widths)) + " |")
    if cells:
        lines.append(sep)
    return "\n".join(lines)


def emit_list(args, headers, rows):
    if args.column:
        idx = [headers.index(c) for c in args.column if c in headers]
        headers = [headers[i] for i in idx]
        rows = [[r[i] for i in idx] for r in rows]
    if args.format == "json":
        print(json.dumps([dict(zip(headers, r)) for r in rows], indent=2))
    elif args.format == "value":
        for r in rows:
            print(" ".join(cell(v) for v in r))
    elif args.format == "csv":
        print(",".join('"%s"' % h for h in headers))
        for r in rows:
            print(",".join('"%s"' % cell(v) for v in r))
    else:
        print(table(headers, rows))


def emit_one(args, obj):
    keys = sorted(obj)
    if args.column:
        keys = [k for k in args.column if k in obj]
    if args.format == "json":
        print(json.dumps({k: obj[k] for k in keys}, indent=2))
    elif args.format in ("value", "shell"):
        for k in keys:
            print(cell(obj[k]) if args.format == "value" else '%s="%s"' % (k, cell(obj[k])))
    else:
        print(table(["Field", "Value"], [[k, obj[k]] for k in keys]))


def fail(msg, code=1):
    print(msg, file=sys.stderr)
    sys.exit(code)


def find_group(state, ref):
    hits = [g for g in state["groups"] if ref in (g["id"], g["name"])]
    if not hits:
        fail("Error while executing command: No SecurityGroup found for %s" % ref)
    if len(hits) > 1:
        fail("More than one SecurityGroup exists with the name '%s'." % ref)
    return hits[0]


def find_server(state, ref):
    hits = [s for s in state["servers"] if ref in (s["id"], s["name"])]
    if not hits:
        fail("No server with a name or ID of '%s' exists." % ref)
    return hits[0]


def port_range(r):
    if r["protocol"] == "icmp" or (r["port_range_min"] is None and r["port_range_max"] is None):
        return ""
    lo = r["port_range_min"] if r["port_range_min"] is not None else r["port_range_max"]
    hi = r["port_range_max"] if r["port_range_max"] is not None else r["port_range_min"]
    return "%s:%s" % (lo, hi)


def rule_show(r):
    return {"created_at": r["created_at"], "description": r["description"], "direction": r["direction"],
            "ether_type": r["ethertype"], "id": r["id"], "name": None, "port_range_max": r["port_range_max"],
            "port_range_min": r["port_range_min"], "project_id": PROJECT, "protocol": r["protocol"],
            "remote_group_id": r["remote_group_id"], "remote_ip_prefix": r["remote_ip_prefix"],
            "revision_number": r["revision_number"], "security_group_id": r["security_group_id"], "tags": [],
            "updated_at": r["updated_at"]}


def server_show(s, state):
    power, task, vm = {"ACTIVE": ("Running", None, "active"), "BUILD": ("NOSTATE", "powering-on", "stopped")}.get(
        s["status"], ("Shutdown", None, "stopped"))
    return {"OS-DCF:diskConfig": "MANUAL", "OS-EXT-AZ:availability_zone": "nova",
            "OS-EXT-SRV-ATTR:host": "server01", "OS-EXT-SRV-ATTR:hypervisor_hostname": "server01",
            "OS-EXT-SRV-ATTR:instance_name": "instance-%08x" % s["mark"], "OS-EXT-STS:power_state": power,
            "OS-EXT-STS:task_state": task, "OS-EXT-STS:vm_state": vm,
            "accessIPv4": "", "accessIPv6": "", "addresses": "test=%s, %s" % (s["fixed"], s["floating"]),
            "config_drive": "", "created": "2021-03-05T04:00:00Z", "flavor": "m1.medium (3)", "hostId": sid("host/server01").replace("-", ""),
            "id": s["id"], "image": "focal (%s)" % sid("image/focal"), "key_name": "ictsc", "name": s["name"],
            "progress": 0, "project_id": PROJECT, "properties": "", "security_groups": [{"name": s["group"]}],
            "status": s["status"], "updated": "2021-03-05T04:01:00Z", "user_id": sid("user/admin").replace("-", ""),
            "volumes_attached": ""}


SUBNET = sid("subnet/test")


def find_port(state, ref):
    hits = [sv for sv in state["servers"] if sv.get("port_id") == ref]
    if not hits:
        fail("No Port found for %s" % ref)
    return hits[0]


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


def find_subnet(state, ref):
    hits = [x for x in state.get("subnets", []) if ref in (x["id"], x["name"])]
    if not hits:
        fail("No Subnet found for %s" % ref)
    return hits[0]


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
    p = argparse.ArgumentParser(prog="openstack")
    p.add_argument("words", nargs="+")
    p.add_argument("-f", "--format", default="table", choices=["table", "json", "value", "csv", "yaml", "shell"])
    p.add_argument("-c", "--column", action="append")
    p.add_argument("--long", action="store_true")
    p.add_argument("--ingress", action="store_true")
    p.add_argument("--egress", action="store_true")
    p.add_argument("--protocol", "--proto")
    p.add_argument("--dst-port")
    p.add_argument("--remote-ip")
    p.add_argument("--remote-group")
    p.add_argument("--ethertype", default="IPv4")
    p.add_argument("--description", default="")
    p.add_argument("--server")
    p.add_argument("--dns-nameserver", action="append")
    p.add_argument("--allowed-address", action="append")
    args = p.parse_intermixed_args(argv)
    w = args.words
    lock = open(STATE + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = load()
    groups = {g["id"]: g for g in state["groups"]}
    if w[:2] == ["server", "list"]:
        rows = [[s["id"], s["name"], s["status"], "test=%s, %s" % (s["fixed"], s["floating"]), "focal", "m1.medium"]
                for s in state["servers"]]
        return emit_list(args, ["ID", "Name", "Status", "Networks", "Image", "Flavor"], rows)
    if w[:2] == ["server", "show"] and len(w) == 3:
        return emit_one(args, server_show(find_server(state, w[2]), state))
    if w[:2] in (["server", "start"], ["server", "stop"]) and len(w) >= 3:
        for ref in w[2:]:
            s = find_server(state, ref)
            ok = ("SHUTOFF",) if w[1] == "start" else ("ACTIVE",)
            if s["status"] not in ok:
                fail("Cannot '%s' instance %s while it is in vm_state %s (HTTP 409) (Request-ID: req-%s)"
                     % (w[1], s["id"], "active" if s["status"] == "ACTIVE" else "stopped", sid("req/" + now())))
            # The hypervisor agent boots the VM (BUILD until it is up, then ACTIVE) or powers it off.
            s["status"] = "BUILD" if w[1] == "start" else "SHUTOFF"
            with open(os.path.join(LAB, "agent.fifo"), "w") as fifo:
                fifo.write("%s %s\n" % (w[1], s["node"]))
        save(state)
        return 0
    if w[:2] == ["port", "list"]:
        sel = state["servers"]
        if args.server:
            sel = [find_server(state, args.server)]
        rows = [[sv["port_id"], "", sv["mac"], [{"subnet_id": SUBNET, "ip_address": sv["fixed"]}], "ACTIVE"] for sv in sel]
        return emit_list(args, ["ID", "Name", "MAC Address", "Fixed IP Addresses", "Status"], rows)
    if w[:2] == ["port", "show"] and len(w) == 3:
        return emit_one(args, port_show(find_port(state, w[2]), state))
    if w[:2] in (["port", "set"], ["port", "unset"]) and len(w) == 3:
        sv = find_port(state, w[2])
        for a in args.allowed_address or []:
            kv = dict(x.split("=", 1) for x in a.split(",") if "=" in x)
            if "ip-address" not in kv:
                fail("Invalid --allowed-address: ip-address is required (ip-address=IP_ADDR[,mac-address=MAC_ADDR])", 2)
            pair = {"ip_address": kv["ip-address"], "mac_address": kv.get("mac-address", sv["mac"])}
            if w[1] == "set" and pair not in sv["pairs"]:
                sv["pairs"].append(pair)
            if w[1] == "unset":
                sv["pairs"] = [p for p in sv["pairs"] if p["ip_address"] != pair["ip_address"]]
        save(state)
        apply(state)
        return 0
    if w[:2] == ["subnet", "list"]:
        rows = [[x["id"], x["name"], x["network_id"], x["cidr"]] for x in state.get("subnets", [])]
        return emit_list(args, ["ID", "Name", "Network", "Subnet"], rows)
    if w[:2] == ["subnet", "show"] and len(w) == 3:
        return emit_one(args, subnet_show(find_subnet(state, w[2])))
    if w[:2] in (["subnet", "set"], ["subnet", "unset"]) and len(w) == 3:
        sub = find_subnet(state, w[2])
        for d in args.dns_nameserver or []:
            if w[1] == "set" and d not in sub["dns_nameservers"]:
                sub["dns_nameservers"].append(d)
            if w[1] == "unset":
                if d not in sub["dns_nameservers"]:
                    fail("Failed to unset subnet property: dns_nameservers %s not in subnet" % d)
                sub["dns_nameservers"].remove(d)
        save(state)
        return 0
    if w[:3] == ["security", "group", "list"]:
        rows = [[g["id"], g["name"], g["description"], g["project_id"], []] for g in state["groups"]]
        return emit_list(args, ["ID", "Name", "Description", "Project", "Tags"], rows)
    if w[:3] == ["security", "group", "show"] and len(w) == 4:
        g = find_group(state, w[3])
        obj = {k: g[k] for k in ("created_at", "description", "id", "name", "project_id", "revision_number", "tags", "updated_at")}
        obj["rules"] = [{k: v for k, v in rule_show(r).items() if v not in (None, "", []) and k not in ("security_group_id", "project_id")}
                        for r in g["rules"]]
        return emit_one(args, obj)
    if w[:4] == ["security", "group", "rule", "list"]:
        sel = [find_group(state, w[4])] if len(w) > 4 else state["groups"]
        # python-openstackclient 5.2 (ussuri): Ethertype always, Direction with --long.
        headers = ["ID", "IP Protocol", "Ethertype", "IP Range", "Port Range"] + (["Direction"] if args.long else []) + ["Remote Security Group"]
        if len(w) == 4:
            headers.append("Security Group")
        rows = []
        for g in sel:
            for r in g["rules"]:
                if (args.ingress and r["direction"] != "ingress") or (args.egress and r["direction"] != "egress"):
                    continue
                if args.protocol and r["protocol"] != args.protocol.lower():
                    continue
                row = [r["id"], r["protocol"], r["ethertype"], r["remote_ip_prefix"], port_range(r)]
                if args.long:
                    row.append(r["direction"])
                row.append(r["remote_group_id"])
                if len(w) == 4:
                    row.append(g["id"])
                rows.append(row)
        return emit_list(args, headers, rows)
    if w[:4] == ["security", "group", "rule", "show"] and len(w) == 5:
        for g in state["groups"]:
            for r in g["rules"]:
                if r["id"] == w[4]:
                    return emit_one(args, rule_show(r))
        fail("Error while executing command: No SecurityGroupRule found for %s" % w[4])
    if w[:4] == ["security", "group", "rule", "create"] and len(w) == 5:
        g = find_group(state, w[4])
        proto = (args.protocol or "tcp").lower()
        proto = None if proto == "any" else proto
        lo = hi = None
        if args.dst_port and proto in ("tcp", "udp"):
            a, _, b = args.dst_port.partition(":")
            lo, hi = int(a), int(b or a)
        remote_group = find_group(state, args.remote_group)["id"] if args.remote_group else None
        remote_ip = args.remote_ip or (None if remote_group else "0.0.0.0/0")
        direction = "egress" if args.egress else "ingress"
        for r in g["rules"]:
            if (r["direction"], r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"], r["remote_group_id"]) == \
                    (direction, proto, lo, hi, remote_ip, remote_group):
                # As python-openstackclient 5.2.0 prints Neutron's 409 (tests/samples/osc-5.2).
                fail("Error while executing command: ConflictException: 409, "
                     "Security group rule already exists. Rule id is %s." % r["id"])
        r = rule(g["id"], proto, lo, hi, remote_ip=remote_ip, remote_group=remote_group, direction=direction)
        r["description"] = args.description
        g["rules"].append(r)
        save(state)
        apply(state)
        return emit_one(args, rule_show(r))
    if w[:4] == ["security", "group", "rule", "delete"] and len(w) >= 5:
        for ref in w[4:]:
            found = False
            for g in state["groups"]:
                for r in list(g["rules"]):
                    if r["id"] == ref:
                        g["rules"].remove(r)
                        found = True
            if not found:
                fail("Failed to delete rule with ID '%s': No SecurityGroupRule found for %s\n1 of 1 rules failed to delete." % (ref, ref))
        save(state)
        apply(state)
        return 0
    fail("openstack: '%s' is not an openstack command. See 'openstack --help'." % " ".join(w), 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
