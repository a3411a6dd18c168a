//! Diagnosis: observations parsed from the journal's evidence, and the scenario's causes claimed
//! only where every condition holds in them. A pure function of the journal: the same journal
//! gives the same diagnosis, whenever and wherever it is made.
//!
//! What it cannot do: name a cause the scenario does not describe (failing evidence that no
//! claimed cause explains is listed as unexplained), or judge a condition without evidence for it
//! (no usable observation leaves it unknown, and an unknown condition claims nothing).

use crate::journal::{Body, Entry, Evidence, Outcome};
use crate::probe::parse;
use crate::scenario::{Condition, Probe, Scenario, Texts};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What one probe showed on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub probe: String,
    pub host: String,
    /// The evidence records it was parsed from.
    pub records: Vec<u64>,
    /// The parsed value, or why there is none.
    pub value: Result<Value, String>,
    /// Not observable yet (no Kubernetes before the deployment, a VM that is off), and why:
    /// neither missing nor failing evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_yet: Option<Texts>,
}

impl Observation {
    pub fn failing(&self, probe: &Probe) -> bool {
        match (&self.value, &probe.failing) {
            (Ok(v), Some(c)) => holds(v, c),
            _ => false,
        }
    }
}

fn text_of(ev: &Evidence) -> String {
    if ev.stderr.text.is_empty() {
        ev.stdout.text.clone()
    } else {
        format!("{}\n{}", ev.stdout.text, ev.stderr.text)
    }
}

fn exit_code(ev: &Evidence) -> Option<i32> {
    match ev.outcome {
        Outcome::Exited { code } => Some(code),
        _ => None,
    }
}

fn to_value<T: Serialize>(r: parse::Parsed<T>) -> Result<Value, String> {
    r.map(|v| serde_json::to_value(v).expect("observations serialise"))
}

/// Parse one probe's evidence on one host (all steps for compound probes).
fn observe(probe: &Probe, evs: &[(u64, &Evidence)]) -> Result<Value, String> {
    // The probe's own command: what a person types beside it (`show`) is for the answer.
    let (_, ev) = evs
        .iter()
        .find(|(_, e)| e.step.as_deref() != Some("show"))
        .ok_or("no evidence")?;
    if probe.parser != "ping_matrix" {
        match &ev.outcome {
            Outcome::Failed { message } => return Err(message.clone()),
            Outcome::TimedOut { after_ms } => {
                // What it had done by then: its last lines of output, not a bare "timed out".
                let done: Vec<&str> = ev
                    .stdout
                    .text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .collect();
                let tail = done[done.len().saturating_sub(3)..].join(" / ");
                return Err(if tail.is_empty() {
                    format!(
                        "timed out after {} s, having printed nothing",
                        after_ms / 1000
                    )
                } else {
                    format!(
                        "timed out after {} s; {} lines printed by then, the last: {tail}",
                        after_ms / 1000,
                        done.len()
                    )
                });
            }
            _ => {}
        }
    }
    let text = text_of(ev);
    parsed(probe, evs, ev, &text).map_err(|e| {
        // What the command itself said, when it said why (an unreachable API, a refused login):
        // the reader sees the cause, not only that the output did not read.
        match ev.stderr.text.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(l) => format!("{e}; it said: {}", l.chars().take(240).collect::<String>()),
            None => e,
        }
    })
}

fn parsed(
    probe: &Probe,
    evs: &[(u64, &Evidence)],
    ev: &Evidence,
    text: &str,
) -> Result<Value, String> {
    match probe.parser.as_str() {
        "sysctl" => to_value(parse::sysctl(
            probe.key.as_deref().unwrap_or(""),
            &ev.stdout.text,
        )),
        "text" => {
            Ok(json!({ "stdout": ev.stdout.text, "stderr": ev.stderr.text, "exit": exit_code(ev) }))
        }
        "apt" => to_value(parse::apt_update(text)),
        "ansible" => to_value(parse::ansible(&ev.stdout.text)),
        "routes" => to_value(parse::routes(&ev.stdout.text)),
        "bgp" => to_value(parse::bgp(text)),
        "pmtu" => to_value(crate::probe::pmtu::pmtu(&ev.stdout.text)),
        "nft" => to_value(crate::probe::nft::firewall(
            probe.key.as_deref().unwrap_or(""),
            &ev.stdout.text,
        )),
        "links" => to_value(parse::encapsulation(&ev.stdout.text)),
        "security_groups" => to_value(parse::security_groups_with(
            &ev.stdout.text,
            probe.key.as_deref(),
        )),
        "kube_nodes" => parse::kube_nodes(&ev.stdout.text).map(
            |n| json!({ "all_ready": !n.is_empty() && n.iter().all(|n| n.ready), "nodes": n }),
        ),
        "kube_pods" => to_value(parse::kube_pods(&ev.stdout.text)),
        "ping_matrix" => ping_matrix(evs),
        "task_patterns" => task_patterns(evs),
        "pod_egress" => pod_egress(evs),
        "ippool" => to_value(crate::probe::ippool::ippools(&ev.stdout.text)),
        "ports" => to_value(crate::probe::ports::ports(&ev.stdout.text)),
        "subnets" => to_value(crate::probe::subnets::subnets(&ev.stdout.text)),
        other => Err(format!("unknown parser {other}")),
    }
}

