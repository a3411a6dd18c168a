//! Typed fixes: each has a preview (the exact commands), an apply that is idempotent (an
//! equivalent change already in place is reused), a check right after, an inverse for rollback,
//! and its security delta. Every command is evidence in the journal.

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
        FixSpec::Sysctl { key, value, file, reason, .. } => Planned {
            cause: cause.into(),
            spec: spec.clone(),
            host: host.clone(),
            target: format!("{host} {key}"),
            commands: vec![
                format!("sudo sysctl -w {key}={value}"),
                format!("echo '{key} = {value}' | sudo tee {file}"),
                format!("sudo sysctl -p {file}"),
            ],
            delta: delta(reason, &format!("{key}: → {value} ({file})"), &format!("{key}: → {value} ({file})")),
        },
        FixSpec::SgRule { group, remote_group, protocol, port, reason, .. } => Planned {
            cause: cause.into(),
            spec: spec.clone(),
            host: host.clone(),
            target: format!("security group {group}"),
            commands: vec![format!(
                "openstack security group rule create --ingress --protocol {protocol} --dst-port {port}:{port} --remote-group {remote_group} {group}"
            )],
            delta: delta(
                reason,
                &format!("セキュリティグループ {group} の受信ルールを追加: {protocol}/{port}、送信元はセキュリティグループ {remote_group}"),
                &format!("ingress rule added to security group {group}: {protocol}/{port} from security group {remote_group}"),
            ),
        },
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
            FixSpec::SgRule { .. } => "sg_rule",
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
                let apply = format!(
                    "sysctl -w {key}={value} && printf '%s\\n' {} > {} && sysctl -p {}",
                    shell_quote(&line),
                    shell_quote(file),
                    shell_quote(file)
                );
                let ev = self.run(p, &apply, true, "apply", &mut records).await?;
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
                let range = format!("{port}:{port}");
                if let Some(r) = rules.iter().find(|r| {
                    r["Direction"] == "ingress"
                        && r["Port Range"] == range.as_str()
                        && r["Remote Security Group"] == remote_id
                }) {
                    return Ok(Applied {
                        stage: "already".into(),
                        summary: format!("rule {} already lets {protocol}/{port} into {group} from {remote_group}", r["ID"].as_str().unwrap_or("")),
                        undo: vec![],
                        records,
                    });
                }
                let create = format!(
                    "openstack security group rule create --ingress --protocol {} --dst-port {range} --remote-group {} {} -f json",
                    shell_quote(protocol),
                    shell_quote(remote_group),
                    shell_quote(group)
                );
                let ev = self.run(p, &create, false, "apply", &mut records).await?;
                let id = serde_json::from_str::<Value>(&ev.stdout.text)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(String::from));
                match id {
                    Some(id) if ev.outcome.is_success() => Ok(Applied {
                        stage: "applied".into(),
                        summary: format!(
                            "rule {id}: {protocol}/{port} into {group} from {remote_group}"
                        ),
                        undo: vec![format!("openstack security group rule delete {id}")],
                        records,
                    }),
                    _ => Ok(failed(
                        format!("creating the rule failed: {}", ev.stderr.text.trim()),
                        records,
                    )),
                }
            }
        }
    }

    /// Undo an applied fix.
    pub async fn rollback(&self, p: &Planned, undo: &[String]) -> Result<(bool, Vec<u64>)> {
        let sudo = matches!(p.spec, FixSpec::Sysctl { .. });
        let mut records = Vec::new();
        let mut ok = true;
        for cmd in undo {
            let ev = self.run(p, cmd, sudo, "rollback", &mut records).await?;
            ok &= ev.outcome.is_success();
        }
        Ok((ok, records))
    }
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
