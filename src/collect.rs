//! Collection: run a scenario's probes on its hosts over SSH, in parallel across hosts, and
//! append every command's evidence to the journal as it completes.
//!
//! What it cannot prove: that the hosts were in one state at one instant. Probes run in parallel,
//! and each record carries its own start and end time.

use crate::journal::redact::Redactor;
use crate::journal::{Body, Evidence, Journal, ScenarioRecord};
use crate::probe::parse;
use crate::scenario::{Probe, Scenario};
use crate::transport::shell_quote;
use crate::transport::ssh::{SshOptions, SshPool};
use anyhow::Result;
use futures::FutureExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const CAP: usize = 4 * 1024 * 1024;
const PROBE_POD_PREFIX: &str = "pm-probe-";
/// The pods of the task's patterns (`task_patterns`), by the task's own names.
const TASK_PODS: [&str; 3] = ["shell1", "myshell2", "myshell3"];

struct Ctx {
    pool: SshPool,
    journal: Journal,
    red: Redactor,
    /// The seq of this collection's scenario record.
    collection: u64,
    /// A spinner on a terminal (hidden otherwise): commands done, the last one.
    progress: indicatif::ProgressBar,
    /// Journal appends, in completion order; the first error stops nothing but is reported.
    error: Mutex<Option<String>>,
    /// Pods this collection made under the task's own names (the patterns' shell1): removed on
    /// Ctrl-C with the probe pods, since no prefix marks them as ours.
    made: Mutex<Vec<String>>,
}

impl Ctx {
    fn append(&self, mut ev: Evidence, probe: &str, step: Option<String>) -> Evidence {
        self.progress.inc(1);
        self.progress.set_message(format!("{probe} on {}", ev.host));
        ev.probe = Some(probe.to_string());
        ev.step = step;
        if let Err(e) = self
            .journal
            .append(&crate::journal::now(), &Body::Evidence(ev.clone()))
        {
            self.error.lock().unwrap().get_or_insert(format!("{e:#}"));
        }
        ev
    }

    async fn run(
        &self,
        host: &str,
        probe: &Probe,
        command: &str,
        step: Option<String>,
    ) -> Evidence {
        let ev = self.exec(host, probe, command, false).await;
        self.append(ev, &probe.id, step)
    }

    /// As `run`, for one of many commands a probe runs on one host at once: on more than one
    /// connection to it when one's sessions are all taken.
    async fn run_spread(
        &self,
        host: &str,
        probe: &Probe,
        command: &str,
        step: Option<String>,
    ) -> Evidence {
        let ev = self.exec(host, probe, command, true).await;
        self.append(ev, &probe.id, step)
    }

    /// A command's evidence, not yet in the journal (`append` puts it there); `spread` as in
    /// `run_spread`.
    async fn exec(&self, host: &str, probe: &Probe, command: &str, spread: bool) -> Evidence {
        let timeout = Some(Duration::from_secs(probe.timeout.unwrap_or(60)));
        let (pool, red) = (&self.pool, &self.red);
        if spread {
            pool.run_spread(host, command, CAP, timeout, probe.sudo, red)
                .await
        } else {
            pool.run(host, command, CAP, timeout, probe.sudo, red).await
        }
    }
}

