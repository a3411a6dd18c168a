//! `record`: run a command locally or on hosts over SSH, and keep it as evidence.

use super::*;

/// Show a remote command's result: its output (as kept), then one line on how it ended.
pub(super) fn print_remote(ev: &crate::journal::Evidence, seq: u64) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(ev.stdout.text.as_bytes());
    let _ = std::io::stderr().write_all(ev.stderr.text.as_bytes());
    eprintln!(
        "postmortem: {}: {} (recorded as #{seq})",
        ev.host,
        ev.outcome.describe()
    );
}

pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Record {
            journal,
            host,
            cap,
            secrets,
            ssh,
            argv,
        } if !ssh.on.is_empty() => {
            if host.is_some() {
                anyhow::bail!(
                    "--host labels a local command; with --on the host is the SSH host's name"
                );
            }
            let mut redactor = secrets.redactor()?;
            let journal = Journal::new(journal.journal);
            // The journal must be able to take the records before anything is run.
            journal.ready(room_for(cap) * ssh.on.len() as u64)?;
            let opts = ssh.options()?;
            opts.passwords.hide_in(&mut redactor);
            let rt = runtime()?;
            let evidence = rt.block_on(crate::transport::ssh::run_on_hosts(
                opts,
                &ssh.on,
                &crate::transport::shell_join(&argv),
                cap,
                ssh.timeout.map(std::time::Duration::from_secs),
                ssh.sudo,
                ssh.parallel,
                &redactor,
            ));
            let mut failed = Vec::new();
            let mut last = 0;
            for ev in evidence {
                let entry = journal.append(&crate::journal::now(), &Body::Evidence(ev.clone()))?;
                print_remote(&ev, entry.seq);
                last = ev.outcome.shell_status();
                if !ev.outcome.is_success() {
                    failed.push(ev.host.clone());
                }
            }
            if ssh.on.len() == 1 {
                return Ok(last);
            }
            eprintln!(
                "postmortem: {} of {} hosts succeeded{}",
                ssh.on.len() - failed.len(),
                ssh.on.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("; failed: {}", failed.join(", "))
                }
            );
            Ok(if failed.is_empty() { 0 } else { 1 })
        }
        Command::Record {
            journal,
            host,
            cap,
            secrets,
            ssh,
            argv,
        } => {
            let redactor = secrets.redactor()?;
            let argv = if ssh.sudo {
                ["sudo", "-n", "--"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(argv)
                    .collect()
            } else {
                argv
            };
            let journal = Journal::new(journal.journal);
            // The journal must be able to take the record before the command is run.
            journal.ready(room_for(cap))?;
            let rt = runtime()?;
            let evidence = rt.block_on(
                LocalRun {
                    host: host.unwrap_or_else(hostname),
                    argv,
                    cap,
                    echo: Echo::Terminal,
                    redactor: &redactor,
                }
                .run(),
            );
            let status = evidence.outcome.shell_status();
            if let crate::journal::Outcome::Failed { message } = &evidence.outcome {
                eprintln!("postmortem: {message}");
            }
            let entry = journal.append(&crate::journal::now(), &Body::Evidence(evidence))?;
            eprintln!(
                "postmortem: recorded as #{} in {}",
                entry.seq,
                journal.path().display()
            );
            Ok(status)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
