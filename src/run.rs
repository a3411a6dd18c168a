//! The whole job, in rounds: collect (read-only) → diagnose → plan (the fixes of the claimed
//! causes, and the task's steps whose preconditions hold) → apply (only with --apply; fixes are
//! verified with the same probes and rolled back when their symptoms stay) → collect again, until
//! every end state of the task holds or a round finds nothing new to do. A fault hidden by another
//! appears in a later round. The task's rules are checked before and after. Every round is a
//! record in the journal.
//!
//! A run never ends on the verification collection that first shows a fix's symptoms gone (a
//! daemon may still be settling): when that collection shows nothing more to do, a fresh one is
//! judged. What it cannot prove: that a fix, and not another hand on the hosts between two
//! collections, made the change it verifies; or that an end state still holds after the last
//! collection. A fault the scenario does not know is reported unexplained and never fixed.

use crate::diagnose::{self, Diagnosis};
use crate::fix::{self, Planned, Runner};
use crate::journal::redact::Redactor;
use crate::journal::{Body, ConstraintRecord, DiagnosisRecord, Journal};
use crate::scenario::Scenario;
use crate::transport::ssh::{SshOptions, SshPool};
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub struct Settings {
    pub opts: SshOptions,
    pub target: String,
    pub red: Redactor,
    /// Verification collections before a fix that did not cure its symptoms is rolled back.
    pub verify_attempts: u32,
    pub verify_pause: Duration,
}

