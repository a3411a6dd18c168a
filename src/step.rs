//! Steps: what the task itself prescribes to reach its end state (start the VMs that are
//! SHUTOFF, run the deployment, set up kubectl for ubuntu). A step is typed (an action, a
//! precondition over the round's observations, its evidence), is run only with --apply, at most
//! once per run, and is never a cause: the report lists it as a step of the solution with the
//! task's own words as its reason. What it cannot prove: that a command it ran did only what the
//! task says; its evidence (every command, verbatim) is what the report shows.

use crate::diagnose::{self, Diagnosis, Observation};
use crate::journal::redact::Redactor;
use crate::journal::{Body, Entry, Evidence, Journal, StepRecord};
use crate::probe::parse;
use crate::scenario::{Scenario, Step, StepAction};
use crate::transport::shell_quote;
use crate::transport::ssh::{SshOptions, SshPool};
use anyhow::Result;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A step ready to run: where, and the commands as the operator types them.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub step: Step,
    pub host: String,
    pub commands: Vec<String>,
    /// The servers a `server_start` step starts.
    pub servers: Vec<String>,
}

/// The nodes of the inventory read by the latest collection up to `until`.
pub fn nodes(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            Body::Evidence(ev) if ev.probe.as_deref() == Some("inventory") => {
                parse::inventory(&ev.stdout.text).ok()
            }
            _ => None,
        })
        .map(|h| h.into_iter().map(|h| h.name).collect())
        .unwrap_or_default()
}

/// The steps whose preconditions hold on `d`, that have not run in this run, and that no claimed
/// cause of their phase (or an earlier one) still blocks.
pub fn eligible<'a>(sc: &'a Scenario, d: &Diagnosis, done: &[String]) -> Vec<&'a Step> {
    let blocked = |phase: u32| d.causes.iter().any(|c| c.phase <= phase);
    sc.steps
        .iter()
        .filter(|t| !done.contains(&t.id) && !blocked(t.phase))
        .filter(|t| {
            t.when.iter().all(|c| {
                let of = |p: &str| -> Vec<&Observation> {
                    d.observations.iter().filter(|o| o.probe == p).collect()
                };
                diagnose::verdict(c, &of) == Some(true)
            })
        })
        .collect()
}

/// What a step will run, and where.
pub fn plan(sc: &Scenario, t: &Step, d: &Diagnosis, nodes: &[String]) -> PlannedStep {
    let hv = sc.hosts.hypervisor.clone();
    match &t.action {
        StepAction::ServerStart { probe } => {
            let stopped = stopped_servers(d, probe);
            PlannedStep {
                step: t.clone(),
                host: hv,
                commands: stopped
                    .iter()
                    .map(|n| format!("openstack server start {}", shell_quote(n)))
                    .collect(),
                servers: stopped,
            }
        }
        StepAction::Command { on, command, .. } => PlannedStep {
            step: t.clone(),
            host: if on == "kubectl" {
                kubectl_host(sc, nodes).unwrap_or(hv)
            } else {
                hv
            },
            commands: command.lines().map(String::from).collect(),
            servers: vec![],
        },
    }
}

fn kubectl_host(sc: &Scenario, nodes: &[String]) -> Option<String> {
    match sc.hosts.kubectl.as_str() {
        "first-node" => nodes.first().cloned(),
        h => Some(h.to_string()),
    }
}

