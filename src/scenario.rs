//! Scenarios: what the tool knows about an incident, as data (TOML; see scenarios/README.md).
//! Loading checks every reference (probe ids, parsers, operators) and reports errors as
//! `file:line:column` with a hint.
//!
//! What it cannot check: that what a scenario knows is right; only that it is well-formed and
//! that everything it names exists.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Text in each language.
pub type Texts = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub title: Texts,
    pub hosts: Hosts,
    #[serde(default)]
    pub probes: Vec<Probe>,
    #[serde(default)]
    pub causes: Vec<Cause>,
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// The steps the task itself prescribes, applied only with --apply.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// The task's end states, checked on every round's collection.
    #[serde(default)]
    pub end_states: Vec<EndState>,
    /// Lessons learned, for the post-mortem style.
    #[serde(default)]
    pub lessons: Option<Texts>,
    /// The task's phases, as a judge scores them: what the trouble was, and the state a phase
    /// starts from (what `replay` builds).
    #[serde(default)]
    pub phases: Vec<Phase>,
}

/// One phase of the task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub phase: u32,
    /// The trouble as the task states it.
    pub trouble: Texts,
    /// The lab state this phase starts from: `lab up` arguments (for `replay --target lab`).
    #[serde(default)]
    pub lab: Vec<String>,
}

/// A typed fix of a cause: what is changed, where, and why it is no wider than needed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FixSpec {
    /// A sysctl set at runtime and persisted in a file of its own under /etc/sysctl.d.
    Sysctl {
        on: String,
        key: String,
        value: String,
        file: String,
        reason: Texts,
    },
    /// Rules added to a chain of the host's nftables at run time (`nft add rule`), and kept in a
    /// file of their own that /etc/nftables.conf includes, so a boot loads them again. `chain`
    /// is `FAMILY TABLE CHAIN`; with `create` (a base chain's spec, `type nat hook postrouting
    /// priority srcnat; policy accept;`) the chain is made in a table of its own when absent,
    /// and the file holds that table whole. Rules are written as `nft list` prints them.
    Nft {
        on: String,
        chain: String,
        rules: Vec<String>,
        file: String,
        #[serde(default)]
        create: Option<String>,
        reason: Texts,
    },
    /// One field of a Calico resource in the cluster's datastore (`calicoctl patch RESOURCE
    /// NAME`), which calico-node applies on every node: Felix's `ipipMTU`
    /// (`felixconfiguration default`, the defaults) or an IP pool's `natOutgoing` (`ippool
    /// default-pool`). `value` may name an observation (`{tunnel_mtu.fitting_mtu}`); a number
    /// or true/false is written as one. `calico_felix` is its former name.
    #[serde(alias = "calico_felix")]
    CalicoPatch {
        on: String,
        #[serde(default = "felixconfiguration")]
        resource: String,
        #[serde(default = "default_name")]
        name: String,
        field: String,
        value: String,
        reason: Texts,
    },
    /// An allowed address pair on Neutron ports (`openstack port set PORT --allowed-address
    /// ip-address=ADDRESS`): `ports` names them (`{ports.without_pairs}`: the ids an observation
    /// listed), `address` is what they then pass past port security (`{ippool.pools.0.cidr}`: the
    /// pods' pool). Port security stays on.
    PortAllowedAddress {
        on: String,
        ports: String,
        address: String,
        reason: Texts,
    },
    /// A DNS server on a Neutron subnet (`openstack subnet set --dns-nameserver SERVER SUBNET`),
    /// which its DHCP gives the VMs at their next lease: `subnet` and `server` may name
    /// observations (`{subnets.without_dns.0}`, `{subnets.hypervisor_nameservers.0}`).
    SubnetDns {
        on: String,
        subnet: String,
        server: String,
        reason: Texts,
    },
    /// A DHCP lease renewed on each node (`networkctl renew IFACE`, systemd-networkd's, as
    /// Ubuntu's netplan runs it), so a subnet's change reaches the VMs now. `on = "nodes"`: once
    /// per node; `interface` may name an observation (`{default_route.default_dev}`).
    DhcpRenew {
        on: String,
        interface: String,
        reason: Texts,
    },
    /// An ingress security-group rule through the openstack CLI, from a remote group; without
    /// `port`, the whole protocol (IP protocol 4, IP-in-IP, has no ports).
    SgRule {
        on: String,
        group: String,
        remote_group: String,
        protocol: String,
        #[serde(default)]
        port: Option<u16>,
        reason: Texts,
    },
}

