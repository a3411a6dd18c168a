//! `collect`: run a scenario's read-only probes and keep the evidence.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Collect {
            journal,
            scenario,
            target,
        } => {
            let (sc, source) = crate::scenario::load(&scenario)?;
            // Every writer checks that the journal can take a record before anything is run.
            Journal::new(&journal.journal).ready(room_for(crate::collect::CAP))?;
            let Some(settings) = target.settings(false)? else {
                return reexec_in_operator();
            };
            let journal = Journal::new(journal.journal);
            let rt = runtime()?;
            let t0 = std::time::Instant::now();
            let config = settings.opts.config.path.clone();
            let done = rt.block_on(crate::collect::collect(
                &sc,
                &source,
                &settings.target,
                settings.opts,
                journal.clone(),
                settings.red,
            ))?;
            eprintln!(
                "postmortem: collected {} records for {} (nodes: {}) in {:.1} s into {}",
                done.records,
                sc.id,
                if done.nodes.is_empty() {
                    "none found".to_string()
                } else {
                    done.nodes.join(", ")
                },
                t0.elapsed().as_secs_f64(),
                journal.path().display()
            );
            crate::run::unreached(&journal.read_all()?, done.scenario_seq, config.as_deref())?;
            Ok(0)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
