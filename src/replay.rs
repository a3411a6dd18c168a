//! `replay`: does an answer solve its phase when followed exactly? The answer's solution
//! commands (the `USER@HOST:~$ CMD` lines of its `shellsession` blocks) are run verbatim, in
//! order, each on the host its prompt names as the user it names, over SSH as the operator would
//! type them; then the scenario's probes are collected and the phase's end states judged.
//!
//! Every command runs, also after one failed (a person at a terminal goes on typing); the
//! verdict is the end states. The evidence goes to a journal of the replay's own, and a `replay`
//! record (the answer, the SHA-256 of its commands, each end state) can be appended to the
//! journal the answer was written from, so the answer can say that it was replayed.
//!
//! What it cannot prove: that the commands work on a host other than the one replayed on, or
//! that a judge's environment starts where the phase's start state says.

use crate::journal::{Body, Journal, ReplayRecord};
use crate::report::answer;
use crate::run::Settings;
use crate::scenario::Scenario;
use crate::transport::ssh::SshPool;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

/// What a replay found.
pub struct Replayed {
    pub record: ReplayRecord,
    /// Commands that exited non-zero: (index from 1, command, how it ended).
    pub failed: Vec<(usize, String, String)>,
    /// End states of the phase that did not hold: (id, state).
    pub not_held: Vec<(String, String)>,
}

/// The phase an answer file is for: `answer.phaseN.LANG.md`.
pub fn phase_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let rest = name.strip_prefix("answer.phase")?;
    rest.split('.').next()?.parse().ok()
}

/// The `lab up` arguments of a phase's start state: (faults, deployed).
pub fn lab_state(sc: &Scenario, phase: u32) -> Result<(Vec<String>, bool)> {
    let ph = sc
        .phases
        .iter()
        .find(|p| p.phase == phase)
        .with_context(|| format!("scenario {}: no phase {phase}", sc.id))?;
    let mut faults = crate::lab::parse_faults(crate::lab::DEFAULT_FAULTS)?;
    let mut deployed = false;
    let mut it = ph.lab.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--deployed" => deployed = true,
            "--faults" => {
                let f = it.next().context("--faults needs a value")?;
                faults = crate::lab::parse_faults(f)?;
            }
            other => bail!(
                "scenario {}: phase {phase}: unknown lab argument {other:?}",
                sc.id
            ),
        }
    }
    Ok((faults, deployed))
}

/// Run the answer's commands and judge the phase's end states.
pub async fn replay(
    sc: &Scenario,
    source: &str,
    answer_path: &Path,
    phase: u32,
    journal: &Journal,
    s: &Settings,
) -> Result<Replayed> {
    let md = std::fs::read_to_string(answer_path)
        .with_context(|| format!("answer {}: cannot read", answer_path.display()))?;
    let commands = answer::solution_commands(&md);
    if commands.is_empty() {
        bail!(
            "answer {}: no solution commands (shellsession blocks with USER@HOST:~$ prompts under the solution's heading)",
            answer_path.display()
        );
    }
    // The prompt's user must be the one ssh_config logs in as on that host.
    for (user, host, _) in &commands {
        let hc = s.opts.config.resolve(host)?;
        if &hc.user != user {
            bail!(
                "answer {}: a command runs as {user} on {host}, but the SSH configuration logs in there as {}",
                answer_path.display(),
                hc.user
            );
        }
    }
    journal.ready(crate::collect::CAP as u64)?;
    let pool = SshPool::new(s.opts.clone());
    let mut failed = Vec::new();
    for (i, (_, host, cmd)) in commands.iter().enumerate() {
        eprintln!("replay: {host}$ {}", s.red.redact(cmd).0);
        let run = || {
            pool.run(
                host,
                cmd,
                crate::collect::CAP,
                Some(Duration::from_secs(3600)),
                false,
                &s.red,
            )
        };
        let mut ev = run().await;
        // The servers' list after starting them is looked at until they are ACTIVE, as a
        // person (and the run's step) waits for them: at most 10 minutes.
        if cmd.trim() == crate::step::SERVER_LIST {
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            let up = |out: &str| {
                let rows = crate::step::server_statuses(out);
                !rows.is_empty() && rows.iter().all(|(_, st)| st == "ACTIVE")
            };
            while std::time::Instant::now() < deadline && !up(&ev.stdout.text) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                ev = run().await;
            }
        }
        // A command the task prescribes as a step is that step's run (the deployment's RECAP
        // is the evidence of its end state).
        ev.probe = sc
            .steps
            .iter()
            .find(|st| match &st.action {
                crate::scenario::StepAction::Command { command, .. } => {
                    command.lines().map(str::trim).any(|l| l == cmd.trim())
                }
                _ => false,
            })
            .map(|st| format!("step:{}", st.id));
        if !ev.outcome.is_success() {
            failed.push((
                i + 1,
                cmd.clone(),
                crate::journal::Outcome::describe(&ev.outcome),
            ));
        }
        journal.append(&crate::journal::now(), &Body::Evidence(ev))?;
    }
    pool.close().await;
    // The end states, looked at as `run` verifies a fix: again after a pause while they do not
    // hold yet (BGP takes up to Calico's connect retry to come up after a rule is added).
    let mut ends;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (_, d) = crate::run::collect_and_diagnose(sc, source, journal, s).await?;
        ends = crate::diagnose::end_states(sc, &d);
        let all = ends
            .iter()
            .filter(|e| e["phase"].as_u64() == Some(phase as u64))
            .all(|e| e["state"] == "held");
        if all || attempt >= s.verify_attempts.max(1) {
            break;
        }
        tokio::time::sleep(s.verify_pause).await;
    }
    let mut end_states = std::collections::BTreeMap::new();
    let mut not_held = Vec::new();
    for e in ends
        .iter()
        .filter(|e| e["phase"].as_u64() == Some(phase as u64))
    {
        let id = e["id"].as_str().unwrap_or("").to_string();
        let state = e["state"].as_str().unwrap_or("").to_string();
        if state != "held" {
            not_held.push((id.clone(), state.clone()));
        }
        end_states.insert(id, state);
    }
    let record = ReplayRecord {
        phase,
        answer: answer_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        commands_sha256: answer::commands_hash(&commands),
        commands: commands.len(),
        ok: not_held.is_empty() && !end_states.is_empty(),
        end_states,
        journal: journal
            .path()
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    journal.append(&crate::journal::now(), &Body::Replay(record.clone()))?;
    Ok(Replayed {
        record,
        failed,
        not_held,
    })
}