/// The task's patterns from their steps (collect.rs): `shell1` created, its address from
/// `hostname`, and busybox's ping summary of `pattern-a` and `pattern-b` (null when that step
/// did not ping: its pod never ran).
fn task_patterns(evs: &[(u64, &Evidence)]) -> Result<Value, String> {
    let step = |name: &str| {
        evs.iter()
            .find(|(_, e)| e.step.as_deref() == Some(name))
            .map(|(_, e)| *e)
    };
    let made = step("shell1").ok_or("shell1 was not run")?;
    if !made.outcome.is_success() {
        let why = made.stderr.text.lines().next().unwrap_or("").trim();
        return Err(format!("kubectl run shell1 failed: {why}"));
    }
    let ip = step("hostname")
        .and_then(|e| e.stdout.text.split_whitespace().next().map(String::from))
        .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .ok_or("hostname -i in shell1 printed no address")?;
    let answered = |name: &str| match step(name).map(|e| parse::ping(&e.stdout.text)) {
        Some(Ok(p)) => json!(p.received > 0),
        _ => Value::Null,
    };
    Ok(json!({
        "shell1_ip": ip,
        "pattern_a": answered("pattern-a"),
        "pattern_b": answered("pattern-b"),
    }))
}

/// The ping matrix from its steps: `pings FROM FROMNODE TO@TONODE@IP ...` (one command per source
/// pod), or, in journals of earlier versions, `ping FROM FROMNODE TO TONODE IP` (one per pair).
fn ping_matrix(evs: &[(u64, &Evidence)]) -> Result<Value, String> {
    let mut pairs = Vec::new();
    let mut unreached = Vec::new();
    for (_, ev) in evs {
        // One source pod's pings to every target: `pings FROM FROMNODE TO@TONODE@IP ...`, each
        // output line prefixed with the target's address.
        if let Some(step) = ev.step.as_deref().and_then(|s| s.strip_prefix("pings ")) {
            // The outside addresses pinged in the same command (` egress ADDR…`) are the egress
            // probe's.
            let (step, outside) = step.split_once(" egress ").unwrap_or((step, ""));
            let mut f = step.split_whitespace();
            let (Some(from), Some(from_node)) = (f.next(), f.next()) else {
                continue;
            };
            if let Outcome::Failed { message } = &ev.outcome {
                return Err(format!("pings from {from}: {message}"));
            }
            // kubectl could not reach the pod (its node's kubelet unreachable, or the pod never
            // started): nothing was pinged from it, which is not a lost ping.
            let outside: Vec<String> = outside
                .split_whitespace()
                .map(|a| format!("egress {a}"))
                .collect();
            let ips: Vec<&str> = f
                .clone()
                .filter_map(|t| t.rsplit('@').next())
                .chain(outside.iter().map(String::as_str))
                .collect();
            if !pinged(ev, &ips) {
                unreached.push(
                    json!({ "from": from, "from_node": from_node, "error": ev.stderr.text.trim() }),
                );
                continue;
            }
            for t in f {
                let mut p = t.splitn(3, '@');
                let (Some(to), Some(to_node), Some(ip)) = (p.next(), p.next(), p.next()) else {
                    continue;
                };
                let loss =
                    prefixed_loss(ev, ip).map_err(|e| format!("ping {from} {to} {ip}: {e}"))?;
                pairs.push(
                    json!({ "from": from, "from_node": from_node, "to": to, "to_node": to_node,
                    "ip": ip, "same_node": from_node == to_node, "loss_percent": loss }),
                );
            }
            continue;
        }
        let Some(step) = ev.step.as_deref().and_then(|s| s.strip_prefix("ping ")) else {
            continue;
        };
        let f: Vec<&str> = step.split_whitespace().collect();
        if f.len() != 5 {
            continue;
        }
        let loss = match (&ev.outcome, parse::ping(&ev.stdout.text)) {
            (_, Ok(p)) => p.loss_percent,
            (Outcome::Exited { .. }, Err(_)) => 100,
            (_, Err(e)) => return Err(format!("ping {step}: {e}")),
        };
        pairs.push(
            json!({ "from": f[0], "from_node": f[1], "to": f[2], "to_node": f[3], "ip": f[4],
            "same_node": f[1] == f[3], "loss_percent": loss }),
        );
    }
    if pairs.is_empty() {
        let failed = evs.iter().find_map(|(_, e)| match &e.outcome {
            Outcome::Failed { message } => Some(message.clone()),
            _ if !e.outcome.is_success() => {
                Some(format!("{}: {}", e.command, e.stderr.text.trim()))
            }
            _ => None,
        });
        return Err(failed.unwrap_or_else(|| "no pod pairs to ping".into()));
    }
    let ok = |same: bool| {
        let sel: Vec<&Value> = pairs.iter().filter(|p| p["same_node"] == same).collect();
        (!sel.is_empty()).then(|| sel.iter().all(|p| p["loss_percent"] == 0))
    };
    // The task's patterns: shell1 on the first node, pinged from another node (A), from its own (B).
    let pattern = |same: bool| {
        let sel: Vec<&Value> = pairs
            .iter()
            .filter(|p| {
                p["same_node"] == same && p["to"].as_str().is_some_and(|t| t.ends_with("shell1"))
            })
            .collect();
        (!sel.is_empty()).then(|| sel.iter().all(|p| p["loss_percent"] == 0))
    };
    Ok(
        json!({ "same_node_ok": ok(true), "cross_node_ok": ok(false),
               "pattern_a": pattern(false), "pattern_b": pattern(true), "pairs": pairs,
               "unreached_sources": unreached }),
    )
}

/// Whether a step of pings from a pod ran at all: some output line of one of its addresses, or
/// success. Otherwise kubectl did not reach the pod (its kubelet unreachable, or the pod never
/// started), and nothing was pinged from it: not a lost ping.
fn pinged(ev: &Evidence, addrs: &[&str]) -> bool {
    ev.outcome.is_success()
        || ev
            .stdout
            .text
            .lines()
            .any(|l| addrs.iter().any(|a| l.starts_with(&format!("{a} "))))
}

