//! Typed fixes: each has a preview (the exact commands), an apply that is idempotent (an
//! equivalent change already in place is reused), a check right after, an inverse for rollback,
//! and its security delta. Every command is evidence in the journal.
//!
//! What it cannot prove: that nothing else changed the same thing at the same time. An undo
//! restores what its fix changed, not what others changed meanwhile.

use crate::journal::redact::Redactor;
use crate::journal::{Body, Evidence, FixRecord, Journal};
use crate::scenario::{FixSpec, Texts};
use crate::transport::shell_quote;
use crate::transport::ssh::SshPool;
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// A fix ready to apply: its spec, the host it runs on, and what it will do.
#[derive(Debug, Clone)]
pub struct Planned {
    pub cause: String,
    pub spec: FixSpec,
    pub host: String,
    pub target: String,
    pub commands: Vec<String>,
    pub delta: Texts,
    /// The file it writes, and what it will hold.
    pub file: Option<crate::journal::FileShown>,
}

/// What applying did; `undo` is what a rollback runs (empty: nothing to undo).
#[derive(Debug, Clone)]
pub struct Applied {
    pub stage: String,
    pub summary: String,
    pub undo: Vec<String>,
    pub records: Vec<u64>,
}

pub fn plan(cause: &str, spec: &FixSpec, hypervisor: &str) -> Planned {
    let host = hypervisor.to_string();
    match spec {
        FixSpec::Sysctl {
            key,
            value,
            file,
            reason,
            ..
        } => Planned {
            cause: cause.into(),
            spec: spec.clone(),
            host: host.clone(),
            target: format!("{host} {key}"),
            commands: vec![
                format!("echo '{key} = {value}' | sudo tee {file}"),
                format!("sudo sysctl -p {file}"),
            ],
            delta: delta(
                reason,
                &format!("{key} を {value} にし、{file} で永続化"),
                &format!("{key} set to {value}, kept in {file}"),
            ),
            file: Some(crate::journal::FileShown {
                path: file.clone(),
                content: format!("{key} = {value}\n"),
            }),
        },
        FixSpec::Nft {
            chain,
            rules,
            file,
            create,
            reason,
            ..
        } => {
            let nft = NftFix::new(chain, rules, file, create.as_deref());
            Planned {
                cause: cause.into(),
                spec: spec.clone(),
                host: host.clone(),
                target: format!("{host} nftables {chain}"),
                commands: nft.preview(),
                file: Some(crate::journal::FileShown { path: file.clone(), content: nft.file_text() }),
                delta: delta(
                    reason,
                    &format!("nftables の {chain} に {} 件のルールを追加し、{file} に保存して /etc/nftables.conf から読み込む: {}", rules.len(), rules.join("; ")),
                    &format!("{} rule(s) added to nftables {chain}, kept in {file}, which /etc/nftables.conf includes: {}", rules.len(), rules.join("; ")),
                ),
            }
        }
        FixSpec::CalicoPatch {
            resource,
            name,
            field,
            value,
            reason,
            ..
        } => {
            let (ja, en) = calico_label(resource, name);
            Planned {
                cause: cause.into(),
                spec: spec.clone(),
                host: host.clone(),
                target: format!("{host} {resource} {name} {field}"),
                commands: vec![format!(
                    "sudo {}",
                    calico_command(resource, name, &calico_patch(field, &calico_value(value)))
                )],
                delta: delta(
                    reason,
                    &format!("{ja}の {field} を {value} にした(全ノードに適用される)"),
                    &format!("{en}: {field} set to {value} (applied on every node)"),
                ),
                file: None,
            }
        }
        FixSpec::SgRule {
            group,
            remote_group,
            protocol,
            port,
            reason,
            ..
        } => {
            let ports = port
                .map(|p| format!(" --dst-port {p}:{p}"))
                .unwrap_or_default();
            let (ja, en) = sg_what(protocol, *port);
            Planned {
                cause: cause.into(),
                spec: spec.clone(),
                host: host.clone(),
                target: format!("security group {group}"),
                commands: vec![format!(
                    "openstack security group rule create --ingress --protocol {protocol}{ports} --remote-group {remote_group} {group}"
                )],
                delta: delta(
                    reason,
                    &format!("{group} に {remote_group} からの {ja} を許可"),
                    &format!("{group}: {en} allowed in from {remote_group}"),
                ),
                file: None,
            }
        }
        FixSpec::SubnetDns {
            subnet,
            server,
            reason,
            ..
        } => Planned {
            cause: cause.into(),
            spec: spec.clone(),
            host: host.clone(),
            target: format!("subnet {subnet}"),
            commands: vec![format!(
                "openstack subnet set --dns-nameserver {server} {subnet}"
            )],
            delta: delta(
                reason,
                &format!("サブネット {subnet} の DNS サーバに {server} を追加"),
                &format!("DNS server {server} added to subnet {subnet}"),
            ),
            file: None,
        },
        FixSpec::DhcpRenew {
            interface, reason, ..
        } => Planned {
            cause: cause.into(),
            spec: spec.clone(),
            host: host.clone(),
            target: format!("{host} DHCP lease {interface}"),
            commands: vec![format!("sudo networkctl renew {interface}")],
            delta: delta(
                reason,
                &format!("{host} の {interface} の DHCP リースを更新(サブネットの設定を反映)"),
                &format!(
                    "{host}'s DHCP lease on {interface} renewed (the subnet's settings taken)"
                ),
            ),
            file: None,
        },
        FixSpec::PortAllowedAddress {
            ports,
            address,
            reason,
            ..
        } => {
            let ids: Vec<&str> = ports.split_whitespace().collect();
            Planned {
                cause: cause.into(),
                spec: spec.clone(),
                host: host.clone(),
                target: format!("ports {}", ids.join(" ")),
                commands: ids
                    .iter()
                    .map(|id| {
                        format!("openstack port set {id} --allowed-address ip-address={address}")
                    })
                    .collect(),
                delta: delta(
                    reason,
                    &format!(
                        "ポート {} の許可アドレスペアに {address} を追加(ポートセキュリティは有効のまま)",
                        ids.join("、")
                    ),
                    &format!(
                        "allowed address pair {address} added to port(s) {} (port security stays on)",
                        ids.join(", ")
                    ),
                ),
                file: None,
            }
        }
    }
}

