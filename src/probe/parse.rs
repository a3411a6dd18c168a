//! Parsers: raw command output to typed observations. Each parser is total: malformed or
//! truncated input gives an `Err` with a reason, never a panic (fuzzed by proptest in tests).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub type Parsed<T> = Result<T, String>;

// --- sysctl ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sysctl {
    pub key: String,
    /// The value in force now.
    pub runtime: i64,
    /// The value the configuration files set (the last one wins, as `sysctl --system` applies
    /// them), and where; None when no file sets it.
    pub persisted: Option<i64>,
    pub persisted_in: Option<String>,
}

/// `sysctl KEY` (`KEY = VALUE`) and `grep -rs KEY <sysctl files>` lines `FILE:LINE`, in either
/// order; or, as earlier probes printed it, the bare value (`cat /proc/sys/…`) on the first line.
pub fn sysctl(key: &str, out: &str) -> Parsed<Sysctl> {
    let first = out.lines().next().ok_or("no output")?.trim();
    let shown = out.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key && !k.contains(':')).then(|| v.trim())
    });
    let bare = first.parse::<i64>().ok().map(|_| first);
    let value = shown
        .or(bare)
        .ok_or_else(|| format!("{key}: no `{key} = VALUE` line and no bare value"))?;
    let runtime = value
        .parse::<i64>()
        .map_err(|_| format!("{key}: runtime value {value:?} is not a number"))?;
    let lines = out.lines();
    let mut persisted = None;
    let mut persisted_in = None;
    for l in lines {
        let Some((file, rest)) = l.split_once(':') else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('#') || rest.starts_with(';') {
            continue;
        }
        let Some((k, v)) = rest.split_once('=') else {
            continue;
        };
        if k.trim().replace('/', ".") != key {
            continue;
        }
        if let Ok(v) = v.trim().parse::<i64>() {
            persisted = Some(v);
            persisted_in = Some(file.to_string());
        }
    }
    Ok(Sysctl {
        key: key.to_string(),
        runtime,
        persisted,
        persisted_in,
    })
}

// --- apt-get update ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AptUpdate {
    /// ok, timeout, refused, unreachable, resolve, http, other
    pub outcome: String,
    pub ok: bool,
    /// The first fetch error, as apt words it.
    pub error: Option<String>,
    pub mirror: Option<String>,
}

/// `apt-get update` output (stdout and stderr together).
pub fn apt_update(out: &str) -> Parsed<AptUpdate> {
    if !out.contains("Reading package lists")
        && !out.contains("Err:")
        && !out.contains("W: ")
        && !out.contains("E: ")
    {
        return Err("not apt-get update output".into());
    }
    let mirror = out
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        })
        .and_then(|u| u.split('/').nth(2))
        .map(String::from);
    let error = out
        .lines()
        .skip_while(|l| !l.starts_with("Err:"))
        .nth(1)
        .map(|l| l.trim().to_string())
        .or_else(|| {
            out.lines()
                .find(|l| l.starts_with("E: ") || l.starts_with("W: Failed to fetch"))
                .map(|l| l.trim().to_string())
        });
    let failed = out.contains("Err:")
        || out.contains("W: Failed to fetch")
        || out.lines().any(|l| l.starts_with("E: "));
    let e = error.clone().unwrap_or_default();
    let outcome = if !failed {
        "ok"
    } else if e.contains("Temporary failure resolving") || e.contains("Could not resolve") {
        "resolve"
    } else if e.contains("timed out") {
        "timeout"
    } else if e.contains("Connection refused") {
        "refused"
    } else if e.contains("unreachable") {
        "unreachable"
    } else if e.contains("404") || e.contains("HTTP") || e.contains("403") || e.contains("500") {
        "http"
    } else {
        "other"
    };
    Ok(AptUpdate {
        outcome: outcome.into(),
        ok: !failed,
        error,
        mirror,
    })
}