/// A collection that reached no host at all is no evidence of anything: stop, naming each host
/// with why and the SSH configuration read (what was collected stays in the journal).
pub fn unreached(
    entries: &[crate::journal::Entry],
    collection: u64,
    config: Option<&std::path::Path>,
) -> Result<()> {
    let mut hosts: Vec<(String, String)> = Vec::new();
    for e in entries.iter().filter(|e| e.seq > collection) {
        let Body::Evidence(ev) = &e.body else {
            continue;
        };
        if ev.address.is_some() {
            return Ok(());
        }
        if let crate::journal::Outcome::Failed { message } = &ev.outcome {
            if !hosts.iter().any(|(h, _)| *h == ev.host) {
                hosts.push((ev.host.clone(), message.clone()));
            }
        }
    }
    if hosts.is_empty() {
        return Ok(());
    }
    let config = match config {
        Some(p) => format!("the SSH configuration {}", p.display()),
        None => "no SSH configuration (~/.ssh/config does not exist)".to_string(),
    };
    anyhow::bail!(
        "no host could be reached, so nothing was diagnosed and no answer written ({config}):\n{}",
        hosts
            .iter()
            .map(|(h, m)| format!("  {h}: {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Collect, diagnose, and record the diagnosis.
pub async fn collect_and_diagnose(
    scenario: &Scenario,
    source: &str,
    journal: &Journal,
    s: &Settings,
) -> Result<(u64, Diagnosis)> {
    let c = crate::collect::collect(
        scenario,
        source,
        &s.target,
        s.opts.clone(),
        journal.clone(),
        s.red.clone(),
    )
    .await?;
    let entries = journal.read_all()?;
    unreached(&entries, c.scenario_seq, s.opts.config.path.as_deref())?;
    let d = diagnose::diagnose(scenario, &entries, c.scenario_seq);
    journal.append(
        &crate::journal::now(),
        &Body::Diagnosis(DiagnosisRecord {
            scenario: scenario.id.clone(),
            collection: c.scenario_seq,
            result: d.to_json(scenario),
        }),
    )?;
    Ok((c.scenario_seq, d))
}

/// `{probe.field}` in a fix's rules, resource name or value, filled from what that probe observed
/// (the first host that gave a value; a number in the path indexes a list): a rule names the
/// uplink the evidence showed, a patch the pool it showed, not one assumed.
fn filled<'a>(spec: &crate::scenario::FixSpec, d: &'a Diagnosis) -> crate::scenario::FixSpec {
    use crate::scenario::FixSpec;
    let re = regex::Regex::new(r"\{([a-z_]+)\.([a-z0-9_.]+)\}").expect("a valid regex");
    let fill = |r: &str| {
        re.replace_all(r, |c: &regex::Captures| {
            d.observations
                .iter()
                .filter(|o| o.probe == c[1])
                .find_map(|o| {
                    let v = o.value.as_ref().ok()?;
                    let step = |v: &'a serde_json::Value, k: &str| match k.parse::<usize>() {
                        Ok(i) => v.get(i),
                        Err(_) => v.get(k),
                    };
                    match c[2].split('.').try_fold(v, step)? {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        // A list of names: space-separated (a fix that acts on each).
                        serde_json::Value::Array(a) if !a.is_empty() => a
                            .iter()
                            .map(|x| x.as_str().map(String::from))
                            .collect::<Option<Vec<_>>>()
                            .map(|v| v.join(" ")),
                        _ => None,
                    }
                })
                .unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
    };
    let mut spec = spec.clone();
    match &mut spec {
        FixSpec::Nft { rules, .. } => *rules = rules.iter().map(|r| fill(r)).collect(),
        FixSpec::CalicoPatch { name, value, .. } => {
            *name = fill(name);
            *value = fill(value);
        }
        FixSpec::PortAllowedAddress { ports, address, .. } => {
            *ports = fill(ports);
            *address = fill(address);
        }
        FixSpec::SubnetDns { subnet, server, .. } => {
            *subnet = fill(subnet);
            *server = fill(server);
        }
        FixSpec::DhcpRenew { interface, .. } => *interface = fill(interface),
        _ => {}
    }
    spec
}

/// The hosts a fix runs on: the hypervisor, where kubectl works (the host of the observations
/// of a probe that runs there), or every node (the hosts of the nodes' probes, in order).
fn fix_hosts(scenario: &Scenario, d: &Diagnosis, spec: &crate::scenario::FixSpec) -> Vec<String> {
    use crate::scenario::FixSpec;
    let on = match spec {
        FixSpec::Sysctl { on, .. }
        | FixSpec::Nft { on, .. }
        | FixSpec::CalicoPatch { on, .. }
        | FixSpec::SgRule { on, .. }
        | FixSpec::PortAllowedAddress { on, .. }
        | FixSpec::SubnetDns { on, .. }
        | FixSpec::DhcpRenew { on, .. } => on.as_str(),
    };
    let hosts_of = |set: &str| {
        let mut hosts: Vec<String> = Vec::new();
        for p in scenario.probes.iter().filter(|p| p.on == set) {
            for o in d.observations.iter().filter(|o| o.probe == p.id) {
                if !o.host.is_empty() && !hosts.contains(&o.host) {
                    hosts.push(o.host.clone());
                }
            }
        }
        hosts
    };
    match on {
        "kubectl" => hosts_of("kubectl").into_iter().take(1).collect(),
        "nodes" => hosts_of("nodes"),
        _ => vec![scenario.hosts.hypervisor.clone()],
    }
}

/// The fixes of every claimed cause, in phase order.
pub fn plan(scenario: &Scenario, d: &Diagnosis) -> Vec<Planned> {
    let mut causes: Vec<_> = scenario
        .causes
        .iter()
        .filter(|c| d.causes.iter().any(|f| f.id == c.id))
        .collect();
    causes.sort_by_key(|c| c.phase);
    causes
        .iter()
        .flat_map(|c| {
            c.fixes.iter().flat_map(|f| {
                fix_hosts(scenario, d, f)
                    .into_iter()
                    .map(|h| fix::plan(&c.id, &filled(f, d), &h))
            })
        })
        .collect()
}

/// Check the task's rules on the collection that starts at `collection`.
pub async fn constraints(
    scenario: &Scenario,
    journal: &Journal,
    collection: u64,
    when: &str,
    s: &Settings,
) -> Result<Vec<ConstraintRecord>> {
    let entries = journal.read_all()?;
    let obs = diagnose::observations(scenario, &entries, collection);
    let pool = SshPool::new(s.opts.clone());
    let mut out = Vec::new();
    for k in &scenario.constraints {
        let rec = match (k.kind.as_str(), &k.command, &k.condition) {
            ("unchanged", Some(cmd), _) => {
                let host = &scenario.hosts.hypervisor;
                let mut ev = pool
                    .run(
                        host,
                        cmd,
                        16 << 20,
                        Some(Duration::from_secs(120)),
                        false,
                        &s.red,
                    )
                    .await;
                ev.probe = Some(format!("constraint:{}", k.id));
                ev.step = Some(when.to_string());
                let ok_run = ev.outcome.is_success();
                let digest = crate::journal::hex(&Sha256::digest(ev.stdout.text.as_bytes()));
                let files = ev.stdout.text.lines().count();
                let e = journal.append(&crate::journal::now(), &Body::Evidence(ev))?;
                ConstraintRecord {
                    id: k.id.clone(),
                    when: when.into(),
                    ok: ok_run,
                    value: if ok_run {
                        format!("sha256 {digest} over {files} files")
                    } else {
                        "could not be read".into()
                    },
                    records: vec![e.seq],
                }
            }
            ("holds", _, Some(c)) => {
                let of: Vec<&diagnose::Observation> = obs
                    .iter()
                    .filter(|o| Some(o.probe.as_str()) == c.probe.as_deref())
                    .collect();
                let verdict = diagnose::condition(&of, c);
                ConstraintRecord {
                    id: k.id.clone(),
                    when: when.into(),
                    ok: verdict == Some(true),
                    value: of
                        .iter()
                        .map(|o| diagnose::field_summary(o, &c.field))
                        .collect::<Vec<_>>()
                        .join("; "),
                    records: of.iter().flat_map(|o| o.records.clone()).collect(),
                }
            }
            _ => continue,
        };
        journal.append(&crate::journal::now(), &Body::Constraint(rec.clone()))?;
        out.push(rec);
    }
    pool.close().await;
    Ok(out)
}

/// What applying and verifying did, per fix.
pub struct Outcome {
    pub applied: Vec<(Planned, String, String)>,
    /// The last verification collection: its scenario record's seq and its diagnosis.
    pub after: Option<(u64, Diagnosis)>,
}

/// Apply the planned fixes, verify them with the scenario's own probes, roll back the fixes of
/// a cause whose symptoms stay.
pub async fn apply_and_verify(
    scenario: &Scenario,
    source: &str,
    journal: &Journal,
    planned: &[Planned],
    s: &Settings,
) -> Result<Outcome> {
    let pool = SshPool::new(s.opts.clone());
    let runner = Runner {
        pool: &pool,
        journal,
        red: &s.red,
    };
    let mut results = Vec::new();
    for p in planned {
        let a = runner.apply(p).await?;
        runner.record(p, &a.stage, &a.summary, a.undo.clone(), a.records.clone())?;
        results.push((p.clone(), a));
    }
    pool.close().await;

    // Verify: the same probes again, until each fixed cause's symptoms are gone or the attempts end.
    let mut after = None;
    let mut pending: Vec<String> = results.iter().map(|(p, _)| p.cause.clone()).collect();
    pending.dedup();
    for attempt in 0..s.verify_attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(s.verify_pause).await;
        }
        let (seq, d) = collect_and_diagnose(scenario, source, journal, s).await?;
        pending.retain(|cause| still_failing(scenario, &d, cause));
        after = Some((seq, d));
        if pending.is_empty() {
            break;
        }
    }

    let pool = SshPool::new(s.opts.clone());
    let runner = Runner {
        pool: &pool,
        journal,
        red: &s.red,
    };
    let mut out = Vec::new();
    for (p, a) in results {
        let stage = if pending.contains(&p.cause) && !a.undo.is_empty() {
            let (ok, recs) = runner.rollback(&p, &a.undo).await?;
            let stage = if ok { "rolled_back" } else { "rollback_failed" };
            runner.record(
                &p,
                stage,
                &format!(
                    "its symptoms stayed after the fix; undone: {}",
                    a.undo.join("; ")
                ),
                a.undo.clone(),
                recs,
            )?;
            stage.to_string()
        } else if pending.contains(&p.cause) {
            runner.record(&p, "not_verified", "its symptoms stayed", vec![], vec![])?;
            "not_verified".to_string()
        } else {
            let others = match (&after, scenario.causes.iter().find(|c| c.id == p.cause)) {
                (Some((_, d)), Some(c)) => failing_symptoms(scenario, d, c).1,
                _ => vec![],
            };
            let summary = if others.is_empty() {
                "the probes that showed its symptoms pass again".to_string()
            } else {
                format!(
                    "its own symptoms pass again; what still fails is explained by {} (found behind it)",
                    others.join(", ")
                )
            };
            runner.record(&p, "verified", &summary, vec![], vec![])?;
            "verified".to_string()
        };
        out.push((p, a.stage, stage));
    }
    pool.close().await;
    Ok(Outcome {
        applied: out,
        after,
    })
}

/// Does the cause still hold, or does failing evidence it explains remain?
fn still_failing(scenario: &Scenario, d: &Diagnosis, cause: &str) -> bool {
    if d.causes.iter().any(|c| c.id == cause) {
        return true;
    }
    let Some(c) = scenario.causes.iter().find(|c| c.id == cause) else {
        return false;
    };
    !failing_symptoms(scenario, d, c).0.is_empty()
}

/// The probes a cause explains that still fail after its fix: (those no other claimed cause
/// explains, the other claimed causes that explain the rest). A symptom now explained by a cause
/// found behind this one (a layer the fix uncovered) does not count against the fix.
fn failing_symptoms(
    scenario: &Scenario,
    d: &Diagnosis,
    c: &crate::scenario::Cause,
) -> (Vec<String>, Vec<String>) {
    let (mut alone, mut others) = (Vec::new(), Vec::new());
    for o in d.observations.iter().filter(|o| {
        c.explains.contains(&o.probe)
            && ((o.value.is_err() && o.not_yet.is_none())
                || scenario
                    .probes
                    .iter()
                    .find(|p| p.id == o.probe)
                    .is_some_and(|p| o.failing(p)))
    }) {
        let by: Vec<&str> = scenario
            .causes
            .iter()
            .filter(|k| k.id != c.id && k.explains.contains(&o.probe))
            .filter(|k| d.causes.iter().any(|f| f.id == k.id))
            .map(|k| k.id.as_str())
            .collect();
        if by.is_empty() {
            alone.push(o.probe.clone());
        }
        for k in by {
            if !others.iter().any(|x| x == k) {
                others.push(k.to_string());
            }
        }
    }
    (alone, others)
}

/// What the rounds did.
pub struct Rounds {
    pub rounds: u32,
    /// (fix, how it was applied, its verdict)
    pub fixes: Vec<(Planned, String, String)>,
    /// (step id, stage, summary)
    pub steps: Vec<(String, String, String)>,
    /// The end states on the last collection.
    pub end_states: Vec<serde_json::Value>,
    /// done (every end state holds), held_as_observed (none fails, some could not be observed,
    /// nothing left to do), planned (dry run), stuck (an end state fails and nothing new is left
    /// to do), declined, or limit (the round limit was reached).
    pub outcome: String,
    /// The scenario record's seq of the first and the last collection.
    pub first: u64,
    pub last: (u64, Diagnosis),
}

/// Asked before a round's plan is applied: Ok(true) to go on.
pub type Confirm<'a> = &'a dyn Fn(&[Planned], &[crate::step::PlannedStep]) -> Result<bool>;

/// Run rounds until every end state holds, nothing new is left to do, or `max` rounds.
#[allow(clippy::too_many_arguments)]
pub async fn rounds(
    sc: &Scenario,
    source: &str,
    journal: &Journal,
    s: &Settings,
    apply: bool,
    max: u32,
    confirm: Confirm<'_>,
    report: &dyn Fn(u32, &Diagnosis, &[serde_json::Value]),
) -> Result<Rounds> {
    let mut carried: Option<(u64, Diagnosis)> = None;
    let mut fixed: Vec<String> = Vec::new();
    let mut done_steps: Vec<String> = Vec::new();
    let mut fixes_out = Vec::new();
    let mut steps_out = Vec::new();
    let mut first = None;
    let mut round = 0;
    loop {
        round += 1;
        let (mut seq, mut d, was_carried) = match carried.take() {
            Some((seq, d)) => (seq, d, true),
            None => {
                let (seq, d) = collect_and_diagnose(sc, source, journal, s).await?;
                (seq, d, false)
            }
        };
        let mut a = assess(sc, journal, &d, &fixed, &done_steps, apply, round, max)?;
        if was_carried && matches!(a.outcome, "done" | "held_as_observed" | "stuck") {
            // The verification stopped at the first collection where its fixes' symptoms had
            // gone; a fault behind them may not show yet (routes BIRD is still installing). The
            // run ends on a fresh collection, never on that one.
            (seq, d) = collect_and_diagnose(sc, source, journal, s).await?;
            a = assess(sc, journal, &d, &fixed, &done_steps, apply, round, max)?;
        }
        first.get_or_insert(seq);
        let Assessed {
            ends,
            states,
            causes,
            fixes,
            steps,
            nodes,
            planned,
            outcome,
        } = a;
        report(round, &d, &ends);
        // `confirm` shows the plan; in a dry run it only shows it.
        let go = matches!(outcome, "" | "planned") && confirm(&fixes, &steps)?;
        if !outcome.is_empty() || !go {
            let outcome = if outcome.is_empty() {
                "declined"
            } else {
                outcome
            };
            if outcome == "planned" {
                record_plan(journal, s, &fixes, &steps)?;
            }
            round_record(journal, round, seq, causes, planned, states, outcome)?;
            return Ok(Rounds {
                rounds: round,
                fixes: fixes_out,
                steps: steps_out,
                end_states: ends,
                outcome: outcome.into(),
                first: first.unwrap_or(seq),
                last: (seq, d),
            });
        }
        record_plan(journal, s, &fixes, &steps)?;
        round_record(journal, round, seq, causes, planned, states, "applied")?;
        if !fixes.is_empty() {
            let out = apply_and_verify(sc, source, journal, &fixes, s).await?;
            fixed.extend(fixes.iter().map(|p| p.cause.clone()));
            // A verification taken before a rollback no longer shows the hosts: collect again.
            let rolled_back = out
                .applied
                .iter()
                .any(|(_, _, v)| matches!(v.as_str(), "rolled_back" | "rollback_failed"));
            fixes_out.extend(out.applied);
            carried = out.after.filter(|_| !rolled_back);
        }
        let runner = crate::step::StepRunner {
            opts: &s.opts,
            journal,
            red: &s.red,
        };
        for p in &steps {
            let (stage, summary, records) = runner.apply(p, &nodes).await?;
            crate::step::record(journal, p, &stage, &summary, records)?;
            done_steps.push(p.step.id.clone());
            steps_out.push((p.step.id.clone(), stage, summary));
            carried = None;
        }
    }
}

/// A round's reading of one collection: end states, what is left to do, how the round ends.
struct Assessed {
    ends: Vec<serde_json::Value>,
    states: std::collections::BTreeMap<String, String>,
    causes: Vec<String>,
    fixes: Vec<Planned>,
    steps: Vec<crate::step::PlannedStep>,
    nodes: Vec<String>,
    planned: Vec<String>,
    /// "" when the round goes on to apply its plan.
    outcome: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn assess(
    sc: &Scenario,
    journal: &Journal,
    d: &Diagnosis,
    fixed: &[String],
    done_steps: &[String],
    apply: bool,
    round: u32,
    max: u32,
) -> Result<Assessed> {
    let ends = diagnose::end_states(sc, d);
    let states: std::collections::BTreeMap<String, String> = ends
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or("").to_string(),
                e["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let causes: Vec<String> = d.causes.iter().map(|c| c.id.clone()).collect();
    let fixes: Vec<Planned> = plan(sc, d)
        .into_iter()
        .filter(|p| !fixed.contains(&p.cause))
        .collect();
    let entries = journal.read_all()?;
    let nodes = crate::step::nodes(&entries);
    let steps: Vec<crate::step::PlannedStep> = crate::step::eligible(sc, d, done_steps)
        .into_iter()
        .map(|t| {
            let mut p = crate::step::plan(sc, t, d, &nodes);
            p.login = crate::step::login(sc, &entries, &p.host);
            p
        })
        .collect();
    let mut planned: Vec<String> = fixes.iter().map(|p| p.cause.clone()).collect();
    planned.dedup();
    planned.extend(steps.iter().map(|p| p.step.id.clone()));
    let all_held = !states.is_empty() && states.values().all(|v| v == "held");
    let outcome = if all_held {
        "done"
    } else if planned.is_empty() && states.values().all(|v| v != "failed") {
        // Nothing fails, but not everything could be observed (a deployment this run did
        // not make has no kubespray output to read).
        "held_as_observed"
    } else if planned.is_empty() {
        "stuck"
    } else if !apply {
        "planned"
    } else if round > max {
        "limit"
    } else {
        ""
    };
    Ok(Assessed {
        ends,
        states,
        causes,
        fixes,
        steps,
        nodes,
        planned,
        outcome,
    })
}

/// The round's plan, as `planned` fix and step records.
fn record_plan(
    journal: &Journal,
    s: &Settings,
    fixes: &[Planned],
    steps: &[crate::step::PlannedStep],
) -> Result<()> {
    let pool = SshPool::new(s.opts.clone());
    let runner = Runner {
        pool: &pool,
        journal,
        red: &s.red,
    };
    for p in fixes {
        runner.record(p, "planned", "", p.commands.clone(), vec![])?;
    }
    for p in steps {
        crate::step::record(journal, p, "planned", "", vec![])?;
    }
    Ok(())
}

fn round_record(
    journal: &Journal,
    round: u32,
    collection: u64,
    causes: Vec<String>,
    planned: Vec<String>,
    end_states: std::collections::BTreeMap<String, String>,
    outcome: &str,
) -> Result<()> {
    journal.append(
        &crate::journal::now(),
        &Body::Round(crate::journal::RoundRecord {
            round,
            collection,
            causes,
            planned,
            end_states,
            outcome: outcome.into(),
        }),
    )?;
    Ok(())
}
