//! `fix`: plan the fixes of the latest diagnosis, and apply them with --apply.

use super::*;

/// Record the plan, and with --apply apply, verify, roll back; then the task's rules after.
pub(super) async fn fix_stage(
    sc: &crate::scenario::Scenario,
    source: &str,
    journal: &Journal,
    d: &crate::diagnose::Diagnosis,
    act: &ActArgs,
    s: &crate::run::Settings,
) -> Result<i32> {
    let planned = crate::run::plan(sc, d);
    let runner_pool = crate::transport::ssh::SshPool::new(s.opts.clone());
    let runner = crate::fix::Runner {
        pool: &runner_pool,
        journal,
        red: &s.red,
    };
    for p in &planned {
        runner.record(p, "planned", "", p.commands.clone(), vec![])?;
    }
    print_plan(&planned);
    if !act.apply {
        println!("nothing was changed (run again with --apply to apply the plan)");
        return Ok(0);
    }
    if !confirm(planned.len(), act.yes)? {
        println!("nothing was changed");
        return Ok(1);
    }
    if planned.is_empty() {
        return Ok(0);
    }
    let out = crate::run::apply_and_verify(sc, source, journal, &planned, s).await?;
    let mut code = 0;
    for (p, applied, verdict) in &out.applied {
        println!("  [{}] {}: {applied}, {verdict}", p.cause, p.target);
        if verdict != "verified" {
            code = 1;
        }
    }
    let entries = journal.read_all()?;
    let (after_seq, _) = crate::diagnose::latest_collection(&entries).context("no collection")?;
    for k in crate::run::constraints(sc, journal, after_seq, "after", s).await? {
        println!(
            "  rule {} after: {}",
            k.id,
            if k.ok { "ok" } else { "VIOLATED" }
        );
        if !k.ok {
            code = 1;
        }
    }
    if let Some((_, after)) = &out.after {
        for u in &after.unexplained {
            println!("  still failing: {} on {}: {}", u.probe, u.host, u.summary);
        }
    }
    Ok(code)
}

pub(super) fn print_plan(planned: &[crate::fix::Planned]) {
    if planned.is_empty() {
        println!("nothing to fix: no known cause holds");
        return;
    }
    println!("plan: {} change(s)", planned.len());
    for p in planned {
        println!("  [{}] {}", p.cause, p.target);
        for c in &p.commands {
            println!("      $ {c}");
        }
        println!(
            "      security: {}",
            p.delta.get("en").cloned().unwrap_or_default()
        );
    }
}

pub(super) fn confirm(changes: usize, yes: bool) -> Result<bool> {
    use std::io::{IsTerminal, Write};
    if yes || changes == 0 {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("not on a terminal, so nobody can confirm: pass --yes to apply the plan");
    }
    print!("apply these {changes} change(s)? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Fix { journal, act } => {
            if journal.journal.exists() {
                Journal::new(&journal.journal).ready(room_for(crate::collect::CAP))?;
            }
            let Some(settings) = act.target.settings(act.yes)? else {
                return reexec_in_operator();
            };
            let journal = Journal::new(journal.journal);
            let (entries, seq, sc, source) = latest_collection(&journal)?;
            let d = crate::diagnose::diagnose(&sc, &entries, seq);
            let rt = runtime()?;
            rt.block_on(fix_stage(&sc, &source, &journal, &d, &act, &settings))
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