// --- ansible-playbook ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailedTask {
    pub task: String,
    pub host: String,
    pub msg: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recap {
    pub host: String,
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnsibleRun {
    pub failed_tasks: Vec<FailedTask>,
    pub recap: Vec<Recap>,
    /// Every host's recap says failed=0 and unreachable=0.
    pub ok: bool,
    /// A failed task's message is the apt module's "Failed to update apt cache" (any wording:
    /// "unknown reason" up to ansible-core 2.17, "after N retries" after, empty in 2.9).
    pub apt_cache_failed: bool,
}

/// The output of `ansible-playbook` (ansible 2.9 to ansible-core 2.19 wordings).
pub fn ansible(out: &str) -> Parsed<AnsibleRun> {
    let mut task = String::new();
    let mut failed_tasks = Vec::new();
    let mut recap = Vec::new();
    let mut in_recap = false;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("TASK [") {
            task = rest.split(']').next().unwrap_or("").to_string();
        } else if line.starts_with("PLAY RECAP") {
            in_recap = true;
        } else if let Some(rest) = line.strip_prefix("fatal: [") {
            let host = rest.split(']').next().unwrap_or("").to_string();
            let msg = rest
                .split_once("=> ")
                .and_then(|(_, j)| serde_json::from_str::<Value>(j).ok())
                .and_then(|v| v.get("msg").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| {
                    rest.split_once("=> ")
                        .map(|(_, m)| m.to_string())
                        .unwrap_or_default()
                });
            failed_tasks.push(FailedTask {
                task: task.clone(),
                host,
                msg,
            });
        } else if in_recap {
            let Some((host, counts)) = line.split_once(" : ") else {
                continue;
            };
            let get = |k: &str| {
                counts
                    .split_whitespace()
                    .find_map(|kv| {
                        kv.strip_prefix(k)
                            .and_then(|v| v.strip_prefix('='))
                            .and_then(|v| v.parse::<u32>().ok())
                    })
                    .unwrap_or(0)
            };
            recap.push(Recap {
                host: host.trim().to_string(),
                ok: get("ok"),
                changed: get("changed"),
                unreachable: get("unreachable"),
                failed: get("failed"),
            });
        }
    }
    if recap.is_empty() && failed_tasks.is_empty() {
        return Err(
            "no PLAY RECAP and no failed task: not (complete) ansible-playbook output".into(),
        );
    }
    let ok = !recap.is_empty() && recap.iter().all(|r| r.failed == 0 && r.unreachable == 0);
    let apt_cache_failed = failed_tasks
        .iter()
        .any(|t| t.msg.starts_with("Failed to update apt cache"));
    Ok(AnsibleRun {
        failed_tasks,
        recap,
        ok,
        apt_cache_failed,
    })
}

// --- BGP ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BgpPeer {
    pub peer: String,
    pub state: String,
    pub info: String,
    pub established: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bgp {
    /// calicoctl, bird1 or bird2
    pub source: String,
    /// Whether a BGP daemon (BIRD or GoBGP) runs. calicoctl says when none does: the VXLAN
    /// backend's normal state, or a BIRD that died (which of the two, the links probe tells).
    pub daemon: bool,
    pub peers: Vec<BgpPeer>,
    /// Every peer Established; none (null) when no BGP daemon runs: nothing to judge.
    pub all_established: Option<bool>,
}

fn peer_name(name: &str) -> String {
    // Calico names mesh sessions Mesh_192_168_222_157 (and Node_... for explicit peers).
    for p in ["Mesh_", "Node_", "Global_"] {
        if let Some(ip) = name.strip_prefix(p) {
            return ip.replace('_', ".");
        }
    }
    name.to_string()
}

