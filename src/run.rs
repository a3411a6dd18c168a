//! The whole job: collect → diagnose → plan the fixes → (apply → verify with the same probes →
//! roll back what did not cure its symptoms) → check the task's rules before and after.

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
            c.fixes
                .iter()
                .map(|f| fix::plan(&c.id, f, &scenario.hosts.hypervisor))
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
                        .map(|o| diagnose::summary(o))
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
    pub after: Option<Diagnosis>,
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
        let (_, d) = collect_and_diagnose(scenario, source, journal, s).await?;
        pending.retain(|cause| still_failing(scenario, &d, cause));
        after = Some(d);
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
            runner.record(
                &p,
                "verified",
                "the probes that showed its symptoms pass again",
                vec![],
                vec![],
            )?;
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
    d.observations.iter().any(|o| {
        c.explains.contains(&o.probe)
            && (o.value.is_err()
                || scenario
                    .probes
                    .iter()
                    .find(|p| p.id == o.probe)
                    .is_some_and(|p| o.failing(p)))
    })
}
