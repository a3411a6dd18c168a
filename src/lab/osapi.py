#!/usr/bin/python3
"""The lab's OpenStack API on server01: a small Keystone v3, Nova v2.1, Neutron v2.0 and Glance v2,
served on microstack's addresses (10.20.20.1: 5000, 8774, 9696, 9292), for the real client
(python-openstackclient 5.2.0, microstack's release) that is server01's `openstack`.

It holds the state that openstack.py keeps (the lab's servers, security groups, ports and subnets)
and enforces it as openstack.py does (security groups and port security as nftables on server01's
bridge; a server started is booted by the lab's hypervisor agent). Only the subset the client
needs for the incident and its neighbours, after the API references: status codes and error
bodies (404 NotFound, 409 for a duplicate rule with its id and for starting an active server,
401 for a wrong password, 400 for a filter the resource does not have). A request it does not
implement is answered 404 with a JSON body and logged (api.log), so a missing piece shows as the
real client's error, never as a hang.

What it cannot prove: that a real cloud answers the same in every field. IDs, timestamps and
which optional fields exist are this imitation's; the client's formatting, headers and messages
are the client's own.
"""
import fcntl
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openstack as osl  # noqa: E402  (the state and its enforcement)

HOST = os.environ.get("OSAPI_HOST", "10.20.20.1")
PORTS = {"identity": 5000, "compute": 8774, "network": 9696, "image": 9292}
USER_ID = osl.sid("user/admin").replace("-", "")
IMAGE = osl.sid("image/focal")
FLAVOR = {"id": "3", "name": "m1.medium", "ram": 4096, "disk": 40, "vcpus": 2, "swap": "", "rxtx_factor": 1.0,
          "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False, "os-flavor-access:is_public": True}
LOCK = threading.Lock()
TOKENS = set()


def password():
    with open(os.path.join(osl.LAB, "openstack", "password")) as f:
        return f.read().strip()


def url(kind, path=""):
    return "http://%s:%d%s" % (HOST, PORTS[kind], path)


def catalog():
    def svc(kind, typ, name, path):
        return {"type": typ, "name": name, "id": osl.sid("svc/" + typ).replace("-", ""),
                "endpoints": [{"id": osl.sid("ep/%s/%s" % (typ, i)).replace("-", ""), "interface": i,
                               "region": "microstack", "region_id": "microstack", "url": url(kind, path)}
                              for i in ("public", "internal", "admin")]}
    return [svc("identity", "identity", "keystone", "/v3/"), svc("compute", "compute", "nova", "/v2.1"),
            svc("network", "network", "neutron", ""), svc("image", "image", "glance", "")]


class Fail(Exception):
    def __init__(self, code, body):
        super().__init__(code)
        self.code, self.body = code, body


def neutron_error(code, typ, msg):
    return Fail(code, {"NeutronError": {"type": typ, "message": msg, "detail": ""}})


def nova_error(code, key, msg):
    return Fail(code, {key: {"code": code, "message": msg}})


def not_found(path):
    return Fail(404, {"error": {"code": 404, "title": "Not Found", "message": "The resource could not be found: %s" % path}})


# --- Nova ------------------------------------------------------------------------------------

def server(s, detail=True):
    links = [{"rel": "self", "href": url("compute", "/v2.1/servers/" + s["id"])}]
    if not detail:
        return {"id": s["id"], "name": s["name"], "links": links}
    # A server being started stays SHUTOFF, its task powering-on, until the hypervisor says it runs.
    active = s["status"] == "ACTIVE"
    task = "powering-on" if s["status"] == "BUILD" else None
    mac = s["mac"]
    return {
        "id": s["id"], "name": s["name"], "status": "ACTIVE" if active else "SHUTOFF",
        "tenant_id": osl.PROJECT, "user_id": USER_ID, "metadata": {},
        "hostId": osl.sid("host/server01").replace("-", "") + "0" * 24,
        "image": {"id": IMAGE, "links": [{"rel": "bookmark", "href": url("compute", "/images/" + IMAGE)}]},
        "flavor": {"id": FLAVOR["id"], "links": [{"rel": "bookmark", "href": url("compute", "/flavors/3")}]},
        "created": "2021-03-05T04:00:00Z", "updated": "2021-03-05T04:01:00Z",
        "addresses": {"test": [
            {"version": 4, "addr": s["fixed"], "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac},
            {"version": 4, "addr": s["floating"], "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": mac}]},
        "accessIPv4": "", "accessIPv6": "", "links": links, "OS-DCF:diskConfig": "MANUAL", "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "key_name": "ictsc",
        "OS-SRV-USG:launched_at": "2021-03-05T04:00:30.000000", "OS-SRV-USG:terminated_at": None,
        "OS-EXT-SRV-ATTR:host": "server01", "OS-EXT-SRV-ATTR:hypervisor_hostname": "server01",
        "OS-EXT-SRV-ATTR:instance_name": "instance-%08x" % s["mark"],
        "OS-EXT-STS:task_state": task, "OS-EXT-STS:vm_state": "active" if active else "stopped",
        "OS-EXT-STS:power_state": 1 if active else 4, "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": s["group"]}],
    }