impl FixSpec {
    /// Whether a fix record's target (`sysctl net.ipv4.ip_forward`, `sg rule … master`) is this
    /// fix's.
    pub fn fits(&self, target: &str) -> bool {
        match self {
            FixSpec::Sysctl { key, .. } => target.ends_with(key.as_str()),
            FixSpec::Nft { chain, .. } => target.ends_with(chain.as_str()),
            FixSpec::CalicoPatch { field, .. } => target.ends_with(field.as_str()),
            FixSpec::SgRule { group, .. } => target.ends_with(&format!(" {group}")),
            FixSpec::PortAllowedAddress { .. } => target.starts_with("ports "),
            FixSpec::SubnetDns { .. } => target.starts_with("subnet "),
            FixSpec::DhcpRenew { .. } => target.contains(" DHCP lease "),
        }
    }
}

fn felixconfiguration() -> String {
    "felixconfiguration".into()
}

fn default_name() -> String {
    "default".into()
}

/// A step the task prescribes to reach its end state: not a cause, but part of the solution.
/// Planned when every `when` holds on the round's collection and no cause of its phase (or an
/// earlier one) is claimed; run at most once per run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub phase: u32,
    pub title: Texts,
    /// Why the step is taken: the task's own words.
    pub reason: Texts,
    pub when: Vec<Condition>,
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    /// `openstack server start NAME` for every server the probe lists as stopped, then wait
    /// until each is ACTIVE and every node answers SSH.
    ServerStart { probe: String },
    /// A command, verbatim, as the operator would type it, on a host set (hypervisor, kubectl).
    /// Its evidence is tagged `step:<id>`; `progress = "ansible"` shows task by task.
    Command {
        on: String,
        command: String,
        #[serde(default)]
        timeout: Option<u64>,
        #[serde(default)]
        progress: Option<String>,
    },
}

/// An end state of the task, checked with the task's own commands (its probes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndState {
    pub id: String,
    pub phase: u32,
    pub text: Texts,
    pub when: Vec<Condition>,
}

/// When a probe's evidence says the thing cannot be observed yet (no Kubernetes API before the
/// deployment): neither missing nor failing evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotYet {
    /// Conditions on the raw evidence (`exit`, `stdout`, `stderr`); any one suffices.
    pub when: Vec<Condition>,
    pub text: Texts,
}

