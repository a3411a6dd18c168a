//! `shell`: a recorded interactive shell, here or on a host.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    let Command::Shell {
        journal,
        on,
        cap,
        ssh_config,
        accept_new,
        secrets,
        passwords,
    } = c
    else {
        unreachable!("dispatched by its variant")
    };
    let mut redactor = secrets.redactor()?;
    let journal = Journal::new(journal.journal);
    // The journal must be able to take records before the shell starts.
    journal.ready(room_for(cap))?;
    eprintln!(
        "postmortem: recording this shell into {}; exit the shell to end the session",
        journal.path().display()
    );
    let summary = match on {
        None => crate::shell::run_local(&journal, &redactor, cap, record::hostname())?,
        Some(alias) => {
            let config = match &ssh_config {
                Some(f) => SshConfig::load(f, false)?,
                None => SshConfig::load_default()?,
            };
            let passwords = passwords.ask(false)?;
            passwords.hide_in(&mut redactor);
            let opts = SshOptions {
                config,
                accept_new,
                passwords,
                ..Default::default()
            };
            crate::shell::run_remote(&journal, &redactor, cap, &alias, opts)?
        }
    };
    for m in &summary.messages {
        eprintln!("postmortem: {m}");
    }
    eprintln!(
        "postmortem: session #{} ended ({}): {} command records, {} notes in {}",
        summary.session,
        summary.outcome.describe(),
        summary.commands,
        summary.notes,
        journal.path().display()
    );
    Ok(summary.outcome.shell_status())
}