def find_server(state, ref):
    for s in state["servers"]:
        if s["id"] == ref:
            return s
    raise nova_error(404, "itemNotFound", "Instance %s could not be found." % ref)


def nova(method, parts, query, body, state):
    if parts in (["servers"], ["servers", "detail"]) and method == "GET":
        sel = state["servers"]
        if "name" in query:  # Nova's name filter is a regular expression
            sel = [s for s in sel if re.search(query["name"][0], s["name"])]
        return 200, {"servers": [server(s, parts[-1] == "detail") for s in sel]}
    if len(parts) == 2 and parts[0] == "servers" and method == "GET":
        return 200, {"server": server(find_server(state, parts[1]))}
    if len(parts) == 3 and parts[0] == "servers" and parts[2] == "action" and method == "POST":
        s = find_server(state, parts[1])
        verb = {"os-start": "start", "os-stop": "stop"}.get(next(iter(body or {}), None))
        if verb is None:
            raise nova_error(400, "badRequest", "There is no such action: %s" % next(iter(body or {}), None))
        want = "SHUTOFF" if verb == "start" else "ACTIVE"
        if s["status"] != want:
            field = ("task_state powering-on" if s["status"] == "BUILD"
                     else "vm_state %s" % ("active" if s["status"] == "ACTIVE" else "stopped"))
            raise nova_error(409, "conflictingRequest", "Cannot '%s' instance %s while it is in %s" % (verb, s["id"], field))
        # The hypervisor's agent boots the VM (ACTIVE when it is up) or powers it off.
        s["status"] = "BUILD" if verb == "start" else "SHUTOFF"
        osl.save(state)
        with open(os.path.join(osl.LAB, "agent.fifo"), "w") as fifo:
            fifo.write("%s %s\n" % (verb, s["node"]))
        return 202, None
    if parts[:1] == ["flavors"] and method == "GET":
        if parts in (["flavors"], ["flavors", "detail"]):
            return 200, {"flavors": [FLAVOR]}
        if parts == ["flavors", FLAVOR["id"]]:
            return 200, {"flavor": FLAVOR}
        raise nova_error(404, "itemNotFound", "Flavor %s could not be found." % parts[-1])
    return None


# --- Neutron ---------------------------------------------------------------------------------

def sg_rule(r):
    return {k: v for k, v in osl.rule_show(r).items() if k != "name"} | {
        "ethertype": r["ethertype"], "tenant_id": osl.PROJECT}


def sg(g):
    return {"id": g["id"], "name": g["name"], "description": g["description"], "project_id": osl.PROJECT,
            "tenant_id": osl.PROJECT, "created_at": g["created_at"], "updated_at": g["updated_at"],
            "revision_number": g["revision_number"], "tags": [], "stateful": True,
            "security_group_rules": [sg_rule(r) for r in g["rules"]]}


def port(sv, state):
    p = osl.port_show(sv, state)
    p.pop("location", None)
    p["tenant_id"] = osl.PROJECT
    return p


def subnet(x):
    d = osl.subnet_show(x)
    d.pop("location", None)
    d["tenant_id"] = osl.PROJECT
    return d


def listing(items, query, plural):
    """Neutron's filters: every query key a field of the resource, matched by equality (`fields`
    selects the keys returned); any other key is refused as Neutron's filter validation does."""
    fields = query.pop("fields", None)
    for k, vals in query.items():
        if items and k not in items[0]:
            raise neutron_error(400, "HTTPBadRequest", "%s is invalid attribute for filtering" % k)
        items = [i for i in items if str(i.get(k)).lower() in [v.lower() for v in vals]
                 or (i.get(k) is None and "" in vals)]
    if fields:
        items = [{k: i[k] for k in fields if k in i} for i in items]
    return 200, {plural: items}


def one(items, ref, kind):
    for i in items:
        if i["id"] == ref:
            return i
    raise neutron_error(404, "%sNotFound" % kind, "%s %s could not be found." % (
        re.sub(r"(?<!^)([A-Z])", r" \1", kind), ref))