/// A rule of the task, proven with evidence before and after the fix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    pub id: String,
    pub text: Texts,
    /// `unchanged`: the command's output must be the same before and after. `holds`: the
    /// condition must hold on the probe's observation before and after.
    pub kind: String,
    #[serde(default)]
    pub on: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    pub hypervisor: String,
    pub inventory: String,
    /// `first-node`, or a host name.
    pub kubectl: String,
    /// The users the operator logs in as, per role (hypervisor, nodes): the prompts of an
    /// answer's commands (`user@server01:~$`).
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// How the operator logs in to a node from the hypervisor, as the task does:
    /// `ssh -i ~/.ssh/ictsc_rsa {user}@{address}` ({address}: the node's `ansible_host` in the
    /// inventory, else its `ip`; {user}: the nodes' user). A step on a node runs it first, on
    /// the hypervisor, with no input (so it logs in and out), and an answer shows it before
    /// the step's commands.
    #[serde(default)]
    pub login: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub id: String,
    /// hypervisor, nodes or kubectl
    pub on: String,
    pub parser: String,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub sudo: bool,
    /// Seconds.
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub failing: Option<Condition>,
    /// When its evidence means "not observable yet".
    #[serde(default)]
    pub not_yet: Option<NotYet>,
    /// Not run by a collection: the latest run of this step is its evidence.
    #[serde(default)]
    pub step: Option<String>,
    /// The output lines an answer quotes from this probe's evidence (a regex; default: the
    /// first lines).
    #[serde(default)]
    pub quote: Option<String>,
    /// Commands a person types to see what this probe reads (a table, not the JSON the parser
    /// reads), run on the same host right after it and recorded as its step `show`: an answer
    /// shows these, with their output, in the probe's place.
    #[serde(default)]
    pub show: Vec<String>,
    pub text: Texts,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default)]
    pub probe: Option<String>,
    /// any (default) or all of the hosts the probe ran on
    #[serde(default)]
    pub quantifier: Option<String>,
    #[serde(default)]
    pub field: String,
    pub op: String,
    #[serde(default)]
    pub value: Option<Value>,
    /// Conditions any of which holding makes this one hold (`a or b`): for what depends on what
    /// another probe observed (the tunnel in use is allowed, or that tunnel is not in use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or: Vec<Condition>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub probe: String,
    pub ja: String,
    pub en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cause {
    pub id: String,
    pub phase: u32,
    pub title: Texts,
    pub explains: Vec<String>,
    pub when: Vec<Condition>,
    pub chain: Vec<Link>,
    pub why: Texts,
    #[serde(rename = "where")]
    pub where_: Texts,
    pub what: Texts,
    pub how: Texts,
    #[serde(default)]
    pub fixes: Vec<FixSpec>,
    /// Which link of the topology picture this cause breaks: `uplink` (the hypervisor's way out)
    /// or `mesh` (between the nodes).
    #[serde(default)]
    pub marks: Option<String>,
    /// What the picture writes at that link (a few words; default: the title).
    #[serde(default)]
    pub mark_text: Option<Texts>,
    /// An action item that keeps the cause from coming back, for the post-mortem style.
    #[serde(default)]
    pub action: Option<Texts>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    pub id: String,
    pub phase: u32,
    pub title: Texts,
    /// Considered only when every one holds (an IP-in-IP blockage only where IP-in-IP is the
    /// mode observed); otherwise neither ruled out nor left open, and never named.
    #[serde(default)]
    pub applies: Vec<Condition>,
    pub rule_out: Vec<Condition>,
    /// What the evidence that rules it out shows, in a sentence an answer gives.
    #[serde(default)]
    pub because: Option<Texts>,
}

/// Parsers a probe may name, and the compound ones run by code.
pub const PARSERS: &[&str] = &[
    "sysctl",
    "text",
    "apt",
    "ansible",
    "routes",
    "bgp",
    "links",
    "security_groups",
    "kube_nodes",
    "kube_pods",
    "ping_matrix",
    "task_patterns",
    "nft",
    "pmtu",
    "ippool",
    "pod_egress",
    "ports",
    "subnets",
];
pub const OPS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "not_in",
    "exists",
    "contains",
    "nonempty",
    "not_observable",
];
pub const ON: &[&str] = &["hypervisor", "nodes", "kubectl"];
pub const LANGS: &[&str] = &["ja", "en"];

const BUILTIN: &[(&str, &str)] = &[(
    "ictsc2021-cloud-native",
    include_str!("../scenarios/ictsc2021-cloud-native.toml"),
)];

/// The built-in scenarios' ids.
pub fn builtin_ids() -> Vec<&'static str> {
    BUILTIN.iter().map(|(id, _)| *id).collect()
}

