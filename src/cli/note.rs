//! `note`: append a note.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Note {
            journal,
            secrets,
            text,
        } => {
            let redactor = secrets.redactor()?;
            let journal = Journal::new(journal.journal);
            let (text, _) = redactor.redact(&text.join(" "));
            let entry = journal.append(&crate::journal::now(), &Body::Note(Note { text }))?;
            eprintln!(
                "postmortem: note #{} in {}",
                entry.seq,
                journal.path().display()
            );
            Ok(0)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