fn spinner(id: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} collect {prefix}: {pos} commands, {elapsed}; last: {msg}",
        )
        .expect("a valid template"),
    );
    pb.set_prefix(id.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Seconds a login to a node may take (a VM that is off does not answer; its login then times
/// out, as evidence, and the probes go on).
const LOGIN_TIMEOUT: u64 = 8;

/// What a collection did, for the user.
pub struct Collected {
    pub scenario_seq: u64,
    pub records: usize,
    pub nodes: Vec<String>,
}

/// Collect every probe of `scenario`. `target` is recorded with the scenario ("lab" or "ssh").
pub async fn collect(
    scenario: &Scenario,
    source: &str,
    target: &str,
    opts: SshOptions,
    journal: Journal,
    red: Redactor,
) -> Result<Collected> {
    let entry = journal.append(
        &crate::journal::now(),
        &Body::Scenario(ScenarioRecord {
            id: scenario.id.clone(),
            source: source.to_string(),
            target: target.to_string(),
        }),
    )?;
    let ctx = Arc::new(Ctx {
        pool: SshPool::new(opts),
        journal,
        red,
        collection: entry.seq,
        progress: spinner(&scenario.id),
        error: Mutex::new(None),
        made: Mutex::new(Vec::new()),
    });
    let hv = scenario.hosts.hypervisor.clone();

    // The nodes, from the kubespray inventory on the hypervisor (read only).
    let inv_probe = Probe {
        id: "inventory".into(),
        on: "hypervisor".into(),
        parser: "inventory".into(),
        command: None,
        key: None,
        sudo: false,
        timeout: Some(30),
        failing: None,
        not_yet: None,
        step: None,
        quote: None,
        show: Vec::new(),
        text: Default::default(),
    };
    let path = &scenario.hosts.inventory;
    let cat = match path.strip_prefix("~/") {
        Some(rest) => format!("cat \"$HOME\"/{}", shell_quote(rest)),
        None => format!("cat {}", shell_quote(path)),
    };
    let inv = ctx.run(&hv, &inv_probe, &cat, None).await;
    let inventory = parse::inventory(&inv.stdout.text).unwrap_or_default();
    let nodes: Vec<String> = inventory.iter().map(|h| h.name.clone()).collect();
    // Each node reached first as the operator reaches it (the scenario's login, from the
    // hypervisor; no input, so it logs in and out), all at once, before any probe on it: an
    // answer shows it before the first command on that node.
    if let Some(tmpl) = scenario.hosts.login.as_deref() {
        let login_probe = Probe {
            id: "login".into(),
            timeout: Some(LOGIN_TIMEOUT),
            ..inv_probe.clone()
        };
        let logins = nodes.iter().filter_map(|n| {
            let cmd = crate::step::login_command(scenario, tmpl, &inventory, n)?;
            let (ctx, hv, p) = (ctx.clone(), hv.clone(), login_probe.clone());
            Some(async move { ctx.run(&hv, &p, &cmd, Some("login".into())).await })
        });
        futures::future::join_all(logins).await;
    }
    let kubectl_host = match scenario.hosts.kubectl.as_str() {
        "first-node" => nodes.first().cloned(),
        h => Some(h.to_string()),
    };

    let mut tasks = Vec::new();
    // Pod egress is measured from the ping matrix's probe pods.
    let egress = scenario
        .probes
        .iter()
        .find(|p| p.parser == "pod_egress")
        .cloned();
    for probe in scenario
        .probes
        .iter()
        .filter(|p| p.step.is_none() && p.parser != "pod_egress")
    {
        let hosts: Vec<String> = match probe.on.as_str() {
            "hypervisor" => vec![hv.clone()],
            "nodes" => nodes.clone(),
            _ => kubectl_host.iter().cloned().collect(),
        };
        for host in hosts {
            let (ctx, probe, egress) = (ctx.clone(), probe.clone(), egress.clone());
            let nodes = nodes.clone();
            tasks.push(tokio::spawn(async move {
                if probe.parser == "ping_matrix" {
                    ping_matrix(&ctx, &host, &probe, egress).await;
                } else if probe.parser == "task_patterns" {
                    task_patterns(&ctx, &host, &probe, &nodes).await;
                } else {
                    // What a person types (`show`) runs beside the probe's command, the shows
                    // one after another in their order: a probe whose command waits on a
                    // timeout (apt) does not wait twice.
                    let cmd = probe.command.clone().unwrap_or_default();
                    let shows = async {
                        for show in &probe.show {
                            ctx.run(&host, &probe, show, Some("show".into())).await;
                        }
                    };
                    futures::future::join(ctx.run(&host, &probe, &cmd, None), shows).await;
                }
            }));
        }
    }
    // Ctrl-C (or SIGTERM) stops the probes, but the probe pods are removed before leaving.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let interrupted = tokio::select! {
        _ = futures::future::join_all(tasks) => false,
        _ = tokio::signal::ctrl_c() => true,
        _ = term.recv() => true,
    };
    if interrupted {
        for a in aborts {
            a.abort();
        }
        if let (Some(host), Some(probe)) = (
            &kubectl_host,
            scenario.probes.iter().find(|p| p.parser == "ping_matrix"),
        ) {
            let tag = probe_tag(ctx.collection);
            let mut names: Vec<String> = nodes.iter().map(|n| format!("{tag}{n}")).collect();
            names.push(format!("{tag}shell1"));
            names.extend(ctx.made.lock().unwrap().iter().cloned());
            let delete = format!("kubectl delete pod {} --ignore-not-found", names.join(" "));
            ctx.run(host, probe, &delete, Some("cleanup-interrupted".into()))
                .await;
            // A create already under way on the remote side may still finish: once more.
            tokio::time::sleep(Duration::from_secs(2)).await;
            ctx.run(host, probe, &delete, Some("cleanup-interrupted".into()))
                .await;
        }
        ctx.pool.close().await;
        anyhow::bail!("interrupted: the evidence collected so far is in the journal, and the probe pods were removed");
    }
    ctx.pool.close().await;
    ctx.progress.finish_and_clear();
    if let Some(e) = ctx.error.lock().unwrap().take() {
        anyhow::bail!("evidence could not be written to the journal: {e}");
    }
    let records = ctx
        .journal
        .read_all()?
        .iter()
        .filter(|e| e.seq > entry.seq)
        .count();
    Ok(Collected {
        scenario_seq: entry.seq,
        records,
        nodes,
    })
}

/// How many other nodes' probe pods each probe pod pings (besides shell1): the whole matrix up to
/// 4 nodes, a ring of this many peers beyond.
const MATRIX_PEERS: usize = 3;

/// `kubectl exec` into a pod: two pings to each address at once, each output line prefixed with
/// its address, then `ADDR exit N`; the outside addresses' lines are prefixed `egress ADDR`.
fn pings_from(pod: &str, addrs: &[&str], outside: &[&str]) -> String {
    let each = |list: &[&str], prefix: &str| {
        format!(
            "for t in {}; do (ping -c 2 -i 0.2 -W 1 $t 2>&1; echo \"exit $?\") | sed \"s/^/{prefix}$t /\" & done; ",
            list.join(" ")
        )
    };
    let mut script = String::new();
    if !addrs.is_empty() {
        script += &each(addrs, "");
    }
    if !outside.is_empty() {
        script += &each(outside, "egress ");
    }
    script += "wait";
    format!("kubectl exec {pod} -- sh -c {}", shell_quote(&script))
}

/// The task's two patterns with its own commands, as a person types them without a terminal:
/// `kubectl run shell1` pinned to the first node (by a nodeName override, which pins, where the
/// task's `nodename` after `--` does not), its address by `hostname -i` inside it, then
/// `kubectl run -i --rm` of a pod that pings it with `ping -c 3 -W 1`: `myshell2` on the second
/// node (pattern A), then `myshell3` on the first (pattern B); shell1 is removed at the
/// end. A pod of those names that exists already is someone else's: `kubectl run` refuses, that
/// is the evidence, and nothing is removed.
async fn task_patterns(ctx: &Ctx, host: &str, probe: &Probe, nodes: &[String]) {
    let (Some(first), Some(other)) = (nodes.first(), nodes.get(1)) else {
        return;
    };
    let pin = |node: &str| {
        shell_quote(&format!(
            "{{\"apiVersion\":\"v1\",\"spec\":{{\"nodeName\":\"{node}\"}}}}"
        ))
    };
    let create = format!(
        "kubectl run shell1 --image busybox --restart=Never --overrides={} -- sleep 3600",
        pin(first)
    );
    let made = ctx.run(host, probe, &create, Some("shell1".into())).await;
    if !made.outcome.is_success() {
        return;
    }
    ctx.made.lock().unwrap().push("shell1".into());
    let ev = ctx
        .run(
            host,
            probe,
            "kubectl exec shell1 -- hostname -i",
            Some("hostname".into()),
        )
        .await;
    let ip = ev
        .stdout
        .text
        .split_whitespace()
        .next()
        .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .map(String::from);
    if let Some(ip) = ip {
        ctx.made
            .lock()
            .unwrap()
            .extend(["myshell2".to_string(), "myshell3".to_string()]);
        // A and B at once (each its own pod and node; each record keeps its own times), and
        // in the journal A then B, as the task shows them, so an answer quotes them in order.
        let runs = [
            ("pattern-a", "myshell2", other),
            ("pattern-b", "myshell3", first),
        ]
        .map(|(step, name, node)| {
            let cmd = format!(
                "kubectl run {name} -i --rm --restart=Never --image busybox --overrides={} -- ping -c 3 -W 1 {ip}",
                pin(node)
            );
            async move { (step, ctx.exec(host, probe, &cmd, false).await) }
        });
        for (step, ev) in futures::future::join_all(runs).await {
            ctx.append(ev, &probe.id, Some(step.into()));
        }
    }
    ctx.run(
        host,
        probe,
        "kubectl delete pod shell1",
        Some("cleanup".into()),
    )
    .await;
}

/// The IPv4 addresses of `getent hosts` lines, in order, once each.
fn outside_addresses(out: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for a in out.lines().filter_map(|l| l.split_whitespace().next()) {
        if a.parse::<std::net::Ipv4Addr>().is_ok() && !seen.iter().any(|s| s == a) {
            seen.push(a.to_string());
        }
    }
    seen
}

/// The names of this collection's probe pods start with this; any other pod with the common
/// prefix is a leftover of an interrupted collection.
fn probe_tag(collection: u64) -> String {
    format!("{PROBE_POD_PREFIX}c{collection}-")
}

/// The task's two patterns, with the task's `kubectl run` (busybox, pinned by a nodeName override:
/// in the task's command `--overrides` stands after `--`, so it is an argument of `sh` that
/// kubectl never reads, and the scheduler places the pod anywhere): a pod `shell1` on the first
/// node, and one probe pod on each node. Each probe pod pings shell1 (pattern A: from another
/// node; pattern B: from the same node), every pod that is not a probe pod, and the probe pods of
/// the next `MATRIX_PEERS` nodes, same-node and cross-node labelled; the probe pods are removed
/// afterwards whatever happened.
/// With an `egress` probe, its command first prints the outside addresses (`ADDRESS NAME` lines,
/// as `getent hosts` prints them), and each probe pod pings those too, in the same command (a
/// step `pings … egress ADDR…`, the lines prefixed `egress ADDR`), as evidence of that probe.
async fn ping_matrix(ctx: &Arc<Ctx>, host: &str, probe: &Probe, egress: Option<Probe>) {
    let tag = probe_tag(ctx.collection);
    // The outside addresses are looked up while the pods are listed and made: they are needed
    // only when the pods ping.
    let lookup = {
        let (ctx, host) = (ctx.clone(), host.to_string());
        tokio::spawn(async move {
            let Some(e) = egress else { return vec![] };
            let cmd = e.command.clone().unwrap_or_default();
            let ev = ctx.run(&host, &e, &cmd, Some("targets".into())).await;
            outside_addresses(&ev.stdout.text)
        })
    };
    let nodes_ev = ctx
        .run(
            host,
            probe,
            "kubectl get nodes -o json",
            Some("nodes".into()),
        )
        .await;
    let Ok(nodes) = parse::kube_nodes(&nodes_ev.stdout.text) else {
        return;
    };
    // Leftovers of an interrupted earlier collection go first.
    let before = ctx
        .run(
            host,
            probe,
            "kubectl get pods -o json",
            Some("pods-before".into()),
        )
        .await;
    let leftovers: Vec<String> = parse::kube_pods(&before.stdout.text)
        .map(|p| {
            p.into_iter()
                .map(|p| p.name)
                .filter(|n| n.starts_with(PROBE_POD_PREFIX))
                .collect()
        })
        .unwrap_or_default();
    if !leftovers.is_empty() {
        let cmd = format!(
            "kubectl delete pod {} --ignore-not-found",
            leftovers.join(" ")
        );
        ctx.run(host, probe, &cmd, Some("cleanup-before".into()))
            .await;
    }
    let mut ours: Vec<String> = nodes.iter().map(|n| format!("{tag}{}", n.name)).collect();
    let mut placed: Vec<(&str, String)> = nodes
        .iter()
        .map(|n| n.name.as_str())
        .zip(ours.clone())
        .collect();
    if let Some(first) = nodes.first() {
        placed.insert(0, (first.name.as_str(), format!("{tag}shell1")));
        ours.insert(0, format!("{tag}shell1"));
    }
    let result = async {
        // The pods are created at once (each `kubectl run` is its own command).
        let creates = placed.iter().map(|(node, name)| async move {
            let overrides =
                format!("{{\"apiVersion\":\"v1\",\"spec\":{{\"nodeName\":\"{node}\"}}}}");
            let cmd = format!(
                "kubectl run {name} --image busybox --restart=Never --overrides={} -- sleep 3600",
                shell_quote(&overrides)
            );
            ctx.run_spread(host, probe, &cmd, Some(format!("create {name}")))
                .await
                .outcome
                .is_success()
        });
        if !futures::future::join_all(creates)
            .await
            .into_iter()
            .all(|ok| ok)
        {
            return vec![];
        }
        let pods_ev = ctx
            .run(host, probe, "kubectl get pods -o json", Some("pods".into()))
            .await;
        let Ok(pods) = parse::kube_pods(&pods_ev.stdout.text) else {
            return vec![];
        };
        let late: Vec<String> = pods
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| n.starts_with(PROBE_POD_PREFIX) && !n.starts_with(&tag))
            .collect();
        let targets: Vec<&parse::KubePod> = pods
            .iter()
            .filter(|p| {
                p.ip.is_some()
                    && (p.name.starts_with(&tag) || !p.name.starts_with(PROBE_POD_PREFIX))
                    // The task's patterns' pods come and go beside the matrix: not its targets.
                    && !TASK_PODS.contains(&p.name.as_str())
            })
            .collect();
        // One command per source pod: its pings to its targets at once, each output line
        // prefixed with the target's address (a sshd allows only so many sessions at once).
        // The targets: shell1 (the task's patterns A and B), every pod that is not a probe pod
        // (nor one of the task patterns' pods, which come and go beside it),
        // and the probe pods of the next MATRIX_PEERS nodes in the nodes' order (a ring): every
        // pair up to MATRIX_PEERS + 1 nodes, a bounded sample beyond, so the pings grow with the
        // nodes, not with their square. Each step names the pods it pinged.
        let outside: Vec<String> = lookup.await.unwrap_or_default();
        let mut pings = Vec::new();
        let outside_addrs: Vec<&str> = outside.iter().map(String::as_str).collect();
        let shell1 = format!("{tag}shell1");
        let probes: Vec<&str> = targets
            .iter()
            .filter(|p| p.name.starts_with(&tag) && p.name != shell1)
            .map(|p| p.name.as_str())
            .collect();
        for from in pods
            .iter()
            .filter(|p| p.name.starts_with(&tag) && p.name != shell1)
        {
            let Some(fnode) = &from.node else { continue };
            let at = probes.iter().position(|n| *n == from.name).unwrap_or(0);
            let peers: Vec<&str> = (1..probes.len())
                .map(|k| probes[(at + k) % probes.len()])
                .take(MATRIX_PEERS)
                .collect();
            let to: Vec<(&str, &str, &str)> = targets
                .iter()
                .filter(|p| p.name != from.name)
                .filter(|p| !probes.contains(&p.name.as_str()) || peers.contains(&p.name.as_str()))
                .filter_map(|p| Some((p.name.as_str(), p.node.as_deref()?, p.ip.as_deref()?)))
                .collect();
            if to.is_empty() && outside.is_empty() {
                continue;
            }
            // The outside addresses in the same command (one kubectl exec per pod, not two):
            // the step names them after `egress`, and the egress probe reads them from it.
            let ips: Vec<&str> = to.iter().map(|t| t.2).collect();
            let cmd = pings_from(&from.name, &ips, &outside_addrs);
            let mut step = format!(
                "pings {} {fnode} {}",
                from.name,
                to.iter()
                    .map(|(n, nd, ip)| format!("{n}@{nd}@{ip}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if !outside.is_empty() {
                step += &format!(" egress {}", outside.join(" "));
            }
            pings.push(async move { ctx.run_spread(host, probe, &cmd, Some(step)).await }.boxed());
        }
        futures::future::join_all(pings).await;
        late
    };
    ours.extend(result.await);
    let delete = format!("kubectl delete pod {} --ignore-not-found", ours.join(" "));
    ctx.run(host, probe, &delete, Some("cleanup".into())).await;
}