/// A built-in scenario by id, or a scenario file by path.
pub fn load(id_or_path: &str) -> Result<(Scenario, String)> {
    if let Some((id, text)) = BUILTIN.iter().find(|(id, _)| *id == id_or_path) {
        return Ok((parse(text, &format!("<built-in {id}>"))?, text.to_string()));
    }
    let path = Path::new(id_or_path);
    if !path.exists() {
        bail!(
            "no scenario {id_or_path:?}: not a built-in one ({}) and not a file",
            builtin_ids().join(", ")
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("scenario {}: cannot read: {e}", path.display()))?;
    Ok((parse(&text, &path.display().to_string())?, text))
}

/// Where in `text` a string value (or key) first appears, as line:column.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    let quoted = format!("\"{needle}\"");
    let at = text
        .find(&quoted)
        .or_else(|| text.find(needle))
        .unwrap_or(0);
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let col = offset - text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// Parse and check a scenario; `name` is how errors name the file.
pub fn parse(text: &str, name: &str) -> Result<Scenario> {
    let s: Scenario = toml::from_str(text).map_err(|e| {
        let (l, c) = e
            .span()
            .map(|sp| line_col(text, sp.start))
            .unwrap_or((1, 1));
        anyhow::anyhow!(
            "{name}:{l}:{c}: {}\nhint: the format is described in scenarios/README.md",
            e.message()
        )
    })?;
    let mut errors = Vec::new();
    let mut err = |needle: &str, msg: String, hint: &str| {
        let (l, c) = locate(text, needle);
        errors.push(format!("{name}:{l}:{c}: {msg}\nhint: {hint}"));
    };
    let ids: Vec<&str> = s.probes.iter().map(|p| p.id.as_str()).collect();
    for (i, p) in s.probes.iter().enumerate() {
        if ids[..i].contains(&p.id.as_str()) {
            err(
                &p.id,
                format!("probe {:?} is defined twice", p.id),
                "give every probe its own id",
            );
        }
        if !PARSERS.contains(&p.parser.as_str()) {
            err(
                &p.parser,
                format!("probe {:?}: unknown parser {:?}", p.id, p.parser),
                &format!("one of: {}", PARSERS.join(", ")),
            );
        }
        if !ON.contains(&p.on.as_str()) {
            err(
                &p.on,
                format!("probe {:?}: unknown host set {:?}", p.id, p.on),
                &format!("one of: {}", ON.join(", ")),
            );
        }
        if p.command.is_none()
            && !matches!(p.parser.as_str(), "ping_matrix" | "task_patterns")
            && p.step.is_none()
        {
            err(
                &p.id,
                format!("probe {:?} has no command", p.id),
                "add command = \"...\"",
            );
        }
        if p.parser == "pod_egress"
            && (p.on != "kubectl" || !s.probes.iter().any(|q| q.parser == "ping_matrix"))
        {
            err(
                &p.id,
                format!(
                    "probe {:?}: pod_egress pings from the ping matrix's pods",
                    p.id
                ),
                "put it on = \"kubectl\", beside a probe with parser = \"ping_matrix\"",
            );
        }
        if p.parser == "sysctl" && p.key.is_none() {
            err(
                &p.id,
                format!("probe {:?}: a sysctl probe needs key = \"net....\"", p.id),
                "name the sysctl key",
            );
        }
    }
    let check_one = |c: &Condition,
                     owner: &str,
                     own_probe: Option<&str>,
                     err: &mut dyn FnMut(&str, String, &str)| {
        let probe = c.probe.as_deref().or(own_probe);
        match probe {
            Some(p) if ids.contains(&p) => {}
            Some(p) => err(
                p,
                format!("{owner}: no probe {p:?}"),
                &format!("probes: {}", ids.join(", ")),
            ),
            None => err(
                &c.field,
                format!("{owner}: a condition without probe"),
                "add probe = \"...\"",
            ),
        }
        if !OPS.contains(&c.op.as_str()) {
            err(
                &c.op,
                format!("{owner}: unknown op {:?}", c.op),
                &format!("one of: {}", OPS.join(", ")),
            );
        }
        if let Some(q) = &c.quantifier {
            if q != "any" && q != "all" {
                err(q, format!("{owner}: quantifier {q:?}"), "any or all");
            }
        }
        if !matches!(c.op.as_str(), "exists" | "nonempty" | "not_observable") && c.value.is_none() {
            err(
                &c.field,
                format!("{owner}: op {:?} needs a value", c.op),
                "add value = ...",
            );
        }
        if c.or.iter().any(|o| !o.or.is_empty()) {
            err(
                &c.field,
                format!("{owner}: an `or` inside an `or`"),
                "list every alternative in the outer `or`",
            );
        }
    };
    // A condition and each of its `or` alternatives.
    let check_cond = |c: &Condition,
                      owner: &str,
                      own_probe: Option<&str>,
                      err: &mut dyn FnMut(&str, String, &str)| {
        for x in std::iter::once(c).chain(&c.or) {
            check_one(x, owner, own_probe, err);
        }
    };
    for p in &s.probes {
        if let Some(f) = &p.failing {
            check_cond(
                f,
                &format!("probe {:?} failing", p.id),
                Some(&p.id),
                &mut err,
            );
        }
    }
    let step_ids: Vec<&str> = s.steps.iter().map(|t| t.id.as_str()).collect();
    for p in &s.probes {
        if let Some(t) = &p.step {
            if !step_ids.contains(&t.as_str()) {
                err(
                    t,
                    format!("probe {:?}: no step {t:?}", p.id),
                    &format!("steps: {}", step_ids.join(", ")),
                );
            }
        }
    }
    for t in &s.steps {
        for w in &t.when {
            check_cond(w, &format!("step {:?}", t.id), None, &mut err);
        }
        match &t.action {
            StepAction::ServerStart { probe } if !ids.contains(&probe.as_str()) => err(
                probe,
                format!("step {:?}: no probe {probe:?}", t.id),
                &format!("probes: {}", ids.join(", ")),
            ),
            StepAction::Command { on, .. } if on != "hypervisor" && on != "kubectl" => err(
                on,
                format!(
                    "step {:?}: a command step runs on hypervisor or kubectl, not {on:?}",
                    t.id
                ),
                "on = \"hypervisor\" or \"kubectl\"",
            ),
            _ => {}
        }
        for (field, tx) in [("title", &t.title), ("reason", &t.reason)] {
            for l in LANGS {
                if !tx.contains_key(*l) {
                    err(
                        &t.id,
                        format!("step {:?}: {field} has no {l} text", t.id),
                        "every text is given in ja and en",
                    );
                }
            }
        }
    }
    for e in &s.end_states {
        for w in &e.when {
            check_cond(w, &format!("end state {:?}", e.id), None, &mut err);
        }
    }
    for c in &s.causes {
        for w in &c.when {
            check_cond(w, &format!("cause {:?}", c.id), None, &mut err);
        }
        for e in c.explains.iter().chain(c.chain.iter().map(|l| &l.probe)) {
            if !ids.contains(&e.as_str()) {
                err(
                    e,
                    format!("cause {:?}: no probe {e:?}", c.id),
                    &format!("probes: {}", ids.join(", ")),
                );
            }
        }
        for (field, t) in [
            ("title", &c.title),
            ("why", &c.why),
            ("where", &c.where_),
            ("what", &c.what),
            ("how", &c.how),
        ] {
            for l in LANGS {
                if !t.contains_key(*l) {
                    err(
                        &c.id,
                        format!("cause {:?}: {field} has no {l} text", c.id),
                        "every text is given in ja and en",
                    );
                }
            }
        }
        if c.when.is_empty() {
            err(
                &c.id,
                format!("cause {:?} has no conditions", c.id),
                "a cause is claimed only from evidence: add when = [...]",
            );
        }
    }
    for a in &s.alternatives {
        for w in a.applies.iter().chain(&a.rule_out) {
            check_cond(w, &format!("alternative {:?}", a.id), None, &mut err);
        }
    }
    for k in &s.constraints {
        match (k.kind.as_str(), &k.command, &k.condition) {
            ("unchanged", Some(_), _) if k.on.as_deref().is_some_and(|o| ON.contains(&o)) => {}
            ("holds", _, Some(c)) => check_cond(c, &format!("constraint {:?}", k.id), None, &mut err),
            _ => err(&k.id, format!("constraint {:?}: needs kind = \"unchanged\" with on and command, or kind = \"holds\" with condition", k.id), "see scenarios/README.md"),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(s)
}