/// `calicoctl node status`, or `birdc show protocols` of BIRD 1.x or 2.x.
pub fn bgp(out: &str) -> Parsed<Bgp> {
    let mut peers = Vec::new();
    let source;
    if out.contains("IPv4 BGP status") || out.contains("Calico process is") {
        source = "calicoctl";
        if out.contains("Calico process is not running") {
            return Err("Calico process is not running".into());
        }
        if out.contains("None of the BGP backend processes") {
            return Ok(Bgp {
                source: source.into(),
                daemon: false,
                peers,
                all_established: None,
            });
        }
        for line in out.lines().filter(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.len() < 5 || cells[0] == "PEER ADDRESS" {
                continue;
            }
            let info = cells[4].to_string();
            peers.push(BgpPeer {
                peer: cells[0].to_string(),
                state: cells[2].to_string(),
                established: info.starts_with("Established"),
                info,
            });
        }
    } else if out.contains("BIRD") {
        source = if out.lines().any(|l| l.starts_with("BIRD 2")) {
            "bird2"
        } else {
            "bird1"
        };
        for line in out.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 || f[1] != "BGP" {
                continue;
            }
            let info = f[5..].join(" ");
            peers.push(BgpPeer {
                peer: peer_name(f[0]),
                state: f[3].to_string(),
                established: info.starts_with("Established"),
                info,
            });
        }
    } else {
        return Err("neither calicoctl node status nor BIRD show protocols output".into());
    }
    let all_established = !peers.is_empty() && peers.iter().all(|p| p.established);
    Ok(Bgp {
        source: source.into(),
        daemon: true,
        peers,
        all_established: Some(all_established),
    })
}

// --- routes, ping, links -------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    pub dest: String,
    pub via: Option<String>,
    pub dev: Option<String>,
    pub proto: Option<String>,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Routes {
    pub default_via: Option<String>,
    /// The device of the default route (the NIC a lease is renewed on).
    #[serde(default)]
    pub default_dev: Option<String>,
    pub routes: Vec<Route>,
    /// Destinations learned by BGP (proto bird) with a next hop.
    pub bgp_learned: Vec<String>,
}

