//! `answer check`: read an answer back against its journal.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    let Command::Answer {
        command:
            AnswerCommand::Check {
                answer,
                journal,
                secrets,
            },
    } = c
    else {
        unreachable!("dispatched by its variant")
    };
    let red = secrets.redactor()?;
    let md = std::fs::read_to_string(&answer)
        .with_context(|| format!("cannot read the answer {}", answer.display()))?;
    let entries = Journal::new(&journal.journal).read_all()?;
    let problems = crate::report::check::check(&md, &entries, &red)
        .map_err(|why| anyhow::anyhow!("answer {}: {why}", answer.display()))?;
    for p in &problems {
        eprintln!("{}:{}: {}", answer.display(), p.line, p.text);
    }
    if problems.is_empty() {
        eprintln!(
            "postmortem: {}: every command and output line shown is in {}",
            answer.display(),
            journal.journal.display()
        );
        Ok(0)
    } else {
        eprintln!(
            "postmortem: {}: {} line{} not borne out by {}",
            answer.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            journal.journal.display()
        );
        Ok(1)
    }
}
