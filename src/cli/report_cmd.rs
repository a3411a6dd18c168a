//! `report`: render the journal (answers, evidence, the whole report), or a team's journals.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    let Command::Report {
        journals,
        lang,
        format,
        out,
        style,
        team,
        strict,
        secrets,
    } = c
    else {
        unreachable!("dispatched by its variant")
    };
    let redactor = secrets.redactor()?;
    let first = JournalArg {
        journal: journals[0].clone(),
    };
    let out = out.unwrap_or_else(|| first.dir());
    let opts = report::Options {
        langs: lang,
        formats: format,
        out,
        style,
        team,
    };
    if journals.len() > 1 {
        let t = report::team::write(&journals, &opts, &redactor)?;
        for w in &t.written.warnings {
            eprintln!("postmortem: warning: {w}");
        }
        for why in &t.left_out {
            eprintln!("postmortem: not merged: {why}");
        }
        let pdf = print_written(&t.written);
        return Ok(if !t.left_out.is_empty() {
            4
        } else if pdf && (!strict || t.written.warnings.is_empty()) {
            0
        } else {
            3
        });
    }
    let written = report::write(&Journal::new(&journals[0]), &opts, &redactor)?;
    for w in &written.warnings {
        eprintln!("postmortem: warning: {w}");
    }
    let pdf = print_written(&written);
    Ok(if !pdf || (strict && !written.warnings.is_empty()) {
        3
    } else {
        0
    })
}
