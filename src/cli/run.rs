//! `run`: collect, diagnose, fix and verify in rounds until the task's end states hold.

use super::*;

/// `run`: rounds until every end state holds (or nothing new is left to do), with the task's
/// rules checked on the first and the last collection.
pub(super) async fn run_rounds(
    sc: &crate::scenario::Scenario,
    source: &str,
    journal: &Journal,
    act: &ActArgs,
    s: &crate::run::Settings,
) -> Result<i32> {
    let confirm = |fixes: &[crate::fix::Planned], steps: &[crate::step::PlannedStep]| {
        print_plan(fixes);
        for p in steps {
            println!("  step [{}] on {}", p.step.id, p.host);
            for c in &p.commands {
                println!("      $ {c}");
            }
        }
        if act.apply {
            confirm(fixes.len() + steps.len(), act.yes)
        } else {
            Ok(false)
        }
    };
    let show = |round: u32, d: &crate::diagnose::Diagnosis, ends: &[serde_json::Value]| {
        println!("== round {round}");
        print_diagnosis(d);
        for e in ends {
            println!(
                "  end state {} (phase {}): {}",
                e["id"].as_str().unwrap_or(""),
                e["phase"],
                e["state"].as_str().unwrap_or("")
            );
        }
    };
    let r = crate::run::rounds(sc, source, journal, s, act.apply, 12, &confirm, &show).await?;
    let mut code = 0;
    for k in crate::run::constraints(sc, journal, r.first, "before", s).await? {
        println!(
            "rule {} before: {}",
            k.id,
            if k.ok { "ok" } else { "VIOLATED" }
        );
    }
    if r.first != r.last.0 || act.apply {
        for k in crate::run::constraints(sc, journal, r.last.0, "after", s).await? {
            println!(
                "rule {} after: {}",
                k.id,
                if k.ok { "ok" } else { "VIOLATED" }
            );
            code = if k.ok { code } else { 1 };
        }
    }
    for (p, applied, verdict) in &r.fixes {
        println!("  [{}] {}: {applied}, {verdict}", p.cause, p.target);
        if verdict != "verified" {
            code = 1;
        }
    }
    for (id, stage, summary) in &r.steps {
        println!("  step [{id}]: {stage}: {summary}");
        if stage != "applied" {
            code = 1;
        }
    }
    match r.outcome.as_str() {
        "done" => println!("every end state holds after {} round(s)", r.rounds),
        "held_as_observed" => {
            println!(
                "nothing more to do after {} round(s): no end state fails",
                r.rounds
            );
            for e in r.end_states.iter().filter(|e| e["state"] != "held") {
                println!(
                    "  not observed in this run: {}",
                    e["id"].as_str().unwrap_or("")
                );
            }
        }
        "planned" => println!("nothing was changed (run again with --apply to apply the plan)"),
        "declined" => {
            println!("nothing more was changed");
            code = code.max(1);
        }
        other => {
            println!(
                "stopped after {} round(s) ({other}): nothing new to do",
                r.rounds
            );
            for e in &r.end_states {
                if e["state"] != "held" {
                    println!(
                        "  end state {}: {} ({})",
                        e["id"].as_str().unwrap_or(""),
                        e["state"].as_str().unwrap_or(""),
                        e["observed"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join("; "))
                            .unwrap_or_default()
                    );
                }
            }
            for u in &r.last.1.unexplained {
                println!("  still failing: {} on {}: {}", u.probe, u.host, u.summary);
            }
            if r.end_states.iter().any(|e| e["state"] == "failed") {
                code = code.max(1);
            }
        }
    }
    Ok(code)
}

/// `run`'s last record: a signature over the head, when the operator has a key. A key named with
/// --sign-key must work; without one, no key is a line on stderr, not a failure.
pub(super) async fn sign_at_end(journal: &Journal, key: Option<&std::path::Path>) -> Result<()> {
    use crate::journal::sign;
    let signer = match sign::find_signer(key).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("postmortem: the journal is not signed: no SSH key (ssh-agent, or ~/.ssh/id_*); sign it later with `postmortem journal sign`");
            return Ok(());
        }
        Err(e) if key.is_none() => {
            eprintln!("postmortem: the journal is not signed: {e:#}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let rec = sign::sign_head(journal, &signer).await?;
    eprintln!(
        "postmortem: signed head #{} with {} {} ({})",
        rec.head_seq, rec.fingerprint, rec.comment, rec.how
    );
    Ok(())
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Run {
            journal,
            scenario,
            act,
            out,
            style,
            sign_key,
            no_sign,
            team,
        } => {
            Journal::new(&journal.journal).ready(room_for(crate::collect::CAP))?;
            let Some(settings) = act.target.settings(act.yes)? else {
                return reexec_in_operator();
            };
            let (sc, source) = crate::scenario::load(&scenario)?;
            let out = out.unwrap_or_else(|| journal.dir());
            let journal = Journal::new(journal.journal);
            let rt = runtime()?;
            let code = rt.block_on(run_rounds(&sc, &source, &journal, &act, &settings))?;
            if !no_sign {
                rt.block_on(sign_at_end(&journal, sign_key.as_deref()))?;
            }
            let written = report::write(
                &journal,
                &report::Options {
                    langs: vec![Lang::Ja, Lang::En],
                    formats: vec![Format::Md, Format::Html, Format::Pdf],
                    out,
                    style,
                    team,
                },
                &settings.red,
            )?;
            Ok(if print_written(&written) {
                code
            } else {
                code.max(3)
            })
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
