//! `note`: append a note, plain or with a role, optionally about an evidence record.

use super::*;
use crate::journal::About;

/// Check that `about` names an evidence record of the journal and lines it has.
fn check_about(journal: &Journal, about: &About) -> Result<()> {
    let entries = journal.read_all()?;
    let evidence: Vec<(u64, &crate::journal::Evidence)> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Evidence(ev) => Some((e.seq, ev)),
            _ => None,
        })
        .collect();
    let Some((_, ev)) = evidence.iter().find(|(s, _)| *s == about.seq) else {
        let range = match (evidence.first(), evidence.last()) {
            (Some((a, _)), Some((b, _))) => format!("the evidence records are #{a} to #{b}"),
            _ => "it holds no evidence record yet".to_string(),
        };
        anyhow::bail!(
            "--about {}: journal {} has no evidence record #{} ({range})",
            about.seq,
            journal.path().display(),
            about.seq
        );
    };
    if let Some((a, b)) = about.lines {
        let n = ev.output_lines().len();
        if b > n {
            anyhow::bail!(
                "--about {}:{a}-{b}: record #{} has {n} output line{} (1-{n})",
                about.seq,
                about.seq,
                if n == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Note {
            journal,
            secrets,
            role,
            about,
            text,
        } => {
            let redactor = secrets.redactor()?;
            let journal = Journal::new(journal.journal);
            if let Some(a) = &about {
                check_about(&journal, a)?;
            }
            let (text, _) = redactor.redact(&text.join(" "));
            let entry = journal.append(
                &crate::journal::now(),
                &Body::Note(Note {
                    text,
                    role: role.clone(),
                    about,
                }),
            )?;
            eprintln!(
                "postmortem: {}note #{} in {}",
                role.map(|r| format!("{r} ")).unwrap_or_default(),
                entry.seq,
                journal.path().display()
            );
            Ok(0)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