fn delta(reason: &Texts, ja: &str, en: &str) -> Texts {
    [
        (
            "ja".to_string(),
            format!("{ja}。{}", reason.get("ja").cloned().unwrap_or_default()),
        ),
        (
            "en".to_string(),
            format!("{en}. {}", reason.get("en").cloned().unwrap_or_default()),
        ),
    ]
    .into()
}

/// Runs fix commands as evidence.
pub struct Runner<'a> {
    pub pool: &'a SshPool,
    pub journal: &'a Journal,
    pub red: &'a Redactor,
}

impl Runner<'_> {
    async fn run(
        &self,
        p: &Planned,
        cmd: &str,
        sudo: bool,
        step: &str,
        records: &mut Vec<u64>,
    ) -> Result<Evidence> {
        let mut ev = self
            .pool
            .run(
                &p.host,
                cmd,
                1 << 20,
                Some(Duration::from_secs(120)),
                sudo,
                self.red,
            )
            .await;
        ev.probe = Some(format!("fix:{}", p.cause));
        ev.step = Some(step.to_string());
        let e = self
            .journal
            .append(&crate::journal::now(), &Body::Evidence(ev.clone()))?;
        records.push(e.seq);
        Ok(ev)
    }

    pub fn record(
        &self,
        p: &Planned,
        stage: &str,
        summary: &str,
        commands: Vec<String>,
        records: Vec<u64>,
    ) -> Result<u64> {
        let kind = match p.spec {
            FixSpec::Sysctl { .. } => "sysctl",
            FixSpec::Nft { .. } => "nft",
            FixSpec::CalicoPatch { .. } => "calico_patch",
            FixSpec::SgRule { .. } => "sg_rule",
            FixSpec::PortAllowedAddress { .. } => "port_allowed_address",
            FixSpec::SubnetDns { .. } => "subnet_dns",
            FixSpec::DhcpRenew { .. } => "dhcp_renew",
        };
        let e = self.journal.append(
            &crate::journal::now(),
            &Body::Fix(FixRecord {
                cause: p.cause.clone(),
                fix_kind: kind.into(),
                target: p.target.clone(),
                stage: stage.into(),
                summary: summary.into(),
                commands,
                delta: p.delta.clone(),
                records,
                file: (stage == "planned").then(|| p.file.clone()).flatten(),
                host: p.host.clone(),
            }),
        )?;
        Ok(e.seq)
    }

    /// Apply one fix, or find it already in place. Never widens what the spec says.
    pub async fn apply(&self, p: &Planned) -> Result<Applied> {
        let mut records = Vec::new();
        match &p.spec {
            FixSpec::Sysctl {
                key, value, file, ..
            } => {
                let proc = format!("/proc/sys/{}", key.replace('.', "/"));
                let check = format!(
                    "cat {proc}; echo '---'; cat {} 2>/dev/null || true",
                    shell_quote(file)
                );
                let before = self.run(p, &check, false, "check", &mut records).await?;
                let (runtime, persisted) = split_check(&before.stdout.text);
                let line = format!("{key} = {value}");
                if !before.outcome.is_success() {
                    return Ok(failed(
                        format!("cannot read {key}: {}", before.stderr.text.trim()),
                        records,
                    ));
                }
                if runtime == *value && persisted.lines().any(|l| l.trim() == line) {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!("{key} is {value} and persisted in {file}"),
                        undo: vec![],
                        records,
                    });
                }
                let ev = if self.pool.sudo_has_password() {
                    // With a sudo password, in one command through the pool's sudo.
                    let apply = format!(
                        "printf '%s\\n' {} > {} && sysctl -p {}",
                        shell_quote(&line),
                        shell_quote(file),
                        shell_quote(file)
                    );
                    self.run(p, &apply, true, "apply", &mut records).await?
                } else {
                    // As the answer shows them, one by one, and the file it wrote.
                    let mut last = None;
                    for c in p.commands.iter().chain([&format!("cat {file}")]) {
                        let ev = self.run(p, c, false, "apply", &mut records).await?;
                        let ok = ev.outcome.is_success();
                        last = Some(ev);
                        if !ok {
                            break;
                        }
                    }
                    last.expect("a sysctl fix has commands")
                };
                // Which configuration files set the key, in the order a boot reads them (the
                // last one wins): the evidence that the value persists. Not `sysctl --system`,
                // which re-applies every key and fails on the ones a host does not let it set
                // (read-only kernel.* in a container), an exit status that says nothing here.
                let persist = format!(
                    "grep -Hs '^[[:space:]]*{}[[:space:]]*=' /usr/lib/sysctl.d/*.conf /run/sysctl.d/*.conf /etc/sysctl.d/*.conf /etc/sysctl.conf",
                    key.replace('.', "[.]")
                );
                self.run(p, &persist, false, "persist-check", &mut records)
                    .await?;
                let mut undo = vec![format!("sysctl -w {key}={runtime}")];
                if persisted.trim().is_empty() {
                    undo.push(format!("rm -f {}", shell_quote(file)));
                } else {
                    undo.push(format!(
                        "printf '%s' {} > {}",
                        shell_quote(&persisted),
                        shell_quote(file)
                    ));
                }
                if !ev.outcome.is_success() {
                    return Ok(Applied {
                        undo,
                        ..failed(
                            format!("applying failed: {}", ev.stderr.text.trim()),
                            records,
                        )
                    });
                }
                let after = self
                    .run(p, &check, false, "check-after", &mut records)
                    .await?;
                let (now, persisted_now) = split_check(&after.stdout.text);
                if now != *value || !persisted_now.lines().any(|l| l.trim() == line) {
                    return Ok(Applied {
                        undo,
                        ..failed(format!("after applying, {key} reads {now:?}"), records)
                    });
                }
                Ok(Applied {
                    stage: "applied".into(),
                    summary: format!("{key}: {runtime} → {value}, persisted in {file}"),
                    undo,
                    records,
                })
            }
            FixSpec::Nft {
                chain,
                rules,
                file,
                create,
                ..
            } => {
                let nft = NftFix::new(chain, rules, file, create.as_deref());
                let before = self
                    .run(p, &nft.check(), true, "check", &mut records)
                    .await?;
                let state = NftState::read(&before.stdout.text);
                if !before.outcome.is_success() {
                    return Ok(failed(
                        format!("cannot read nftables: {}", before.stderr.text.trim()),
                        records,
                    ));
                }
                if !state.chain_exists && create.is_none() {
                    return Ok(failed(
                        format!(
                            "the chain {chain} does not exist on {}: nothing to add to",
                            p.host
                        ),
                        records,
                    ));
                }
                let missing: Vec<&String> = rules.iter().filter(|r| !state.has_rule(r)).collect();
                if missing.is_empty() && state.file == nft.file_text() && state.included {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!("{chain} already has the rules, kept in {file}"),
                        undo: vec![],
                        records,
                    });
                }
                let ev = self
                    .run(p, &nft.apply(&state, &missing), true, "apply", &mut records)
                    .await?;
                let after = self
                    .run(p, &nft.check(), true, "check-after", &mut records)
                    .await?;
                let now = NftState::read(&after.stdout.text);
                let undo = nft.undo(&state, &now);
                if !ev.outcome.is_success() {
                    return Ok(Applied {
                        undo,
                        ..failed(
                            format!("applying failed: {}", ev.stderr.text.trim()),
                            records,
                        )
                    });
                }
                if rules.iter().any(|r| !now.has_rule(r))
                    || !now.included
                    || now.file != nft.file_text()
                {
                    return Ok(Applied {
                        undo,
                        ..failed(
                            format!("after applying, {chain} or {file} does not hold the rules"),
                            records,
                        )
                    });
                }
                Ok(Applied {
                    stage: "applied".into(),
                    summary: format!(
                        "{} rule(s) added to {chain}, kept in {file} (included by /etc/nftables.conf)",
                        missing.len()
                    ),
                    undo,
                    records,
                })
            }
            FixSpec::CalicoPatch {
                resource,
                name,
                field,
                value,
                ..
            } => {
                let (_, label) = calico_label(resource, name);
                let get = format!("calicoctl get {resource} {name} -o json");
                let read = |out: &str| {
                    serde_json::from_str::<Value>(out)
                        .ok()
                        .map(|v| v["spec"][field.as_str()].clone())
                };
                let want = calico_value(value);
                let before = self.run(p, &get, true, "check", &mut records).await?;
                let Some(old) = read(&before.stdout.text).filter(|_| before.outcome.is_success())
                else {
                    return Ok(failed(
                        format!("cannot read {label}: {}", before.stderr.text.trim()),
                        records,
                    ));
                };
                if old == want {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!("{label}: {field} is already {value}"),
                        undo: vec![],
                        records,
                    });
                }
                let undo = vec![calico_command(resource, name, &calico_patch(field, &old))];
                let apply = calico_command(resource, name, &calico_patch(field, &want));
                let ev = self.run(p, &apply, true, "apply", &mut records).await?;
                let after = self.run(p, &get, true, "check-after", &mut records).await?;
                if !ev.outcome.is_success() || read(&after.stdout.text) != Some(want) {
                    return Ok(Applied {
                        undo,
                        ..failed(
                            format!(
                                "{label}: {field} is not {value} after patching: {}",
                                ev.stderr.text.trim()
                            ),
                            records,
                        )
                    });
                }
                Ok(Applied {
                    stage: "applied".into(),
                    summary: format!(
                        "{label}: {field} {} → {value}",
                        if old.is_null() {
                            "unset".to_string()
                        } else {
                            old.to_string()
                        }
                    ),
                    undo,
                    records,
                })
            }
            FixSpec::SgRule {
                group,
                remote_group,
                protocol,
                port,
                ..
            } => {
                let list = format!(
                    "openstack security group rule list {} --long --protocol {} -f json; echo '###'; openstack security group show {} -f value -c id",
                    shell_quote(group),
                    shell_quote(protocol),
                    shell_quote(remote_group)
                );
                let ev = self.run(p, &list, false, "check", &mut records).await?;
                let (rules, remote_id) = ev
                    .stdout
                    .text
                    .split_once("\n###\n")
                    .unwrap_or((&ev.stdout.text, ""));
                let remote_id = remote_id.trim();
                let rules: Vec<Value> = match serde_json::from_str(rules.trim()) {
                    Ok(r) if !remote_id.is_empty() => r,
                    _ => {
                        return Ok(failed(
                            format!(
                                "cannot list the rules of {group}: {}",
                                ev.stderr.text.trim()
                            ),
                            records,
                        ))
                    }
                };
                // A protocol without ports (IP-in-IP) lists an empty port range.
                let range = port.map(|p| format!("{p}:{p}")).unwrap_or_default();
                let (_, what) = sg_what(protocol, *port);
                if let Some(r) = rules.iter().find(|r| {
                    r["Direction"] == "ingress"
                        && r["Port Range"] == range.as_str()
                        && r["Remote Security Group"] == remote_id
                }) {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!(
                            "rule {} already lets {what} into {group} from {remote_group}",
                            r["ID"].as_str().unwrap_or("")
                        ),
                        undo: vec![],
                        records,
                    });
                }
                // As the answer shows it; the new rule's id is read from the table it prints.
                let create = p.commands.first().cloned().unwrap_or_default();
                let ev = self.run(p, &create, false, "apply", &mut records).await?;
                let id = crate::probe::osc_table::show_field(&ev.stdout.text, "id");
                if let (Some(id), true) = (&id, ev.outcome.is_success()) {
                    return Ok(Applied {
                        stage: "applied".into(),
                        summary: format!("rule {id}: {what} into {group} from {remote_group}"),
                        undo: vec![format!("openstack security group rule delete {id}")],
                        records,
                    });
                }
                // Neutron refused a duplicate (409) and named the rule that exists: it counts as
                // applied only if that rule is the one wanted (shown and checked field by field).
                let Some(dup) = crate::probe::osc_table::conflicting_rule(&ev.stderr.text) else {
                    return Ok(failed(
                        format!("creating the rule failed: {}", ev.stderr.text.trim()),
                        records,
                    ));
                };
                let show = format!("openstack security group rule show {}", shell_quote(&dup));
                let shown = self.run(p, &show, false, "check", &mut records).await?;
                let field = |k: &str| crate::probe::osc_table::show_field(&shown.stdout.text, k);
                let port_text = port.map(|p| p.to_string()).unwrap_or_else(|| "None".into());
                let same = field("direction").as_deref() == Some("ingress")
                    && field("protocol").as_deref() == Some(protocol.as_str())
                    && field("remote_group_id").as_deref() == Some(remote_id)
                    && field("port_range_min").as_deref() == Some(port_text.as_str())
                    && field("port_range_max").as_deref() == Some(port_text.as_str());
                Ok(if same {
                    Applied {
                        stage: "already".into(),
                        summary: format!(
                            "the client refused a duplicate (409): rule {dup} already lets {what} into {group} from {remote_group}"
                        ),
                        undo: vec![],
                        records,
                    }
                } else {
                    failed(
                        format!(
                            "the client says rule {dup} already exists, but it is not the rule wanted ({what} into {group} from {remote_group}): {}",
                            ev.stderr.text.trim()
                        ),
                        records,
                    )
                })
            }
            FixSpec::SubnetDns { subnet, server, .. } => {
                let show = format!("openstack subnet show {} -f json", shell_quote(subnet));
                let dns = |out: &str| listed(out, "dns_nameservers", None);
                let before = self.run(p, &show, false, "check", &mut records).await?;
                let Some(old) = dns(&before.stdout.text) else {
                    return Ok(failed(
                        format!("cannot read subnet {subnet}: {}", before.stderr.text.trim()),
                        records,
                    ));
                };
                if old.contains(server) {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!("subnet {subnet} already names DNS server {server}"),
                        undo: vec![],
                        records,
                    });
                }
                let set = format!(
                    "openstack subnet set --dns-nameserver {} {}",
                    shell_quote(server),
                    shell_quote(subnet)
                );
                let ev = self.run(p, &set, false, "apply", &mut records).await?;
                let after = self
                    .run(p, &show, false, "check-after", &mut records)
                    .await?;
                let undo = vec![format!(
                    "openstack subnet unset --dns-nameserver {} {}",
                    shell_quote(server),
                    shell_quote(subnet)
                )];
                if !ev.outcome.is_success()
                    || !dns(&after.stdout.text).is_some_and(|d| d.contains(server))
                {
                    return Ok(Applied {
                        undo: if ev.outcome.is_success() {
                            undo
                        } else {
                            vec![]
                        },
                        ..failed(
                            format!(
                                "subnet {subnet} does not name {server} after setting it: {}",
                                ev.stderr.text.trim()
                            ),
                            records,
                        )
                    });
                }
                Ok(Applied {
                    stage: "applied".into(),
                    summary: format!(
                        "subnet {subnet}: DNS servers {} → {}",
                        if old.is_empty() {
                            "none".into()
                        } else {
                            old.join(", ")
                        },
                        server
                    ),
                    undo,
                    records,
                })
            }
            FixSpec::DhcpRenew { interface, .. } => {
                // What the lease gave, before and after: the evidence of what renewing changed.
                let check = "grep -E '^nameserver' /etc/resolv.conf || true";
                self.run(p, check, false, "check", &mut records).await?;
                let renew = format!("networkctl renew {}", shell_quote(interface));
                let ev = self.run(p, &renew, true, "apply", &mut records).await?;
                let after = self
                    .run(p, check, false, "check-after", &mut records)
                    .await?;
                if !ev.outcome.is_success() {
                    return Ok(failed(
                        format!("renewing the lease failed: {}", ev.stderr.text.trim()),
                        records,
                    ));
                }
                Ok(Applied {
                    stage: "applied".into(),
                    summary: format!(
                        "{}: lease on {interface} renewed; resolvers now: {}",
                        p.host,
                        after
                            .stdout
                            .text
                            .lines()
                            .filter_map(|l| l.split_whitespace().nth(1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    // A lease follows the subnet: renewing again, once the subnet's change is
                    // undone (fixes are rolled back in the order they were applied), gives
                    // back what the node had.
                    undo: vec![renew],
                    records,
                })
            }
            FixSpec::PortAllowedAddress { ports, address, .. } => {
                let (mut done, mut already, mut undo) = (Vec::new(), Vec::new(), Vec::new());
                for id in ports.split_whitespace() {
                    let show = format!("openstack port show {} -f json", shell_quote(id));
                    let pairs =
                        |out: &str| listed(out, "allowed_address_pairs", Some("ip_address"));
                    let before = self.run(p, &show, false, "check", &mut records).await?;
                    let Some(old) = pairs(&before.stdout.text) else {
                        return Ok(Applied {
                            undo,
                            ..failed(
                                format!("cannot read port {id}: {}", before.stderr.text.trim()),
                                records,
                            )
                        });
                    };
                    if old.iter().any(|a| a == address) {
                        already.push(id.to_string());
                        continue;
                    }
                    let set = format!(
                        "openstack port set {} --allowed-address ip-address={}",
                        shell_quote(id),
                        shell_quote(address)
                    );
                    let ev = self.run(p, &set, false, "apply", &mut records).await?;
                    let after = self
                        .run(p, &show, false, "check-after", &mut records)
                        .await?;
                    if ev.outcome.is_success() {
                        // Neutron stores a pair with the port's MAC when none is given, and the
                        // client unsets only a pair given whole (python-openstackclient 5.2:
                        // "Port does not contain allowed-address-pair"): the undo names both.
                        let mac = pair_mac(&after.stdout.text, address)
                            .map(|m| format!(",mac-address={m}"))
                            .unwrap_or_default();
                        undo.push(format!(
                            "openstack port unset {} --allowed-address {}",
                            shell_quote(id),
                            shell_quote(&format!("ip-address={address}{mac}"))
                        ));
                    }
                    if !ev.outcome.is_success()
                        || !pairs(&after.stdout.text).is_some_and(|a| a.contains(address))
                    {
                        return Ok(Applied {
                            undo,
                            ..failed(
                                format!(
                                    "port {id} does not pass {address} after setting it: {}",
                                    ev.stderr.text.trim()
                                ),
                                records,
                            )
                        });
                    }
                    done.push(id.to_string());
                }
                if done.is_empty() {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!("port(s) {} already pass {address}", already.join(", ")),
                        undo,
                        records,
                    });
                }
                Ok(Applied {
                    stage: "applied".into(),
                    summary: format!(
                        "allowed address pair {address} on port(s) {}",
                        done.join(", ")
                    ),
                    undo,
                    records,
                })
            }
        }
    }

    /// Undo an applied fix.
    pub async fn rollback(&self, p: &Planned, undo: &[String]) -> Result<(bool, Vec<u64>)> {
        let sudo = matches!(
            p.spec,
            FixSpec::Sysctl { .. }
                | FixSpec::Nft { .. }
                | FixSpec::CalicoPatch { .. }
                | FixSpec::DhcpRenew { .. }
        );
        let mut records = Vec::new();
        let mut ok = true;
        for cmd in undo {
            let ev = self.run(p, cmd, sudo, "rollback", &mut records).await?;
            ok &= ev.outcome.is_success();
        }
        Ok((ok, records))
    }
}

