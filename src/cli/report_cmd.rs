//! `report`: render the journal (answers, evidence, the whole report).

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Report {
            journal,
            lang,
            format,
            out,
            style,
            team,
            secrets,
        } => {
            let redactor = secrets.redactor()?;
            let out = out.unwrap_or_else(|| journal.dir());
            let journal = Journal::new(journal.journal);
            let written = report::write(
                &journal,
                &report::Options {
                    langs: lang,
                    formats: format,
                    out,
                    style,
                    team,
                },
                &redactor,
            )?;
            Ok(if print_written(&written) { 0 } else { 3 })
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