/// `ip route` (IPv4 main table).
pub fn routes(out: &str) -> Parsed<Routes> {
    let mut routes = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (kind, rest) = match f[0] {
            "blackhole" | "unreachable" | "prohibit" | "local" | "broadcast" | "throw" => {
                (f[0], &f[1..])
            }
            _ => ("unicast", &f[..]),
        };
        let Some(dest) = rest.first() else {
            return Err(format!("route line without destination: {line:?}"));
        };
        let after = |k: &str| {
            rest.iter()
                .position(|w| *w == k)
                .and_then(|i| rest.get(i + 1))
                .map(|s| s.to_string())
        };
        routes.push(Route {
            dest: dest.to_string(),
            via: after("via"),
            dev: after("dev"),
            proto: after("proto"),
            kind: kind.into(),
        });
    }
    let default = routes
        .iter()
        .find(|r| r.dest == "default" && r.kind == "unicast");
    let default_via = default.and_then(|r| r.via.clone());
    let default_dev = default.and_then(|r| r.dev.clone());
    let bgp_learned = routes
        .iter()
        .filter(|r| r.proto.as_deref() == Some("bird") && r.via.is_some() && r.kind == "unicast")
        .map(|r| r.dest.clone())
        .collect();
    Ok(Routes {
        default_via,
        default_dev,
        routes,
        bgp_learned,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ping {
    pub transmitted: u32,
    pub received: u32,
    pub loss_percent: u32,
}

/// The summary line of iputils or busybox ping.
pub fn ping(out: &str) -> Parsed<Ping> {
    let line = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .ok_or("no ping summary line")?;
    let num_before = |word: &str| -> Option<u32> {
        let i = line.find(word)?;
        line[..i]
            .trim_end()
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let transmitted = num_before("packets transmitted").ok_or("no transmitted count")?;
    let received = num_before(" received")
        .or_else(|| num_before("packets received"))
        .ok_or("no received count")?;
    // Nothing sent counts as everything lost.
    let loss_percent = (received * 100)
        .checked_div(transmitted)
        .map_or(100, |answered| 100 - answered);
    Ok(Ping {
        transmitted,
        received,
        loss_percent,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encapsulation {
    /// none, ipip or vxlan (Calico's tunl0 / vxlan.calico devices)
    pub mode: String,
    /// Whether BIRD runs on the node (a `bird running` / `bird not running` line after the
    /// devices); unknown when the output has no such line.
    pub bird: Option<bool>,
    /// Whether routes between nodes need BGP: always without VXLAN (IP-in-IP and native routes
    /// are BGP's), with VXLAN only when BIRD runs (Felix programs VXLAN routes itself).
    pub bgp_required: bool,
    /// What Calico then needs between nodes (Calico's network requirements table).
    pub requires: Vec<String>,
}

/// `ip -o link show` (then, optionally, `bird running` or `bird not running`): Calico's
/// encapsulation from the devices it creates, and what it needs between the nodes.
pub fn encapsulation(out: &str) -> Parsed<Encapsulation> {
    if !out.lines().any(|l| l.contains(": lo")) {
        return Err("not ip -o link output".into());
    }
    let has = |dev: &str| {
        out.lines().any(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next() == Some(dev))
                .unwrap_or(false)
        })
    };
    let mode = if has("vxlan.calico") {
        "vxlan"
    } else if has("tunl0")
        && out
            .lines()
            .any(|l| l.contains("tunl0") && l.contains(",UP"))
    {
        "ipip"
    } else {
        "none"
    };
    let bird = if out.lines().any(|l| l.trim() == "bird running") {
        Some(true)
    } else if out.lines().any(|l| l.trim() == "bird not running") {
        Some(false)
    } else {
        None
    };
    let bgp_required = mode != "vxlan" || bird == Some(true);
    let mut requires = Vec::new();
    if bgp_required {
        requires.push("tcp/179".to_string());
    }
    match mode {
        "ipip" => requires.push("proto/4".into()),
        "vxlan" => requires.push("udp/4789".into()),
        _ => {}
    }
    Ok(Encapsulation {
        mode: mode.into(),
        bird,
        bgp_required,
        requires,
    })
}

// --- OpenStack ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SgRule {
    pub id: String,
    pub group: String,
    pub direction: String,
    pub protocol: Option<String>,
    pub ip_range: Option<String>,
    pub port_min: Option<u32>,
    pub port_max: Option<u32>,
    pub remote_group: Option<String>,
}

/// `openstack security group rule list --long -f json` (every group: with the Security Group column).
pub fn sg_rules(out: &str) -> Parsed<Vec<SgRule>> {
    let rows: Vec<Value> =
        serde_json::from_str(out.trim()).map_err(|e| format!("not a JSON list: {e}"))?;
    let s = |r: &Value, k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    rows.iter()
        .map(|r| {
            let range = s(r, "Port Range");
            let (port_min, port_max) = match range.as_deref().and_then(|p| p.split_once(':')) {
                Some((a, b)) => (a.parse().ok(), b.parse().ok()),
                None => (None, None),
            };
            Ok(SgRule {
                id: s(r, "ID").ok_or("a rule without ID")?,
                group: s(r, "Security Group")
                    .ok_or("no Security Group column (list all groups)")?,
                direction: s(r, "Direction").unwrap_or_else(|| "ingress".into()),
                protocol: s(r, "IP Protocol"),
                ip_range: s(r, "IP Range"),
                port_min,
                port_max,
                remote_group: s(r, "Remote Security Group"),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SgGroup {
    pub id: String,
    pub name: String,
}

/// `openstack security group list -f json`
pub fn sg_list(out: &str) -> Parsed<Vec<SgGroup>> {
    let rows: Vec<Value> =
        serde_json::from_str(out.trim()).map_err(|e| format!("not a JSON list: {e}"))?;
    rows.iter()
        .map(|r| {
            Ok(SgGroup {
                id: r
                    .get("ID")
                    .and_then(Value::as_str)
                    .ok_or("a group without ID")?
                    .into(),
                name: r
                    .get("Name")
                    .and_then(Value::as_str)
                    .ok_or("a group without Name")?
                    .into(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Server {
    pub name: String,
    pub status: String,
    pub host: Option<String>,
    pub groups: Vec<String>,
    pub addresses: String,
}

/// One or more `openstack server show -f json` objects, one after the other.
pub fn servers(out: &str) -> Parsed<Vec<Server>> {
    let mut list = Vec::new();
    for v in serde_json::Deserializer::from_str(out).into_iter::<Value>() {
        let v = v.map_err(|e| format!("not JSON objects: {e}"))?;
        let groups = match v.get("security_groups") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|g| g.get("name").and_then(Value::as_str).map(String::from))
                .collect(),
            Some(Value::String(s)) => s
                .split('\n')
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("name='")?
                        .strip_suffix('\'')
                        .map(String::from)
                })
                .collect(),
            _ => vec![],
        };
        list.push(Server {
            name: v
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a server without name")?
                .into(),
            status: v.get("status").and_then(Value::as_str).unwrap_or("").into(),
            host: v
                .get("OS-EXT-SRV-ATTR:host")
                .and_then(Value::as_str)
                .map(String::from),
            groups,
            addresses: match v.get("addresses") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
        });
    }
    if list.is_empty() {
        return Err("no server".into());
    }
    Ok(list)
}

/// `openstack server list --long -f json` and `openstack port list --long -f json` (the servers'
/// ports): each server with the groups of its ports, as `server show` derives them. A port is the
/// server's when one of its fixed IPs is among the server's Networks addresses (the 5.2 client's
/// port list has no Device ID column); two servers with the same address on different networks
/// would be told apart only by `server show`. Group IDs are named by `groups`.
pub fn servers_by_ports(
    servers_out: &str,
    ports_out: &str,
    groups: &[SgGroup],
) -> Parsed<Vec<Server>> {
    let rows: Vec<Value> = serde_json::from_str(servers_out.trim())
        .map_err(|e| format!("servers: not a JSON list: {e}"))?;
    let ports: Vec<Value> = serde_json::from_str(ports_out.trim())
        .map_err(|e| format!("ports: not a JSON list: {e}"))?;
    let s = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    // Each port: its fixed IPs and its groups' names.
    let ports: Vec<(Vec<String>, Vec<String>)> = ports
        .iter()
        .map(|p| {
            let ips = match p.get("Fixed IP Addresses") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|f| f.get("ip_address").and_then(Value::as_str))
                    .map(String::from)
                    .collect(),
                // The table's form: ip_address='A', subnet_id='…'
                Some(Value::String(t)) => t
                    .split(['\n', ','])
                    .filter_map(|f| f.trim().strip_prefix("ip_address='")?.strip_suffix('\''))
                    .map(String::from)
                    .collect(),
                _ => vec![],
            };
            let ids: Vec<String> = match p.get("Security Groups") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                Some(Value::String(t)) => t
                    .split([',', '\n'])
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
                _ => vec![],
            };
            let names = ids
                .iter()
                .map(|id| {
                    groups
                        .iter()
                        .find(|g| &g.id == id)
                        .map(|g| g.name.clone())
                        .unwrap_or_else(|| id.clone())
                })
                .collect();
            (ips, names)
        })
        .collect();
    let mut list = Vec::new();
    for r in &rows {
        let name = r
            .get("Name")
            .and_then(Value::as_str)
            .ok_or("a server without Name")?
            .to_string();
        let addresses = s(r, "Networks");
        // "net=A, B; net2=C": every address of every network.
        let addrs: Vec<&str> = addresses
            .split(';')
            .filter_map(|n| n.split_once('=').map(|(_, a)| a))
            .flat_map(|a| a.split(',').map(str::trim))
            .collect();
        let mut groups: Vec<String> = Vec::new();
        for (ips, names) in &ports {
            if ips.iter().any(|ip| addrs.contains(&ip.as_str())) {
                for g in names {
                    if !groups.contains(g) {
                        groups.push(g.clone());
                    }
                }
            }
        }
        list.push(Server {
            name,
            status: s(r, "Status"),
            host: r.get("Host").and_then(Value::as_str).map(String::from),
            groups,
            addresses,
        });
    }
    if list.is_empty() {
        return Err("no server".into());
    }
    Ok(list)
}

// --- Kubernetes -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KubeNode {
    pub name: String,
    pub ready: bool,
    pub internal_ip: Option<String>,
    pub pod_cidr: Option<String>,
}

/// `kubectl get nodes` (its table: NAME STATUS …, `-o wide` too) or `kubectl get nodes -o json`.
pub fn kube_nodes(out: &str) -> Parsed<Vec<KubeNode>> {
    if out.trim_start().starts_with("NAME ") {
        return kube_nodes_table(out);
    }
    let v: Value = serde_json::from_str(out.trim()).map_err(|e| format!("not JSON: {e}"))?;
    let items = v.get("items").and_then(Value::as_array).ok_or("no items")?;
    Ok(items
        .iter()
        .map(|n| KubeNode {
            name: n
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            ready: n
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                }),
            internal_ip: n
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .and_then(|a| a["address"].as_str())
                .map(String::from),
            pod_cidr: n
                .pointer("/spec/podCIDR")
                .and_then(Value::as_str)
                .map(String::from),
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KubePod {
    pub name: String,
    pub node: Option<String>,
    pub ip: Option<String>,
    pub phase: String,
}

/// `kubectl get pods -o json`
pub fn kube_pods(out: &str) -> Parsed<Vec<KubePod>> {
    let v: Value = serde_json::from_str(out.trim()).map_err(|e| format!("not JSON: {e}"))?;
    let items = v.get("items").and_then(Value::as_array).ok_or("no items")?;
    Ok(items
        .iter()
        .map(|p| KubePod {
            name: p
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            node: p
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .map(String::from),
            ip: p
                .pointer("/status/podIP")
                .and_then(Value::as_str)
                .map(String::from),
            phase: p
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
        })
        .collect())
}

// --- kubespray inventory --------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryHost {
    pub name: String,
    pub ansible_host: Option<String>,
    pub ip: Option<String>,
}

/// kubespray's `inventory/<cluster>/hosts.yaml`: the hosts under `all.hosts`. Read with
/// yaml-rust2, the maintained pure-Rust fork of yaml-rust (serde_yaml is unmaintained, and the
/// inventory needs a document tree, not serde).
pub fn inventory(out: &str) -> Parsed<Vec<InventoryHost>> {
    use yaml_rust2::YamlLoader;
    let docs = YamlLoader::load_from_str(out).map_err(|e| format!("not YAML: {e}"))?;
    let doc = docs.first().ok_or("not YAML: an empty document")?;
    let hosts = doc["all"]["hosts"].as_hash().ok_or("no all.hosts")?;
    let mut out = Vec::new();
    for (k, h) in hosts {
        let s = |key: &str| yaml_scalar(&h[key]);
        out.push(InventoryHost {
            name: k.as_str().ok_or("a host name that is not a string")?.into(),
            ansible_host: s("ansible_host"),
            ip: s("ip"),
        });
    }
    Ok(out)
}

fn yaml_scalar(v: &yaml_rust2::Yaml) -> Option<String> {
    use yaml_rust2::Yaml;
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The table `kubectl get nodes` prints: a node is Ready when its STATUS is `Ready` (with any
/// `,SchedulingDisabled` after it); the addresses only with `-o wide`.
fn kube_nodes_table(out: &str) -> Parsed<Vec<KubeNode>> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let head: Vec<&str> = lines
        .next()
        .ok_or("no output")?
        .split_whitespace()
        .collect();
    let col = |name: &str| head.iter().position(|h| *h == name);
    let (Some(name), Some(status)) = (col("NAME"), col("STATUS")) else {
        return Err("a table without NAME and STATUS columns".into());
    };
    let ip = col("INTERNAL-IP");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            if cells.len() < head.len() {
                return Err(format!("a row with fewer columns than the header: {l}"));
            }
            Ok(KubeNode {
                name: cells[name].into(),
                ready: cells[status].split(',').next() == Some("Ready"),
                internal_ip: ip.map(|i| cells[i].to_string()).filter(|s| s != "<none>"),
                pod_cidr: None,
            })
        })
        .collect()
}

// --- security groups between the nodes ------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecurityGroups {
    pub servers: Vec<Server>,
    /// The servers that are SHUTOFF.
    pub stopped: Vec<String>,
    /// Every server on one hypervisor host.
    pub same_hypervisor: bool,
    /// For every ordered pair of servers, the peer's groups let TCP/179 in from the other.
    pub bgp_allowed_between_nodes: bool,
    /// What is missing, as "tcp/179 into GROUP from GROUP".
    pub missing: Vec<String>,
    /// Likewise for IP-in-IP (IP protocol 4).
    pub ipip_allowed_between_nodes: bool,
    /// What is missing of it, as "4 into GROUP from GROUP".
    #[serde(default)]
    pub ipip_missing: Vec<String>,
    /// Likewise for Calico's VXLAN (UDP 4789).
    #[serde(default)]
    pub vxlan_allowed_between_nodes: bool,
    /// What is missing of it, as "udp/4789 into GROUP from GROUP".
    #[serde(default)]
    pub vxlan_missing: Vec<String>,
    /// Kubernetes' control-plane traffic between the nodes, given the control plane's group:
    /// TCP/6443 (the API server) into it from every other node, TCP/10250 (the kubelet) into
    /// every other node from it. None without a control-plane group to judge by.
    #[serde(default)]
    pub k8s_allowed_between_nodes: Option<bool>,
    #[serde(default)]
    pub k8s_missing: Vec<String>,
    /// Rules that open TCP/179 wider than the node groups (0.0.0.0/0), if any.
    pub wide_bgp_rules: Vec<String>,
    pub rules: Vec<SgRule>,
    pub groups: Vec<SgGroup>,
}

fn allows(rule: &SgRule, proto: &str, port: u32, from_group: &str) -> bool {
    let same = |p: &str| p == proto || (proto == "4" && p.eq_ignore_ascii_case("ipip"));
    rule.direction == "ingress"
        && rule.protocol.as_deref().is_none_or(same)
        && rule.port_min.is_none_or(|lo| lo <= port)
        && rule.port_max.is_none_or(|hi| port <= hi)
        && match (&rule.remote_group, &rule.ip_range) {
            (Some(g), _) => g == from_group,
            (None, Some(r)) => r == "0.0.0.0/0",
            (None, None) => true,
        }
}

/// Sections `### rules` (rule list --long -f json), `### groups` (group list -f json) and
/// `### servers`: either `server list --long -f json` followed by `### ports` (`port list --long
/// -f json` of the servers' ports, which name each server's groups), or `server show -f json` of
/// each server (the probe's earlier form, still read from older journals).
pub fn security_groups(out: &str) -> Parsed<SecurityGroups> {
    security_groups_with(out, None)
}

/// As `security_groups`, judging Kubernetes' ports with `control_plane` as the control plane's
/// security group.
pub fn security_groups_with(out: &str, control_plane: Option<&str>) -> Parsed<SecurityGroups> {
    let part = |name: &str| -> Parsed<&str> {
        let start = out
            .find(&format!("### {name}\n"))
            .ok_or(format!("no ### {name} section"))?
            + name.len()
            + 5;
        let end = out[start..]
            .find("\n### ")
            .map(|i| start + i)
            .unwrap_or(out.len());
        Ok(&out[start..end])
    };
    let rules = sg_rules(part("rules")?)?;
    let groups = sg_list(part("groups")?)?;
    let listed = part("servers")?;
    let servers = if listed.trim_start().starts_with('[') {
        servers_by_ports(listed, part("ports")?, &groups)?
    } else {
        servers(listed)?
    };
    let id_of = |name: &str| groups.iter().find(|g| g.name == name).map(|g| g.id.clone());
    let name_of = |id: &str| {
        groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    // For every ordered pair of servers (that `pair` selects): do b's groups let (proto, port)
    // in from a's groups?
    let missing_where = |proto: &str, port: u32, pair: &dyn Fn(&Server, &Server) -> bool| {
        let mut missing = Vec::new();
        for a in &servers {
            for b in servers.iter().filter(|b| b.name != a.name && pair(a, b)) {
                let ok = b.groups.iter().filter_map(|g| id_of(g)).any(|bg| {
                    rules.iter().filter(|r| r.group == bg).any(|r| {
                        a.groups
                            .iter()
                            .filter_map(|g| id_of(g))
                            .any(|ag| allows(r, proto, port, &ag))
                    })
                });
                let what = if port == 0 {
                    proto.to_string()
                } else {
                    format!("{proto}/{port}")
                };
                let m = format!(
                    "{what} into {} from {}",
                    b.groups.join("+"),
                    a.groups.join("+")
                );
                if !ok && !missing.contains(&m) {
                    missing.push(m);
                }
            }
        }
        missing
    };
    let missing_between = |proto: &str, port: u32| missing_where(proto, port, &|_, _| true);
    let in_cp = |s: &Server| control_plane.is_some_and(|g| s.groups.iter().any(|x| x == g));
    let k8s_missing: Vec<String> = if control_plane.is_some() {
        let mut m = missing_where("tcp", 6443, &|a, b| in_cp(b) && !in_cp(a));
        m.extend(missing_where("tcp", 10250, &|a, b| in_cp(a) && !in_cp(b)));
        m
    } else {
        vec![]
    };
    let missing = missing_between("tcp", 179);
    // IP-in-IP: IP protocol 4, which Neutron keeps as "4" or "ipip".
    let ipip_missing = missing_between("4", 0);
    let vxlan_missing = missing_between("udp", 4789);
    let wide_bgp_rules = rules
        .iter()
        .filter(|r| {
            r.remote_group.is_none()
                && r.ip_range.as_deref() == Some("0.0.0.0/0")
                && allows(r, "tcp", 179, "")
        })
        .map(|r| format!("{} in {}", r.id, name_of(&r.group)))
        .collect();
    let hosts: Vec<&Option<String>> = servers.iter().map(|s| &s.host).collect();
    let same_hypervisor =
        hosts.windows(2).all(|w| w[0] == w[1]) && hosts.first().is_some_and(|h| h.is_some());
    let stopped = servers
        .iter()
        .filter(|s| s.status == "SHUTOFF")
        .map(|s| s.name.clone())
        .collect();
    Ok(SecurityGroups {
        stopped,
        ipip_allowed_between_nodes: ipip_missing.is_empty(),
        ipip_missing,
        vxlan_allowed_between_nodes: vxlan_missing.is_empty(),
        vxlan_missing,
        k8s_allowed_between_nodes: control_plane.map(|_| k8s_missing.is_empty()),
        k8s_missing,
        bgp_allowed_between_nodes: missing.is_empty(),
        missing,
        wide_bgp_rules,
        same_hypervisor,
        servers,
        rules,
        groups,
    })
}