/// The strings of one list field of a `show -f json` output (each item, or each item's `inner`
/// field); None when the output is not that JSON.
fn listed(out: &str, field: &str, inner: Option<&str>) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(out).ok()?;
    Some(
        v[field]
            .as_array()?
            .iter()
            .filter_map(|x| inner.map_or(x, |k| &x[k]).as_str().map(String::from))
            .collect(),
    )
}

/// The MAC address of a port's allowed address pair for `address` (`port show -f json`).
fn pair_mac(out: &str, address: &str) -> Option<String> {
    let v: Value = serde_json::from_str(out).ok()?;
    v["allowed_address_pairs"]
        .as_array()?
        .iter()
        .find(|p| p["ip_address"] == address)?["mac_address"]
        .as_str()
        .map(String::from)
}

fn failed(summary: String, records: Vec<u64>) -> Applied {
    Applied {
        stage: "failed".into(),
        summary,
        undo: vec![],
        records,
    }
}

/// `cat /proc/...; echo ---; cat FILE`: (runtime value, file content).
fn split_check(out: &str) -> (String, String) {
    let (a, b) = out.split_once("---\n").unwrap_or((out, ""));
    (a.trim().to_string(), b.to_string())
}

/// What a security-group rule lets in, in words (ja, en): `tcp/179`, or a whole IP protocol.
fn sg_what(protocol: &str, port: Option<u16>) -> (String, String) {
    match port {
        Some(p) => (format!("{protocol}/{p}"), format!("{protocol}/{p}")),
        None => (
            format!("IP プロトコル {protocol}"),
            format!("IP protocol {protocol}"),
        ),
    }
}

