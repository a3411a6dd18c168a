//! `scenario`: list, show and check scenarios.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Scenario { command } => match command {
            ScenarioCommand::List => {
                for id in crate::scenario::builtin_ids() {
                    let (s, _) = crate::scenario::load(id)?;
                    println!("{id}\t{}", s.title.get("en").cloned().unwrap_or_default());
                }
                Ok(0)
            }
            ScenarioCommand::Show { scenario } => {
                let (_, text) = crate::scenario::load(&scenario)?;
                print!("{text}");
                Ok(0)
            }
            ScenarioCommand::Check { file } => {
                let (s, _) = crate::scenario::load(&file.display().to_string())?;
                println!(
                    "{}: ok ({} probes, {} causes, {} alternatives)",
                    file.display(),
                    s.probes.len(),
                    s.causes.len(),
                    s.alternatives.len()
                );
                Ok(0)
            }
        },
        _ => unreachable!("dispatched by its variant"),
    }
}