/// The loss of one target's pings in a step whose output lines are prefixed with its address
/// (`ADDR ` + ping's output, then `ADDR exit N`): no summary but an exit is all lost.
fn prefixed_loss(ev: &Evidence, addr: &str) -> Result<u32, String> {
    let prefix = format!("{addr} ");
    let out: String = ev
        .stdout
        .text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    match parse::ping(&out) {
        Ok(p) => Ok(p.loss_percent),
        Err(_) if out.lines().any(|l| l.starts_with("exit ")) => Ok(100),
        Err(e) => Err(e),
    }
}

/// Pod egress from its steps: `targets` (the outside addresses, as `getent hosts` prints them),
/// then the ping matrix's `pings FROM FROMNODE … egress ADDR...` for each probe pod, the outside
/// addresses' output lines prefixed `egress ADDR`; or, in journals of earlier versions, a step
/// of its own, `egress FROM FROMNODE ADDR...`, the lines prefixed with the address.
fn pod_egress(evs: &[(u64, &Evidence)]) -> Result<Value, String> {
    let mut pairs = Vec::new();
    for (_, ev) in evs {
        let step = ev.step.as_deref().unwrap_or("");
        let (head, addrs, prefix) = if let Some(s) = step.strip_prefix("egress ") {
            let mut f = s.splitn(3, ' ');
            let head = [f.next(), f.next()];
            (head, f.next().unwrap_or(""), "")
        } else if let Some((s, outside)) = step
            .strip_prefix("pings ")
            .and_then(|s| s.split_once(" egress "))
        {
            let mut f = s.split_whitespace();
            ([f.next(), f.next()], outside, "egress ")
        } else {
            continue;
        };
        let [Some(from), Some(from_node)] = head else {
            continue;
        };
        if let Outcome::Failed { message } = &ev.outcome {
            return Err(format!("egress from {from}: {message}"));
        }
        let prefixed: Vec<String> = addrs
            .split_whitespace()
            .map(|a| format!("{prefix}{a}"))
            .collect();
        let refs: Vec<&str> = prefixed.iter().map(String::as_str).collect();
        if !pinged(ev, &refs) {
            // kubectl could not reach the pod: nothing was pinged from it.
            continue;
        }
        for (addr, p) in addrs.split_whitespace().zip(&refs) {
            let loss = prefixed_loss(ev, p).map_err(|e| format!("ping {from} {addr}: {e}"))?;
            pairs.push(
                json!({ "from": from, "from_node": from_node, "to": addr, "loss_percent": loss }),
            );
        }
    }
    if pairs.is_empty() {
        let targets = evs
            .iter()
            .find(|(_, e)| e.step.as_deref() == Some("targets"));
        return Err(match targets {
            Some((_, e)) if !e.outcome.is_success() => {
                format!("no outside address to ping: {}", text_of(e).trim())
            }
            _ => "no probe pod pinged the outside".into(),
        });
    }
    let ok = |p: &&Value| p["loss_percent"] == 0;
    Ok(json!({
        "all_ok": pairs.iter().all(|p| ok(&p)),
        "any_ok": pairs.iter().any(|p| ok(&p)),
        "pairs": pairs,
    }))
}

fn field<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Does a condition hold on one observed value?
pub fn holds(v: &Value, c: &Condition) -> bool {
    let f = field(v, &c.field);
    let want = c.value.as_ref();
    match c.op.as_str() {
        "eq" => f.is_some() && f == want,
        "ne" => f != want,
        "in" => f.is_some_and(|f| {
            want.and_then(Value::as_array)
                .is_some_and(|a| a.contains(f))
        }),
        "not_in" => f.is_some_and(|f| {
            want.and_then(Value::as_array)
                .is_some_and(|a| !a.contains(f))
        }),
        "exists" => f.is_some_and(|f| !f.is_null()),
        "nonempty" => f.is_some_and(|f| match f {
            Value::Array(a) => !a.is_empty(),
            Value::String(s) => !s.is_empty(),
            Value::Null => false,
            _ => true,
        }),
        "contains" => match (f, want) {
            (Some(Value::String(s)), Some(Value::String(w))) => {
                s.to_lowercase().contains(&w.to_lowercase())
            }
            (Some(Value::Array(a)), Some(w)) => a.contains(w),
            _ => false,
        },
        _ => false,
    }
}

/// A condition over all observations of its probe: Some(true/false), or None when there is no
/// usable observation to judge it by.
pub fn condition(obs: &[&Observation], c: &Condition) -> Option<bool> {
    judge(obs, c)
}

/// A condition with its `or` alternatives, each over the observations of its own probe: true
/// when any holds, false when every one is false, otherwise unknown.
pub fn verdict<'a>(c: &Condition, of: &dyn Fn(&str) -> Vec<&'a Observation>) -> Option<bool> {
    let one = |c: &Condition| judge(&of(c.probe.as_deref().unwrap_or("")), c);
    c.or.iter().fold(one(c), |v, o| match (v, one(o)) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    })
}