/// The calicoctl command that patches one resource.
fn calico_command(resource: &str, name: &str, patch: &str) -> String {
    format!(
        "calicoctl patch {resource} {name} --patch {}",
        shell_quote(patch)
    )
}

/// How a report names a Calico resource (ja, en).
fn calico_label(resource: &str, name: &str) -> (String, String) {
    match resource {
        "felixconfiguration" => (
            "Calico の Felix 設定".into(),
            "Calico's Felix configuration".into(),
        ),
        "ippool" => (
            format!("Calico の IP プール {name} "),
            format!("Calico's IP pool {name}"),
        ),
        _ => (
            format!("Calico の {resource} {name} "),
            format!("Calico's {resource} {name}"),
        ),
    }
}

/// A value as JSON: a number or a boolean when it reads as one.
fn calico_value(value: &str) -> Value {
    if let Ok(n) = value.parse::<i64>() {
        return Value::from(n);
    }
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::from(value),
    }
}

/// `{"spec":{FIELD:VALUE}}`; null removes the field.
fn calico_patch(field: &str, value: &Value) -> String {
    serde_json::json!({ "spec": { field: value } }).to_string()
}

/// An nftables fix: the chain (`FAMILY TABLE CHAIN`), its rules, the file that keeps them.
struct NftFix<'a> {
    family: &'a str,
    table: &'a str,
    chain: &'a str,
    rules: &'a [String],
    file: &'a str,
    create: Option<&'a str>,
}

