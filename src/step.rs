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
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a person types to see whether the servers started: each name and status, one a line.
/// The run repeats it until every server it started is ACTIVE, and so does a replay.
pub const SERVER_LIST: &str = "openstack server list -c Name -c Status -f value";

/// (name, status) of each line of `SERVER_LIST` (`NAME STATUS`), or of each row of the same
/// columns as a table.
pub fn server_statuses(table: &str) -> Vec<(String, String)> {
    table
        .lines()
        .filter_map(|l| {
            if let [name, status] = l.split_whitespace().collect::<Vec<_>>().as_slice() {
                if !name.starts_with(['|', '+']) {
                    return Some((name.to_string(), status.to_string()));
                }
            }
            let cells: Vec<&str> = l
                .trim()
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [name, status] if *name != "Name" => Some((name.to_string(), status.to_string())),
                _ => None,
            }
        })
        .collect()
}

/// A step ready to run: where, and the commands as the operator types them.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub step: Step,
    pub host: String,
    pub commands: Vec<String>,
    /// The servers a `server_start` step starts.
    pub servers: Vec<String>,
    /// (hypervisor, command): how the operator reaches `host` first, when the scenario says.
    pub login: Option<(String, String)>,
}

/// The scenario's login command for `host`, from the inventory's address of it.
pub fn login(sc: &Scenario, entries: &[Entry], host: &str) -> Option<(String, String)> {
    let hv = &sc.hosts.hypervisor;
    let tmpl = sc.hosts.login.as_deref().filter(|_| host != hv)?;
    let hosts = inventory(entries)?;
    Some((hv.clone(), login_command(sc, tmpl, &hosts, host)?))
}

/// The login template filled for `host` from the inventory (its `ansible_host`, else its `ip`).
pub fn login_command(
    sc: &Scenario,
    tmpl: &str,
    hosts: &[parse::InventoryHost],
    host: &str,
) -> Option<String> {
    let h = hosts.iter().find(|h| h.name == host)?;
    let addr = h.ansible_host.clone().or_else(|| h.ip.clone())?;
    let user = sc
        .hosts
        .users
        .get("nodes")
        .cloned()
        .unwrap_or_else(|| "ubuntu".into());
    Some(tmpl.replace("{user}", &user).replace("{address}", &addr))
}

/// The hosts of the inventory read by the latest collection.
fn inventory(entries: &[Entry]) -> Option<Vec<parse::InventoryHost>> {
    entries.iter().rev().find_map(|e| match &e.body {
        Body::Evidence(ev) if ev.probe.as_deref() == Some("inventory") => {
            parse::inventory(&ev.stdout.text).ok()
        }
        _ => None,
    })
}

/// The nodes of the inventory read by the latest collection.
pub fn nodes(entries: &[Entry]) -> Vec<String> {
    inventory(entries)
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
                login: None,
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
            login: None,
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
                // Reached as the task reaches it: logged in from the hypervisor (and out).
                if let Some((hv, login)) = &p.login {
                    self.run(
                        &pool,
                        p,
                        hv,
                        login,
                        "login",
                        Duration::from_secs(60),
                        &mut records,
                        &|_| {},
                    )
                    .await?;
                }
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
        // A server someone started since the probe listed it: Nova refuses (409), nothing to do.
        let mut running = Vec::new();
        for (cmd, name) in p.commands.iter().zip(names) {
            let ev = self
                .run(pool, p, &p.host, cmd, "start", t, records, &|_| {})
                .await?;
            if crate::probe::osc_table::start_refused_running(&ev.stderr.text) {
                running.push(name.clone());
            } else if !ev.outcome.is_success() {
                return Ok(("failed".into(), format!("{cmd}: {}", ev.stderr.text.trim())));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let mut ev = pool
                .run(&p.host, SERVER_LIST, 1 << 20, Some(t), false, self.red)
                .await;
            let listed = server_statuses(&ev.stdout.text);
            let active = |n: &String| {
                listed
                    .iter()
                    .any(|(name, st)| shell_quote(name) == *n && st == "ACTIVE")
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
        let started: Vec<&str> = names
            .iter()
            .filter(|n| !running.contains(n))
            .map(String::as_str)
            .collect();
        let mut summary = format!(
            "started {}; ACTIVE, and every node answers SSH",
            started.join(", ")
        );
        if !running.is_empty() {
            summary.push_str(&format!(
                " ({} already running: Nova refused to start it, 409)",
                running.join(", ")
            ));
        }
        Ok(("applied".into(), summary))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_statuses_are_read_from_the_value_form_and_the_table() {
        let value = "ictsc-master ACTIVE\nictsc-worker BUILD\n";
        assert_eq!(
            server_statuses(value),
            vec![
                ("ictsc-master".to_string(), "ACTIVE".to_string()),
                ("ictsc-worker".to_string(), "BUILD".to_string())
            ]
        );
        let table = "+--------------+---------+\n| Name         | Status  |\n+--------------+---------+\n| ictsc-master | SHUTOFF |\n+--------------+---------+\n";
        assert_eq!(
            server_statuses(table),
            vec![("ictsc-master".to_string(), "SHUTOFF".to_string())]
        );
        // An error is no server: a replay does not take it for every server ACTIVE.
        assert!(
            server_statuses("Missing value auth-url required for auth plugin password\n")
                .is_empty()
        );
    }

    #[test]
    fn a_node_is_reached_as_the_scenario_says_at_its_inventory_address() {
        let src = std::fs::read_to_string("scenarios/ictsc2021-cloud-native.toml").unwrap();
        let sc: Scenario = toml::from_str(&src).unwrap();
        let inv = "all:\n  hosts:\n    node1:\n      ansible_host: 10.20.20.235\n      ip: 192.168.222.10\n  children: {}\n";
        let ev = Evidence {
            host: "server01".into(),
            address: None,
            host_key: None,
            user: None,
            command: "cat inventory".into(),
            cwd: None,
            session: None,
            probe: Some("inventory".into()),
            step: None,
            started_at: String::new(),
            ended_at: String::new(),
            duration_ms: 0,
            outcome: crate::journal::Outcome::Exited { code: 0 },
            stdout: crate::journal::Stream {
                text: inv.into(),
                ..Default::default()
            },
            stderr: Default::default(),
        };
        let entries = vec![Entry {
            seq: 1,
            at: String::new(),
            hash: String::new(),
            prev: String::new(),
            body: Body::Evidence(ev),
        }];
        assert_eq!(
            login(&sc, &entries, "node1"),
            Some((
                "server01".to_string(),
                "ssh -i ~/.ssh/ictsc_rsa ubuntu@10.20.20.235".to_string()
            ))
        );
        // The hypervisor is where the operator is: no login to it.
        assert_eq!(login(&sc, &entries, "server01"), None);
        // A node the inventory does not name: no address, no login line.
        assert_eq!(login(&sc, &entries, "node9"), None);
    }
}
