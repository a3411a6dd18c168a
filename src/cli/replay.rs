//! `replay`: follow an answer exactly on its phase's initial state.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Replay {
            answer,
            phase,
            scenario,
            replay_journal,
            record_in,
            target,
        } => {
            let (sc, source) = crate::scenario::load(&scenario)?;
            let phase = phase
                .or_else(|| crate::replay::phase_of(&answer))
                .ok_or_else(|| {
                    anyhow::anyhow!("answer {}: say which phase (--phase N)", answer.display())
                })?;
            let lab = target.target.as_deref() == Some("lab");
            // With the lab: build the phase's initial state first, then work from its operator host.
            if lab && std::env::var_os("POSTMORTEM_IN_OPERATOR").is_none() {
                let (faults, deployed) = crate::replay::lab_state(&sc, phase)?;
                eprintln!(
                    "postmortem replay: building the initial state of phase {phase} (lab up{}{})",
                    if deployed { " --deployed" } else { "" },
                    format_args!(
                        " --faults {}",
                        if faults.is_empty() {
                            "none".into()
                        } else {
                            faults.join(",")
                        }
                    )
                );
                crate::lab::up(&crate::lab::Options::new(faults, deployed))?;
                let code = reexec_in_operator();
                let down = crate::lab::down();
                let code = code?;
                down?;
                return Ok(code);
            }
            let Some(settings) = target.settings(false)? else {
                return reexec_in_operator();
            };
            let rj = replay_journal
                .unwrap_or_else(|| answer.with_file_name(format!("replay.phase{phase}.jsonl")));
            let _ = std::fs::remove_file(&rj);
            let journal = Journal::new(&rj);
            let rt = runtime()?;
            let r = rt.block_on(crate::replay::replay(
                &sc, &source, &answer, phase, &journal, &settings,
            ))?;
            for (i, cmd, how) in &r.failed {
                println!("command {i} failed ({how}): {cmd}");
            }
            for (id, state) in &r.record.end_states {
                println!("end state {id}: {state}");
            }
            if let Some(j) = record_in {
                Journal::new(&j).append(&crate::journal::now(), &Body::Replay(r.record.clone()))?;
            }
            if r.record.ok {
                println!(
                    "replayed {} ({} commands): every end state of phase {phase} holds",
                    answer.display(),
                    r.record.commands
                );
                Ok(0)
            } else {
                println!(
                    "replayed {}: end states that do not hold: {}",
                    answer.display(),
                    r.not_held
                        .iter()
                        .map(|(i, s)| format!("{i} ({s})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                Ok(5)
            }
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