const NFT_CONF: &str = "/etc/nftables.conf";

impl<'a> NftFix<'a> {
    fn new(chain: &'a str, rules: &'a [String], file: &'a str, create: Option<&'a str>) -> Self {
        let mut it = chain.split_whitespace();
        NftFix {
            family: it.next().unwrap_or(""),
            table: it.next().unwrap_or(""),
            chain: it.next().unwrap_or(""),
            rules,
            file,
            create,
        }
    }

    fn where_(&self) -> String {
        format!("{} {} {}", self.family, self.table, self.chain)
    }

    fn include(&self) -> String {
        format!("include \"{}\"", self.file)
    }

    /// What the file holds: the table whole when the fix makes its own, else `add rule` lines
    /// for a chain that the configuration before the include defines.
    fn file_text(&self) -> String {
        match self.create {
            Some(spec) => {
                let mut t = format!(
                    "table {} {} {{\n  chain {} {{\n    {spec}\n",
                    self.family, self.table, self.chain
                );
                for r in self.rules {
                    t.push_str(&format!("    {r}\n"));
                }
                t.push_str("  }\n}\n");
                t
            }
            None => self
                .rules
                .iter()
                .map(|r| format!("add rule {} {r}\n", self.where_()))
                .collect(),
        }
    }

    /// The commands as an operator types them (the answer shows these; replay runs them).
    fn preview(&self) -> Vec<String> {
        let w = self.where_();
        let mut c = Vec::new();
        if let Some(spec) = self.create {
            c.push(format!("sudo nft add table {} {}", self.family, self.table));
            c.push(format!(
                "sudo nft {}",
                shell_quote(&format!("add chain {w} {{ {spec} }}"))
            ));
        }
        for r in self.rules {
            c.push(format!("sudo nft add rule {w} {}", shell_quote(r)));
        }
        let lines: Vec<String> = self.file_text().lines().map(shell_quote).collect();
        c.push(format!(
            "sudo mkdir -p {} && printf '%s\\n' {} | sudo tee {} > /dev/null",
            shell_quote(
                std::path::Path::new(self.file)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into())
                    .as_str()
            ),
            lines.join(" "),
            shell_quote(self.file)
        ));
        c.push(format!(
            "grep -qxF {inc} {NFT_CONF} 2>/dev/null || echo {inc} | sudo tee -a {NFT_CONF} > /dev/null",
            inc = shell_quote(&self.include())
        ));
        c
    }

    /// Read the chain (with handles), the file and the include, in one go.
    fn check(&self) -> String {
        format!(
            "nft -a list chain {} 2>&1; echo '### file'; cat {} 2>/dev/null; echo '### conf'; grep -xF {} {NFT_CONF} 2>/dev/null; true",
            self.where_(),
            shell_quote(self.file),
            shell_quote(&self.include())
        )
    }

    /// One script that adds what is missing, writes the file and the include.
    fn apply(&self, state: &NftState, missing: &[&String]) -> String {
        let w = self.where_();
        let mut s = vec!["set -e".to_string()];
        if !state.chain_exists {
            if let Some(spec) = self.create {
                s.push(format!("nft add table {} {}", self.family, self.table));
                s.push(format!(
                    "nft {}",
                    shell_quote(&format!("add chain {w} {{ {spec} }}"))
                ));
            }
        }
        for r in missing {
            s.push(format!("nft add rule {w} {}", shell_quote(r)));
        }
        if let Some(dir) = std::path::Path::new(self.file).parent() {
            s.push(format!("mkdir -p {}", shell_quote(&dir.to_string_lossy())));
        }
        s.push(format!(
            "printf '%s' {} > {}",
            shell_quote(&self.file_text()),
            shell_quote(self.file)
        ));
        s.push(format!(
            "grep -qxF {inc} {NFT_CONF} 2>/dev/null || printf '%s\\n' {inc} >> {NFT_CONF}",
            inc = shell_quote(&self.include())
        ));
        s.join("\n")
    }

    /// What undoes it: the rules added (by handle) or the table made, the file, the include.
    fn undo(&self, before: &NftState, after: &NftState) -> Vec<String> {
        let w = self.where_();
        let mut u = Vec::new();
        if !before.chain_exists && self.create.is_some() {
            u.push(format!("nft delete table {} {}", self.family, self.table));
        } else {
            for (rule, handle) in &after.rules {
                if self.rules.iter().any(|r| r == rule) && !before.has_rule(rule) {
                    u.push(format!("nft delete rule {w} handle {handle}"));
                }
            }
        }
        if before.file.is_empty() {
            u.push(format!("rm -f {}", shell_quote(self.file)));
        } else {
            u.push(format!(
                "printf '%s' {} > {}",
                shell_quote(&before.file),
                shell_quote(self.file)
            ));
        }
        if !before.included {
            u.push(format!(
                "grep -vxF {} {NFT_CONF} > {NFT_CONF}.pm-undo; cat {NFT_CONF}.pm-undo > {NFT_CONF}; rm -f {NFT_CONF}.pm-undo",
                shell_quote(&self.include())
            ));
        }
        u
    }
}

