//! `journal`: verify, repair, sign and start journals.

use super::*;

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Journal {
            command:
                JournalCommand::Verify {
                    path,
                    allowed_signers,
                },
        } => crate::journal::sign::verify_command(&Journal::new(&path), allowed_signers.as_deref()),
        Command::Journal {
            command: JournalCommand::Sign { key, import, path },
        } => {
            let journal = Journal::new(&path);
            let rec = match import {
                Some(sig) => crate::journal::sign::import_file(&journal, &sig)?,
                None => runtime()?.block_on(async {
                    let signer = crate::journal::sign::find_signer(key.as_deref()).await?.ok_or_else(|| {
                        anyhow::anyhow!("no SSH key to sign with: start ssh-agent with a key, give --key FILE, or create ~/.ssh/id_ed25519")
                    })?;
                    crate::journal::sign::sign_head(&journal, &signer).await
                })?,
            };
            let (m, sig) = crate::journal::sign::detached_paths(&path);
            println!(
                "{}: head #{} {} signed by {} {} ({}); detached: {} and {}",
                path.display(),
                rec.head_seq,
                rec.head_hash,
                rec.fingerprint,
                rec.comment,
                rec.how,
                m.display(),
                sig.display()
            );
            Ok(0)
        }
        Command::Journal {
            command: JournalCommand::Head { path },
        } => {
            let entries = Journal::new(&path).read_all()?;
            let head = entries
                .last()
                .ok_or_else(|| anyhow::anyhow!("journal {}: empty", path.display()))?;
            print!(
                "{}",
                crate::journal::sign::head_message(head.seq, &head.hash)
            );
            Ok(0)
        }
        Command::Journal {
            command: JournalCommand::Repair { path },
        } => match Journal::new(&path).repair()? {
            None => {
                println!(
                    "{}: nothing to repair (every line is whole and verifies)",
                    path.display()
                );
                Ok(0)
            }
            Some(r) => {
                println!(
                    "{}: cut {} bytes of an interrupted write (sha256 {}) into {}; the chain goes on",
                    path.display(),
                    r.bytes,
                    r.sha256,
                    r.side_file
                );
                Ok(0)
            }
        },
        Command::Journal {
            command: JournalCommand::Init { title, path },
        } => {
            let journal = Journal::new(&path);
            if path.exists()
                && std::fs::metadata(&path)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false)
            {
                anyhow::bail!(
                    "journal {}: it already exists; a journal's first record is its run record",
                    path.display()
                );
            }
            let title = title.map(|t| Redactor::new().redact(&t).0);
            journal
                .append(&crate::journal::now(), &Body::Run(RunMeta::here(title)))
                .with_context(|| format!("journal {}: cannot start it", path.display()))?;
            println!("{}", path.display());
            Ok(0)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