fn judge(obs: &[&Observation], c: &Condition) -> Option<bool> {
    let all = c.quantifier.as_deref() == Some("all");
    if c.op == "not_observable" {
        if obs.is_empty() {
            return None;
        }
        let not_yet = |o: &&&Observation| o.not_yet.is_some();
        return Some(if all {
            obs.iter().all(|o| not_yet(&o))
        } else {
            obs.iter().any(|o| not_yet(&o))
        });
    }
    let values: Vec<&Value> = obs.iter().filter_map(|o| o.value.as_ref().ok()).collect();
    if values.is_empty() {
        return None;
    }
    if all && values.len() < obs.len() {
        // A host whose evidence is missing cannot be counted as agreeing.
        return if values.iter().all(|v| holds(v, c)) {
            None
        } else {
            Some(false)
        };
    }
    Some(if all {
        values.iter().all(|v| holds(v, c))
    } else {
        values.iter().any(|v| holds(v, c))
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainLink {
    pub text: Texts,
    pub probe: String,
    pub records: Vec<u64>,
    pub observed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CauseFinding {
    pub id: String,
    pub phase: u32,
    pub title: Texts,
    pub chain: Vec<ChainLink>,
    pub records: Vec<u64>,
    pub why: Texts,
    #[serde(rename = "where")]
    pub where_: Texts,
    pub what: Texts,
    pub how: Texts,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlternativeFinding {
    pub id: String,
    pub phase: u32,
    pub title: Texts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<Texts>,
    pub records: Vec<u64>,
    pub observed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unexplained {
    pub probe: String,
    pub host: String,
    pub summary: String,
    pub records: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Missing {
    pub probe: String,
    pub host: String,
    pub message: String,
    pub records: Vec<u64>,
}

/// Evidence that cannot be observed yet, and why (`message` in English, `text` per language).
#[derive(Debug, Clone, Serialize)]
pub struct NotYetFinding {
    pub probe: String,
    pub host: String,
    pub message: String,
    pub text: Texts,
    pub records: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub scenario: String,
    pub causes: Vec<CauseFinding>,
    pub ruled_out: Vec<AlternativeFinding>,
    /// Alternatives the evidence could not rule out.
    pub not_ruled_out: Vec<AlternativeFinding>,
    pub unexplained: Vec<Unexplained>,
    pub missing: Vec<Missing>,
    /// Evidence that cannot be observed yet: neither missing nor failing.
    pub not_yet: Vec<NotYetFinding>,
    /// Every observation, for the report.
    pub observations: Vec<Observation>,
}

/// The strings of a list field, joined with commas (empty when there are none).
fn joined(v: &Value, k: &str) -> String {
    v[k].as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Where each server of a security-groups observation runs: `NAME on HOST, ...`.
fn placement(v: &Value) -> String {
    v["servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} on {}",
                        s["name"].as_str().unwrap_or(""),
                        s["host"].as_str().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// What an observation says of one field, as a rule quotes it: `same_hypervisor` by where each
/// server runs (its evidence), any other field as `field = value`. Without a value, the
/// observation's error.
pub fn field_summary(o: &Observation, name: &str) -> String {
    let v = match &o.value {
        Ok(v) => v,
        Err(e) => return format!("{}: {}", o.host, e),
    };
    let shown = match name {
        "same_hypervisor" => Some(placement(v)),
        _ => None,
    };
    let shown = shown.unwrap_or_else(|| match field(v, name) {
        Some(Value::String(s)) => format!("{name} = {s}"),
        Some(x) => format!("{name} = {x}"),
        None => format!("no {name}"),
    });
    format!("{}: {shown}", o.host)
}

/// A short, literal account of an observation.
pub fn summary(o: &Observation) -> String {
    let v = match &o.value {
        Ok(v) => v,
        Err(e) => return format!("{}: {}", o.host, e),
    };
    let s = |k: &str| {
        field(v, k).filter(|x| !x.is_null()).map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let detail = match o.probe.as_str() {
        _ if v.get("runtime").is_some() => format!(
            "runtime {} / persisted {}",
            s("runtime").unwrap_or_default(),
            s("persisted_in")
                .map(|f| format!("{} in {f}", s("persisted").unwrap_or_default()))
                .unwrap_or_else(|| "nowhere".into())
        ),
        _ if v.get("outcome").is_some() && v.get("mirror").is_some() => {
            format!(
                "{}{}",
                s("outcome").unwrap_or_default(),
                s("error").map(|e| format!(": {e}")).unwrap_or_default()
            )
        }
        _ if v.get("recap").is_some() => match v["failed_tasks"].as_array().and_then(|a| a.first())
        {
            Some(t) => format!(
                "failed: [{}] {}: {}",
                t["host"].as_str().unwrap_or(""),
                t["task"].as_str().unwrap_or(""),
                t["msg"].as_str().unwrap_or("")
            ),
            None => "PLAY RECAP: failed=0".into(),
        },
        _ if v["daemon"] == false => {
            "no BGP daemon runs (calicoctl: none of BIRD or GoBGP is running)".into()
        }
        _ if v.get("all_established").is_some() => v["peers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "{} {} {}",
                            p["peer"].as_str().unwrap_or(""),
                            p["state"].as_str().unwrap_or(""),
                            p["info"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        _ if v.get("fitting_mtu").is_some() => format!(
            "{} MTU {} + {} over {} MTU {}: {}; small pings {}, full-size pings {}",
            s("tunnel").unwrap_or_default(),
            s("tunnel_mtu").unwrap_or_default(),
            s("overhead").unwrap_or_default(),
            s("underlay").unwrap_or_default(),
            s("underlay_mtu").unwrap_or_default(),
            if v["fits"] == true {
                "fits"
            } else {
                "does not fit"
            },
            if v["small_ok"] == true {
                "answered"
            } else {
                "lost"
            },
            if v["df_ok"] == true {
                "answered"
            } else {
                "lost"
            }
        ),
        _ if v.get("masquerades_range").is_some() => {
            let list = |k: &str| {
                Some(joined(v, k))
                    .filter(|l| !l.is_empty())
                    .unwrap_or_else(|| "none".into())
            };
            format!(
                "{}: forward chains that drop it: {}; masqueraded by: {} (uplink {})",
                s("range").unwrap_or_default(),
                list("forward_blocking"),
                list("masquerade_rules"),
                s("uplink").unwrap_or_else(|| "unknown".into())
            )
        }
        _ if v.get("bgp_allowed_between_nodes").is_some() => {
            let list = |k: &str| joined(v, k);
            let servers = placement(v);
            let ipip = if v["ipip_allowed_between_nodes"] == true {
                "IP protocol 4 allowed".to_string()
            } else {
                format!("missing: {}", list("ipip_missing"))
            };
            let ipip = match v["k8s_allowed_between_nodes"].as_bool() {
                Some(true) => {
                    format!("{ipip}; TCP/6443 and TCP/10250 allowed for the control plane")
                }
                Some(false) => format!("{ipip}; missing: {}", list("k8s_missing")),
                None => ipip,
            };
            let ipip = if v["vxlan_allowed_between_nodes"] == true {
                format!("{ipip}; UDP/4789 allowed")
            } else if v.get("vxlan_missing").is_some() {
                format!("{ipip}; missing: {}", list("vxlan_missing"))
            } else {
                ipip
            };
            if v["bgp_allowed_between_nodes"] == true {
                format!("TCP/179 allowed between the node groups; {ipip}; {servers}")
            } else {
                format!("missing: {}; {ipip}; {servers}", list("missing"))
            }
        }
        _ if v.get("without_dns").is_some() => format!(
            "{}; server01 resolves with {}",
            v["subnets"]
                .as_array()
                .map(|a| a
                    .iter()
                    .map(|x| format!(
                        "subnet {} {}: DHCP {}, DNS {}",
                        x["name"].as_str().unwrap_or(""),
                        x["cidr"].as_str().unwrap_or(""),
                        if x["enable_dhcp"] == true {
                            "on"
                        } else {
                            "off"
                        },
                        Some(joined(x, "dns_nameservers"))
                            .filter(|l| !l.is_empty())
                            .unwrap_or_else(|| "none".into())
                    ))
                    .collect::<Vec<_>>()
                    .join("; "))
                .unwrap_or_default(),
            Some(joined(v, "hypervisor_nameservers"))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "nothing".into())
        ),
        _ if v.get("without_pairs").is_some() => v["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "{} port {}: fixed {}, allowed address pairs: {}",
                            p["server"].as_str().unwrap_or(""),
                            p["id"].as_str().unwrap_or(""),
                            joined(p, "fixed_ips"),
                            Some(joined(p, "allowed"))
                                .filter(|l| !l.is_empty())
                                .unwrap_or_else(|| "none".into())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        _ if v.get("nat_outgoing_all").is_some() => v["pools"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "pool {} {}: natOutgoing {}, IPIP {}, VXLAN {}{}",
                            p["name"].as_str().unwrap_or(""),
                            p["cidr"].as_str().unwrap_or(""),
                            p["nat_outgoing"],
                            p["ipip_mode"].as_str().unwrap_or(""),
                            p["vxlan_mode"].as_str().unwrap_or(""),
                            if p["disabled"] == true {
                                " (disabled)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "no IP pool".into()),
        _ if v.get("any_ok").is_some() => {
            let pairs = v["pairs"].as_array().cloned().unwrap_or_default();
            let to: Vec<&str> = pairs.iter().filter_map(|p| p["to"].as_str()).collect();
            let mut to = to;
            to.dedup();
            format!(
                "pods' pings to the outside ({}) answered {}/{}",
                to.join(", "),
                pairs.iter().filter(|p| p["loss_percent"] == 0).count(),
                pairs.len()
            )
        }
        _ if v.get("pairs").is_some() => {
            let pairs = v["pairs"].as_array().cloned().unwrap_or_default();
            let count = |same: bool| {
                let sel: Vec<&Value> = pairs.iter().filter(|p| p["same_node"] == same).collect();
                format!(
                    "{}/{}",
                    sel.iter().filter(|p| p["loss_percent"] == 0).count(),
                    sel.len()
                )
            };
            format!(
                "same-node pings answered {}, cross-node {}",
                count(true),
                count(false)
            )
        }
        _ if v.get("default_via").is_some() => format!(
            "default via {}; BGP routes: {}",
            s("default_via").unwrap_or_else(|| "none".into()),
            v["bgp_learned"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into())
        ),
        _ if v.get("mode").is_some() => format!(
            "encapsulation {}{}; needs between the nodes: {}",
            s("mode").unwrap_or_default(),
            match v["bird"].as_bool() {
                Some(true) => ", BIRD running",
                Some(false) => ", BIRD not running",
                None => "",
            },
            Some(joined(v, "requires"))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "nothing".into())
        ),
        _ if v.get("all_ready").is_some() => {
            let not: Vec<&str> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["ready"] != true)
                .filter_map(|n| n["name"].as_str())
                .collect();
            if not.is_empty() {
                format!("all nodes Ready: {}", v["all_ready"])
            } else {
                format!("all nodes Ready: false (NotReady: {})", not.join(", "))
            }
        }
        _ if v.get("exit").is_some() => {
            let out = s("stdout").unwrap_or_default();
            format!(
                "exit {}: {}",
                s("exit").unwrap_or_default(),
                out.lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(100)
                    .collect::<String>()
            )
        }
        _ => v.to_string().chars().take(120).collect(),
    };
    format!("{}: {}", o.host, detail)
}

/// The evidence of the latest collection in the journal: its scenario record and what follows it.
pub fn latest_collection(entries: &[Entry]) -> Option<(u64, &crate::journal::ScenarioRecord)> {
    entries.iter().rev().find_map(|e| match &e.body {
        Body::Scenario(s) => Some((e.seq, s)),
        _ => None,
    })
}

/// Observations of the collection that starts at record `from` (its scenario record). A probe
/// fed by a step sees that step's latest run before the collection ends.
pub fn observations(scenario: &Scenario, entries: &[Entry], from: u64) -> Vec<Observation> {
    let mut groups: BTreeMap<(String, String), Vec<(u64, &Evidence)>> = BTreeMap::new();
    let next_collection = entries
        .iter()
        .find(|e| e.seq > from && matches!(e.body, Body::Scenario(_)))
        .map(|e| e.seq)
        .unwrap_or(u64::MAX);
    let mut inventory = None;
    for e in entries
        .iter()
        .filter(|e| e.seq > from && e.seq < next_collection)
    {
        if let Body::Evidence(ev) = &e.body {
            match ev.probe.as_deref() {
                Some("inventory") => inventory = parse::inventory(&ev.stdout.text).ok(),
                Some(p) => groups
                    .entry((p.to_string(), ev.host.clone()))
                    .or_default()
                    .push((e.seq, ev)),
                None => {}
            }
        }
    }
    let mut out = Vec::new();
    for probe in &scenario.probes {
        if let Some(step) = &probe.step {
            out.push(step_observation(probe, step, entries, next_collection));
            continue;
        }
        for ((p, host), evs) in groups.iter().filter(|((p, _), _)| *p == probe.id) {
            // The egress probe's pings run in the ping matrix's commands on the same host.
            let mut evs = std::borrow::Cow::Borrowed(evs);
            if probe.parser == "pod_egress" {
                for m in scenario.probes.iter().filter(|m| m.parser == "ping_matrix") {
                    evs.to_mut().extend(
                        groups
                            .get(&(m.id.clone(), host.clone()))
                            .into_iter()
                            .flatten()
                            .filter(|(_, e)| {
                                e.step.as_deref().is_some_and(|s| {
                                    s.starts_with("pings ") && s.contains(" egress ")
                                })
                            }),
                    );
                }
            }
            let evs = &evs[..];
            let not_yet = probe.not_yet.as_ref().and_then(|n| {
                // The probe's own command, not what a person types beside it (`show`).
                let (_, ev) = evs.iter().find(|(_, e)| e.step.as_deref() != Some("show"))?;
                let raw = json!({ "stdout": ev.stdout.text, "stderr": ev.stderr.text, "exit": exit_code(ev) });
                n.when.iter().any(|c| holds(&raw, c)).then(|| n.text.clone())
            });
            out.push(Observation {
                probe: p.clone(),
                host: host.clone(),
                records: evs.iter().map(|(s, _)| *s).collect(),
                value: match &not_yet {
                    Some(t) => Err(t.get("en").cloned().unwrap_or_default()),
                    None => observe(probe, evs),
                },
                not_yet,
            });
        }
    }
    powered_off(scenario, &mut out, inventory.as_deref().unwrap_or(&[]));
    out
}

/// A probe fed by a step: the step's latest run before `until`, or not observable yet.
fn step_observation(probe: &Probe, step: &str, entries: &[Entry], until: u64) -> Observation {
    let tag = format!("step:{step}");
    let last = entries.iter().rev().find_map(|e| match &e.body {
        Body::Evidence(ev) if e.seq < until && ev.probe.as_deref() == Some(tag.as_str()) => {
            Some((e.seq, ev))
        }
        _ => None,
    });
    match last {
        Some((seq, ev)) => Observation {
            probe: probe.id.clone(),
            host: ev.host.clone(),
            records: vec![seq],
            value: observe(probe, &[(seq, ev)]),
            not_yet: None,
        },
        None => {
            let text: Texts = [
                (
                    "ja".to_string(),
                    format!("手順 {step} はまだ実行されていない"),
                ),
                ("en".to_string(), format!("the step {step} has not run yet")),
            ]
            .into();
            Observation {
                probe: probe.id.clone(),
                host: String::new(),
                records: vec![],
                value: Err(text["en"].clone()),
                not_yet: Some(text),
            }
        }
    }
}

/// Evidence from a node whose VM is not running (the servers in the security-group probe, matched
/// to the inventory by address) is not observable yet, not missing.
fn powered_off(scenario: &Scenario, obs: &mut [Observation], inventory: &[parse::InventoryHost]) {
    let servers: Vec<(String, String, String)> = obs
        .iter()
        .filter_map(|o| o.value.as_ref().ok()?.get("servers")?.as_array().cloned())
        .flatten()
        .map(|s| {
            let g = |k: &str| s[k].as_str().unwrap_or("").to_string();
            (g("name"), g("status"), g("addresses"))
        })
        .collect();
    let off = |host: &str| -> Option<(String, String)> {
        let inv = inventory.iter().find(|h| h.name == host)?;
        let addr = inv.ansible_host.as_deref().or(inv.ip.as_deref())?;
        servers
            .iter()
            .find(|(_, status, addresses)| {
                status != "ACTIVE"
                    && addresses
                        .split(|c: char| c == ',' || c == '=' || c.is_whitespace() || c == '"')
                        .any(|a| a == addr)
            })
            .map(|(n, s, _)| (n.clone(), s.clone()))
    };
    for o in obs.iter_mut() {
        let on = scenario
            .probes
            .iter()
            .find(|p| p.id == o.probe)
            .map(|p| p.on.as_str());
        if !matches!(on, Some("nodes" | "kubectl")) || o.not_yet.is_some() || o.value.is_ok() {
            continue;
        }
        if let Some((name, status)) = off(&o.host) {
            let text: Texts = [
                (
                    "ja".to_string(),
                    format!("VM {name} が {status} のため観測できない"),
                ),
                ("en".to_string(), format!("the VM {name} is {status}")),
            ]
            .into();
            o.value = Err(text["en"].clone());
            o.not_yet = Some(text);
        }
    }
}

/// Diagnose the latest collection in the journal with the scenario recorded there.
pub fn diagnose(scenario: &Scenario, entries: &[Entry], from: u64) -> Diagnosis {
    let obs = observations(scenario, entries, from);
    let of =
        |probe: &str| -> Vec<&Observation> { obs.iter().filter(|o| o.probe == probe).collect() };
    let records_of =
        |probe: &str| -> Vec<u64> { of(probe).iter().flat_map(|o| o.records.clone()).collect() };
    let probe_def = |id: &str| scenario.probes.iter().find(|p| p.id == id);

    let not_yet: Vec<NotYetFinding> = obs
        .iter()
        .filter_map(|o| {
            o.not_yet.as_ref().map(|t| NotYetFinding {
                probe: o.probe.clone(),
                host: o.host.clone(),
                message: t.get("en").cloned().unwrap_or_default(),
                text: t.clone(),
                records: o.records.clone(),
            })
        })
        .collect();
    let mut missing: Vec<Missing> = obs
        .iter()
        .filter(|o| o.not_yet.is_none())
        .filter_map(|o| {
            o.value.as_ref().err().map(|e| Missing {
                probe: o.probe.clone(),
                host: o.host.clone(),
                message: e.clone(),
                records: o.records.clone(),
            })
        })
        .collect();
    for p in scenario.probes.iter().filter(|p| p.step.is_none()) {
        if of(&p.id).is_empty() {
            missing.push(Missing {
                probe: p.id.clone(),
                host: String::new(),
                message: "no evidence was collected".into(),
                records: vec![],
            });
        }
    }

    let cond_holds = |c: &Condition| verdict(c, &of);
    let mut causes = Vec::new();
    for c in &scenario.causes {
        if c.when.iter().all(|w| cond_holds(w) == Some(true)) {
            let chain = c
                .chain
                .iter()
                .map(|l| ChainLink {
                    text: [
                        ("ja".to_string(), l.ja.clone()),
                        ("en".to_string(), l.en.clone()),
                    ]
                    .into(),
                    probe: l.probe.clone(),
                    records: records_of(&l.probe),
                    observed: of(&l.probe).iter().map(|o| summary(o)).collect(),
                })
                .collect();
            let mut records: Vec<u64> = c
                .when
                .iter()
                .flat_map(|w| records_of(w.probe.as_deref().unwrap_or("")))
                .collect();
            records.sort_unstable();
            records.dedup();
            causes.push(CauseFinding {
                id: c.id.clone(),
                phase: c.phase,
                title: c.title.clone(),
                chain,
                records,
                why: c.why.clone(),
                where_: c.where_.clone(),
                what: c.what.clone(),
                how: c.how.clone(),
            });
        }
    }

    let mut ruled_out = Vec::new();
    let mut not_ruled_out = Vec::new();
    for a in &scenario.alternatives {
        if !a.applies.iter().all(|c| cond_holds(c) == Some(true)) {
            continue;
        }
        let verdicts: Vec<Option<bool>> = a.rule_out.iter().map(cond_holds).collect();
        let mut probes: Vec<&str> = Vec::new();
        for c in a
            .rule_out
            .iter()
            .chain(&a.applies)
            .flat_map(|c| std::iter::once(c).chain(&c.or))
        {
            if let Some(p) = c.probe.as_deref().filter(|p| !probes.contains(p)) {
                probes.push(p);
            }
        }
        let finding = AlternativeFinding {
            id: a.id.clone(),
            phase: a.phase,
            title: a.title.clone(),
            because: a.because.clone(),
            records: probes.iter().flat_map(|p| records_of(p)).collect(),
            observed: probes
                .iter()
                .flat_map(|p| of(p).into_iter().map(summary))
                .collect(),
        };
        if verdicts.iter().all(|v| *v == Some(true)) {
            ruled_out.push(finding);
        } else {
            not_ruled_out.push(finding);
        }
    }

    let explained: Vec<&str> = scenario
        .causes
        .iter()
        .filter(|c| causes.iter().any(|f| f.id == c.id))
        .flat_map(|c| c.explains.iter().map(String::as_str))
        .collect();
    let unexplained = obs
        .iter()
        .filter(|o| {
            probe_def(&o.probe).is_some_and(|p| o.failing(p))
                && !explained.contains(&o.probe.as_str())
        })
        .map(|o| Unexplained {
            probe: o.probe.clone(),
            host: o.host.clone(),
            summary: summary(o),
            records: o.records.clone(),
        })
        .collect();

    Diagnosis {
        scenario: scenario.id.clone(),
        causes,
        ruled_out,
        not_ruled_out,
        unexplained,
        missing,
        not_yet,
        observations: obs,
    }
}

/// The task's end states on a diagnosis: `held`, `failed`, or `not_observed`.
pub fn end_states(scenario: &Scenario, d: &Diagnosis) -> Vec<Value> {
    scenario
        .end_states
        .iter()
        .map(|e| {
            let verdicts: Vec<Option<bool>> = e
                .when
                .iter()
                .map(|c| {
                    let of = |p: &str| -> Vec<&Observation> {
                        d.observations.iter().filter(|o| o.probe == p).collect()
                    };
                    verdict(c, &of)
                })
                .collect();
            let state = if verdicts.contains(&Some(false)) {
                "failed"
            } else if verdicts.iter().all(|v| *v == Some(true)) {
                "held"
            } else {
                "not_observed"
            };
            let probes: Vec<&str> = e.when.iter().filter_map(|c| c.probe.as_deref()).collect();
            let of = || {
                d.observations
                    .iter()
                    .filter(|o| probes.contains(&o.probe.as_str()))
            };
            json!({
                "id": e.id,
                "phase": e.phase,
                "text": e.text,
                "state": state,
                "observed": of().map(summary).collect::<Vec<_>>(),
                "records": of().flat_map(|o| o.records.clone()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

impl Diagnosis {
    /// The JSON `diagnose --json` prints: causes (id, chain, records), ruled_out, unexplained, missing.
    pub fn to_json(&self, scenario: &Scenario) -> Value {
        let examined: Vec<Value> = self
            .observations
            .iter()
            .map(|o| {
                let p = scenario.probes.iter().find(|p| p.id == o.probe);
                json!({
                    "probe": o.probe,
                    "host": o.host,
                    "text": p.map(|p| p.text.clone()).unwrap_or_default(),
                    "summary": summary(o),
                    "failing": p.is_some_and(|p| o.failing(p)),
                    "records": o.records,
                })
            })
            .collect();
        let pairs = self
            .observations
            .iter()
            .find(|o| o.probe == "ping_matrix")
            .and_then(|o| o.value.as_ref().ok())
            .and_then(|v| v.get("pairs").cloned())
            .unwrap_or(Value::Array(vec![]));
        let mut hosts: Vec<&str> = Vec::new();
        for o in self.observations.iter().filter(|o| !o.host.is_empty()) {
            if !hosts.contains(&o.host.as_str()) {
                hosts.push(&o.host);
            }
        }
        let claimed: Vec<&crate::scenario::Cause> = scenario
            .causes
            .iter()
            .filter(|c| self.causes.iter().any(|f| f.id == c.id))
            .collect();
        let marks: Vec<&str> = claimed.iter().filter_map(|c| c.marks.as_deref()).collect();
        let mark_notes: Vec<Value> = claimed
            .iter()
            .filter_map(|c| {
                let text = c.mark_text.as_ref().unwrap_or(&c.title);
                Some(json!({ "link": c.marks.as_deref()?, "text": text }))
            })
            .collect();
        json!({
            "hosts": hosts,
            "ping_pairs": pairs,
            "marks": marks,
            "mark_notes": mark_notes,
            "examined": examined,
            "scenario": self.scenario,
            "causes": self.causes,
            "ruled_out": self.ruled_out,
            "not_ruled_out": self.not_ruled_out,
            "unexplained": self.unexplained,
            "missing": self.missing,
            "not_yet_observable": self.not_yet,
            "end_states": end_states(scenario, self),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(step: &str, out: &str) -> Evidence {
        serde_json::from_value(json!({
            "host": "node1", "command": "kubectl exec …", "step": step,
            "started_at": "2026-12-03T00:00:00Z", "ended_at": "2026-12-03T00:00:02Z",
            "duration_ms": 2000, "outcome": { "exited": { "code": 0 } },
            "stdout": { "bytes": out.len(), "invalid_utf8": 0, "omitted": 0, "redactions": 0, "text": out },
            "stderr": { "bytes": 0, "invalid_utf8": 0, "omitted": 0, "redactions": 0, "text": "" }
        }))
        .unwrap()
    }

    fn lines(addr: &str, prefix: &str, received: u32) -> String {
        let loss = if received == 2 { 0 } else { 100 };
        format!(
            "{prefix}{addr} PING {addr} ({addr}): 56 data bytes\n{prefix}{addr} 2 packets transmitted, {received} packets received, {loss}% packet loss\n{prefix}{addr} exit {}\n",
            u32::from(received == 0)
        )
    }

    /// One command of pings per probe pod carries both probes: the pod-to-pod targets (the
    /// matrix's) and, after ` egress `, the outside addresses (the egress probe's, their lines
    /// prefixed `egress ADDR`); each reads only its own lines. The earlier form, a step
    /// `egress FROM NODE ADDR` of its own, still reads.
    #[test]
    fn matrix_and_egress_from_one_command_of_pings() {
        let out = lines("10.233.64.2", "", 2) + &lines("203.0.113.80", "egress ", 0);
        let merged = ev(
            "pings p-node1 node1 p-node2@node2@10.233.64.2 egress 203.0.113.80",
            &out,
        );
        let m = ping_matrix(&[(1, &merged)]).unwrap();
        assert_eq!(m["pairs"].as_array().unwrap().len(), 1, "{m}");
        assert_eq!(m["cross_node_ok"], true);
        let e = pod_egress(&[(1, &merged)]).unwrap();
        assert_eq!(e["pairs"].as_array().unwrap().len(), 1, "{e}");
        assert_eq!(e["pairs"][0]["to"], "203.0.113.80");
        assert_eq!(e["all_ok"], false);
        // The outside answered, the pod did not: each probe says its own.
        let out = lines("10.233.64.2", "", 0) + &lines("203.0.113.80", "egress ", 2);
        let flipped = ev(
            "pings p-node1 node1 p-node2@node2@10.233.64.2 egress 203.0.113.80",
            &out,
        );
        assert_eq!(
            ping_matrix(&[(1, &flipped)]).unwrap()["cross_node_ok"],
            false
        );
        assert_eq!(pod_egress(&[(1, &flipped)]).unwrap()["all_ok"], true);
        // Without an outside address, a command of pings is no egress evidence.
        let plain = ev(
            "pings p-node1 node1 p-node2@node2@10.233.64.2",
            &lines("10.233.64.2", "", 2),
        );
        assert!(pod_egress(&[(1, &plain)]).is_err());
        // Journals of earlier versions: the egress pings in a step of their own.
        let old = ev(
            "egress p-node1 node1 203.0.113.80",
            &lines("203.0.113.80", "", 2),
        );
        assert_eq!(pod_egress(&[(1, &old)]).unwrap()["all_ok"], true);
    }
}