/// What `NftFix::check` saw.
#[derive(Debug, Default)]
struct NftState {
    chain_exists: bool,
    /// The chain's rules as `nft -a list` prints them, with their handles.
    rules: Vec<(String, u64)>,
    file: String,
    included: bool,
}

impl NftState {
    fn read(out: &str) -> Self {
        let (chain, rest) = out.split_once("### file\n").unwrap_or((out, ""));
        let (file, conf) = rest.split_once("### conf\n").unwrap_or((rest, ""));
        let mut st = NftState {
            chain_exists: chain
                .lines()
                .any(|l| l.trim_start().starts_with("chain ") && l.contains('{')),
            file: file.to_string(),
            included: !conf.trim().is_empty(),
            ..Default::default()
        };
        for line in chain.lines() {
            let l = line.trim();
            if let Some((rule, h)) = l.rsplit_once(" # handle ") {
                if l.starts_with("chain ") || l.starts_with("table ") || l.starts_with("type ") {
                    continue;
                }
                if let Ok(h) = h.trim().parse() {
                    st.rules.push((rule.trim().to_string(), h));
                }
            }
        }
        st
    }

    fn has_rule(&self, rule: &str) -> bool {
        self.rules.iter().any(|(r, _)| r == rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pair's MAC as python-openstackclient 5.2.0 shows it after `port set --allowed-address
    /// ip-address=…` without one (Neutron fills in the port's): what the undo must name, since
    /// `port unset` with the address alone says "Port does not contain allowed-address-pair"
    /// (tests/samples/osc-5.2/23b).
    #[test]
    fn the_undo_of_a_pair_names_the_mac_neutron_stored() {
        let shown = include_str!("../tests/samples/osc-5.2/15c-port-show-after-set-json.txt");
        let out = shown
            .split("--- stdout ---\n")
            .nth(1)
            .unwrap()
            .split("--- stderr")
            .next()
            .unwrap();
        assert_eq!(
            pair_mac(out, "10.244.0.0/16").as_deref(),
            Some("fa:16:3e:5c:2a:91")
        );
        assert_eq!(pair_mac(out, "10.0.0.0/8"), None);
        assert_eq!(pair_mac("not json", "10.244.0.0/16"), None);
    }

    /// `nft -a list chain inet filter forward` as nftables 1.0.6 prints it, then the file and
    /// the include as `NftFix::check` prints them.
    const LISTED: &str = "table inet filter {\n\tchain forward { # handle 1\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tiifname \"br-int\" oifname \"br-int\" accept # handle 2\n\t\tip saddr 10.20.20.0/24 accept # handle 3\n\t}\n}\n### file\n### conf\n";

    fn forward() -> (String, Vec<String>) {
        (
            "inet filter forward".into(),
            vec![
                "ip saddr 10.20.20.0/24 accept".into(),
                "ip daddr 10.20.20.0/24 ct state established,related accept".into(),
            ],
        )
    }

    #[test]
    fn the_state_is_read_from_nfts_own_listing() {
        let st = NftState::read(LISTED);
        assert!(st.chain_exists);
        assert!(st.has_rule("ip saddr 10.20.20.0/24 accept"));
        assert!(!st.has_rule("ip daddr 10.20.20.0/24 ct state established,related accept"));
        assert_eq!(st.rules.len(), 2);
        assert!(!st.included && st.file.is_empty());
        let none = NftState::read("Error: No such file or directory\nlist chain ip nope postrouting\n### file\n### conf\n");
        assert!(!none.chain_exists);
    }

    #[test]
    fn only_the_missing_rule_is_added_and_only_it_is_undone() {
        let (chain, rules) = forward();
        let f = NftFix::new(&chain, &rules, "/etc/nftables.d/90-x.nft", None);
        let before = NftState::read(LISTED);
        let missing: Vec<&String> = rules.iter().filter(|r| !before.has_rule(r)).collect();
        assert_eq!(missing.len(), 1);
        let script = f.apply(&before, &missing);
        assert_eq!(script.matches("nft add rule").count(), 1);
        assert!(script.contains("established,related"));
        assert_eq!(
            f.file_text(),
            "add rule inet filter forward ip saddr 10.20.20.0/24 accept\nadd rule inet filter forward ip daddr 10.20.20.0/24 ct state established,related accept\n"
        );
        let after = NftState::read(&LISTED.replace(
            "accept # handle 3\n",
            "accept # handle 3\n\t\tip daddr 10.20.20.0/24 ct state established,related accept # handle 7\n",
        ));
        let undo = f.undo(&before, &after);
        assert_eq!(
            undo[0], "nft delete rule inet filter forward handle 7",
            "{undo:?}"
        );
        assert!(
            undo.iter().all(|u| !u.contains("handle 3")),
            "a rule that was there stays"
        );
        assert!(undo.iter().any(|u| u.starts_with("rm -f")));
        assert!(undo.iter().any(|u| u.contains("grep -vxF")));
    }

    #[test]
    fn a_table_of_its_own_is_made_whole_and_deleted_whole() {
        let rules = vec!["ip saddr 10.20.20.0/24 ip daddr != 10.20.20.0/24 masquerade".to_string()];
        let spec = "type nat hook postrouting priority srcnat; policy accept;";
        let f = NftFix::new(
            "ip postmortem-nat postrouting",
            &rules,
            "/etc/nftables.d/90-nat.nft",
            Some(spec),
        );
        assert_eq!(
            f.file_text(),
            "table ip postmortem-nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr 10.20.20.0/24 ip daddr != 10.20.20.0/24 masquerade\n  }\n}\n"
        );
        let preview = f.preview();
        assert_eq!(preview[0], "sudo nft add table ip postmortem-nat");
        assert!(preview[1].starts_with("sudo nft 'add chain ip postmortem-nat postrouting {"));
        assert!(preview
            .last()
            .unwrap()
            .contains("include \"/etc/nftables.d/90-nat.nft\""));
        let none = NftState::default();
        assert_eq!(
            f.undo(&none, &none)[0],
            "nft delete table ip postmortem-nat"
        );
    }
}