def neutron(method, parts, query, body, state):
    if parts[:1] != ["v2.0"]:
        return None
    parts = parts[1:]
    groups = state["groups"]
    if parts == ["security-groups"] and method == "GET":
        return listing([sg(g) for g in groups], query, "security_groups")
    if len(parts) == 2 and parts[0] == "security-groups" and method == "GET":
        return 200, {"security_group": one([sg(g) for g in groups], parts[1], "SecurityGroup")}
    if parts[:1] == ["security-group-rules"] and method == "GET":
        rules = [sg_rule(r) for g in groups for r in g["rules"]]
        if len(parts) == 1:
            return listing(rules, query, "security_group_rules")
        return 200, {"security_group_rule": one(rules, parts[1], "SecurityGroupRule")}
    if parts == ["security-group-rules"] and method == "POST":
        b = (body or {}).get("security_group_rule") or {}
        g = one(groups, b.get("security_group_id"), "SecurityGroup")
        proto = b.get("protocol")
        proto = None if proto in (None, "any") else str(proto).lower()
        lo, hi = b.get("port_range_min"), b.get("port_range_max")
        remote_group, remote_ip = b.get("remote_group_id"), b.get("remote_ip_prefix")
        if remote_group:
            one(groups, remote_group, "SecurityGroup")
        direction = b.get("direction", "ingress")
        for r in g["rules"]:
            if (r["direction"], r["protocol"], r["port_range_min"], r["port_range_max"],
                    r["remote_ip_prefix"] or None, r["remote_group_id"]) == (direction, proto, lo, hi, remote_ip, remote_group):
                raise neutron_error(409, "SecurityGroupRuleExists",
                                    "Security group rule already exists. Rule id is %s." % r["id"])
        r = osl.rule(g["id"], proto, lo, hi, remote_ip=remote_ip, remote_group=remote_group, direction=direction)
        r["description"] = b.get("description", "")
        g["rules"].append(r)
        osl.save(state)
        osl.apply(state)
        return 201, {"security_group_rule": sg_rule(r)}
    if len(parts) == 2 and parts[0] == "security-group-rules" and method == "DELETE":
        for g in groups:
            for r in list(g["rules"]):
                if r["id"] == parts[1]:
                    g["rules"].remove(r)
                    osl.save(state)
                    osl.apply(state)
                    return 204, None
        raise neutron_error(404, "SecurityGroupRuleNotFound", "Security group rule %s does not exist" % parts[1])
    if parts == ["ports"] and method == "GET":
        return listing([port(sv, state) for sv in state["servers"]], query, "ports")
    if len(parts) == 2 and parts[0] == "ports" and method in ("GET", "PUT"):
        p = one([port(sv, state) for sv in state["servers"]], parts[1], "Port")
        if method == "GET":
            return 200, {"port": p}
        sv = next(s for s in state["servers"] if s["port_id"] == p["id"])
        upd = (body or {}).get("port") or {}
        if "allowed_address_pairs" in upd:
            sv["pairs"] = [{"ip_address": a["ip_address"], "mac_address": a.get("mac_address") or sv["mac"]}
                           for a in upd["allowed_address_pairs"]]
        osl.save(state)
        osl.apply(state)
        return 200, {"port": port(sv, state)}
    subnets = state.get("subnets", [])
    if parts == ["subnets"] and method == "GET":
        return listing([subnet(x) for x in subnets], query, "subnets")
    if len(parts) == 2 and parts[0] == "subnets" and method in ("GET", "PUT"):
        x = one(subnets, parts[1], "Subnet")
        if method == "PUT":
            upd = (body or {}).get("subnet") or {}
            if "dns_nameservers" in upd:
                x["dns_nameservers"] = list(upd["dns_nameservers"])
            osl.save(state)
        return 200, {"subnet": subnet(x)}
    if parts == ["networks"] and method == "GET":
        nets = [{"id": osl.sid("network/test"), "name": "test", "subnets": [osl.sid("subnet/test")], "status": "ACTIVE",
                 "admin_state_up": True, "shared": False, "router:external": False, "mtu": 1500},
                {"id": osl.sid("network/external"), "name": "external", "subnets": [osl.sid("subnet/external")],
                 "status": "ACTIVE", "admin_state_up": True, "shared": False, "router:external": True, "mtu": 1500}]
        for n in nets:
            n.update({"project_id": osl.PROJECT, "tenant_id": osl.PROJECT, "tags": [], "description": "",
                      "availability_zones": ["nova"], "port_security_enabled": True})
        return listing(nets, query, "networks")
    return None


# --- Glance and Keystone ---------------------------------------------------------------------