fn stopped_servers(d: &Diagnosis, probe: &str) -> Vec<String> {
    d.observations
        .iter()
        .filter(|o| o.probe == probe)
        .filter_map(|o| o.value.as_ref().ok()?.get("stopped")?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

pub fn record(
    journal: &Journal,
    p: &PlannedStep,
    stage: &str,
    summary: &str,
    records: Vec<u64>,
) -> Result<u64> {
    let e = journal.append(
        &crate::journal::now(),
        &Body::Step(StepRecord {
            id: p.step.id.clone(),
            phase: p.step.phase,
            stage: stage.into(),
            summary: summary.into(),
            commands: p.commands.clone(),
            reason: p.step.reason.clone(),
            records,
        }),
    )?;
    Ok(e.seq)
}

/// Runs steps; every command is evidence tagged `step:<id>`.
pub struct StepRunner<'a> {
    pub opts: &'a SshOptions,
    pub journal: &'a Journal,
    pub red: &'a Redactor,
}

impl StepRunner<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        pool: &SshPool,
        p: &PlannedStep,
        host: &str,
        cmd: &str,
        tag: &str,
        timeout: Duration,
        records: &mut Vec<u64>,
        watch: &(dyn Fn(&[u8]) + Send + Sync),
    ) -> Result<Evidence> {
        let mut ev = pool
            .run_watched(host, cmd, 16 << 20, Some(timeout), false, self.red, watch)
            .await;
        ev.probe = Some(format!("step:{}", p.step.id));
        ev.step = Some(tag.to_string());
        let e = self
            .journal
            .append(&crate::journal::now(), &Body::Evidence(ev.clone()))?;
        records.push(e.seq);
        Ok(ev)
    }

    /// Run a planned step: (stage applied|failed, summary, evidence records).
    pub async fn apply(
        &self,
        p: &PlannedStep,
        nodes: &[String],
    ) -> Result<(String, String, Vec<u64>)> {
        let pool = SshPool::new(self.opts.clone());
        let mut records = Vec::new();
        let out = match &p.step.action {
            StepAction::ServerStart { .. } => {
                self.start_servers(&pool, p, nodes, &mut records).await?
            }
            StepAction::Command {
                command,
                timeout,
                progress,
                ..
            } => {
                let bar = progress_bar(&p.step.id);
                let last = Mutex::new(String::new());
                let watch = |data: &[u8]| {
                    if progress.as_deref() != Some("ansible") {
                        return;
                    }
                    let mut buf = last.lock().unwrap();
                    buf.push_str(&String::from_utf8_lossy(data));
                    if let Some(i) = buf.rfind("TASK [") {
                        let task: String = buf[i + 6..].split(']').next().unwrap_or("").to_string();
                        if buf[i..].contains(']') {
                            bar.set_message(task);
                        }
                    }
                    let keep = buf.len().saturating_sub(4096);
                    buf.drain(..keep);
                };
                let timeout = Duration::from_secs(timeout.unwrap_or(3600));
                let ev = self
                    .run(
                        &pool,
                        p,
                        &p.host,
                        command,
                        "run",
                        timeout,
                        &mut records,
                        &watch,
                    )
                    .await?;
                bar.finish_and_clear();
                if ev.outcome.is_success() {
                    (
                        "applied".into(),
                        format!("{} on {}: exit 0", p.step.id, p.host),
                    )
                } else {
                    let why = match &ev.outcome {
                        crate::journal::Outcome::Failed { message } => message.clone(),
                        o => format!("{o:?}"),
                    };
                    (
                        "failed".into(),
                        format!("{} on {}: {why}", p.step.id, p.host),
                    )
                }
            }
        };
        pool.close().await;
        Ok((out.0, out.1, records))
    }

    /// `openstack server start` each stopped server, then wait until every one is ACTIVE and
    /// every node answers SSH (the last check of each is evidence).
    async fn start_servers(
        &self,
        pool: &SshPool,
        p: &PlannedStep,
        nodes: &[String],
        records: &mut Vec<u64>,
    ) -> Result<(String, String)> {
        let t = Duration::from_secs(120);
        let names = &p.servers;
        for cmd in &p.commands {
            let ev = self
                .run(pool, p, &p.host, cmd, "start", t, records, &|_| {})
                .await?;
            if !ev.outcome.is_success() {
                return Ok(("failed".into(), format!("{cmd}: {}", ev.stderr.text.trim())));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let mut ev = pool
                .run(
                    &p.host,
                    "openstack server list -f json",
                    1 << 20,
                    Some(t),
                    false,
                    self.red,
                )
                .await;
            let listed: Vec<Value> = serde_json::from_str(&ev.stdout.text).unwrap_or_default();
            let active = |n: &String| {
                listed.iter().any(|s| {
                    s["Name"].as_str().map(shell_quote).as_deref() == Some(n.as_str())
                        && s["Status"] == "ACTIVE"
                })
            };
            if names.iter().all(active) || Instant::now() > deadline {
                ev.probe = Some(format!("step:{}", p.step.id));
                ev.step = Some("wait-active".into());
                let e = self
                    .journal
                    .append(&crate::journal::now(), &Body::Evidence(ev))?;
                records.push(e.seq);
                if !names.iter().all(active) {
                    return Ok((
                        "failed".into(),
                        format!("not ACTIVE after 600 s: {}", names.join(", ")),
                    ));
                }
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // A guest is ACTIVE before its sshd answers: wait for every node, each on a fresh connection.
        for node in nodes {
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let fresh = SshPool::new(self.opts.clone());
                let mut ev = fresh
                    .run(
                        node,
                        "true",
                        1024,
                        Some(Duration::from_secs(10)),
                        false,
                        self.red,
                    )
                    .await;
                fresh.close().await;
                if ev.outcome.is_success() || Instant::now() > deadline {
                    ev.probe = Some(format!("step:{}", p.step.id));
                    ev.step = Some("ssh-ready".into());
                    let ok = ev.outcome.is_success();
                    let e = self
                        .journal
                        .append(&crate::journal::now(), &Body::Evidence(ev))?;
                    records.push(e.seq);
                    if !ok {
                        return Ok((
                            "failed".into(),
                            format!("{node} does not answer SSH after 300 s"),
                        ));
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Ok((
            "applied".into(),
            format!(
                "started {}; ACTIVE, and every node answers SSH",
                names.join(", ")
            ),
        ))
    }
}

fn progress_bar(id: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} step {prefix} {elapsed}: {msg}")
            .expect("a valid template"),
    );
    pb.set_prefix(id.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