def glance(method, parts, query, body, state):
    img = {"id": IMAGE, "name": "focal", "status": "active", "visibility": "public", "disk_format": "qcow2",
           "container_format": "bare", "min_disk": 0, "min_ram": 0, "size": 566689792, "protected": False,
           "owner": osl.PROJECT, "tags": [], "created_at": "2021-03-05T03:40:00Z", "updated_at": "2021-03-05T03:41:00Z",
           "self": "/v2/images/" + IMAGE, "file": "/v2/images/%s/file" % IMAGE, "schema": "/v2/schemas/image"}
    if parts == [] and method == "GET":
        return 300, {"versions": [{"id": "v2.9", "status": "CURRENT", "links": [{"rel": "self", "href": url("image", "/v2/")}]}]}
    if parts == ["v2", "images"] and method == "GET":
        return 200, {"images": [img], "first": "/v2/images", "schema": "/v2/schemas/images"}
    if parts == ["v2", "images", IMAGE] and method == "GET":
        return 200, img
    return None


def keystone(method, parts, body, handler):
    if parts in ([], ["v3"]) and method == "GET":
        return 200, {"version": {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                                 "links": [{"rel": "self", "href": url("identity", "/v3/")}],
                                 "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}}
    if parts == ["v3", "auth", "tokens"] and method == "POST":
        ident = ((body or {}).get("auth") or {}).get("identity") or {}
        user = (ident.get("password") or {}).get("user") or {}
        if user.get("name") != "admin" or user.get("password") != password():
            raise Fail(401, {"error": {"code": 401, "title": "Unauthorized",
                                       "message": "The request you have made requires authentication."}})
        tok = uuid.uuid4().hex
        with LOCK:
            TOKENS.add(tok)
        handler.extra_headers = [("X-Subject-Token", tok)]
        now = time.time()
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t))  # noqa: E731
        return 201, {"token": {
            "methods": ["password"], "expires_at": iso(now + 3600), "issued_at": iso(now), "audit_ids": [tok[:22]],
            "user": {"id": USER_ID, "name": "admin", "domain": {"id": "default", "name": "Default"}, "password_expires_at": None},
            "project": {"id": osl.PROJECT, "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": osl.sid("role/admin").replace("-", ""), "name": "admin"}],
            "is_domain": False, "catalog": catalog()}}
    return None


# --- HTTP ------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-openstack"

    def log_message(self, fmt, *args):
        pass

    def handle_one(self, method):
        self.extra_headers = []
        u = urllib.parse.urlsplit(self.path)
        parts = [p for p in u.path.split("/") if p]
        query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        kind = self.server.kind
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        try:
            if kind == "identity":
                out = keystone(method, parts, body, self)
            elif parts in ([], ["v2.1"], ["v2.0"]) and method == "GET" and kind == "image":
                out = glance(method, parts, query, body, None)  # version discovery: no token
            else:
                if self.headers.get("X-Auth-Token") not in TOKENS:
                    raise Fail(401, {"error": {"code": 401, "title": "Unauthorized",
                                               "message": "The request you have made requires authentication."}})
                if kind == "compute":
                    if parts[:1] != ["v2.1"]:
                        raise not_found(u.path)
                    parts = parts[1:]
                    if parts and parts[0] == osl.PROJECT:  # /v2.1/{project_id}/... is the same API
                        parts = parts[1:]
                with open(osl.STATE + ".lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    state = osl.load()
                    handler = {"compute": nova, "network": neutron, "image": glance}[kind]
                    out = handler(method, parts, query, body, state)
            if out is None:  # not implemented here: logged, answered as an unknown resource
                self.log(method, u, 404, "not implemented here")
                raise not_found(u.path)
            code, data = out
        except Fail as e:
            code, data = e.code, e.body
            if code == 400:
                self.log(method, u, code, data)
        self.reply(code, data)

    def log(self, method, u, code, data):
        with open(os.path.join(osl.LAB, "openstack", "api.log"), "a") as f:
            f.write("%s %s %s %s %d %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), self.server.kind,
                                             method, u.path + ("?" + u.query if u.query else ""), code, json.dumps(data)))

    def reply(self, code, data):
        raw = b"" if data is None else json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        req = "req-" + str(uuid.uuid4())
        self.send_header("X-Openstack-Request-Id", req)
        if self.server.kind == "compute":  # Nova says it twice; novaclient reads this one
            self.send_header("X-Compute-Request-Id", req)
        for k, v in self.extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")

    def do_PUT(self):
        self.handle_one("PUT")

    def do_DELETE(self):
        self.handle_one("DELETE")

    def do_PATCH(self):
        self.handle_one("PATCH")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    servers = []
    for kind, p in PORTS.items():
        for attempt in range(50):  # the bridge's address may still be settling at boot
            try:
                srv = Server((HOST, p), Handler)
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        srv.kind = kind
        servers.append(srv)
    # Listening: the caller (the VM's boot) goes on; the API serves in the background.
    if "--foreground" not in sys.argv and os.fork():
        os._exit(0)
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
