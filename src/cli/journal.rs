//! `journal`: verify, repair, sign, start and export journals.

use super::*;
use crate::journal::sign;

/// `journal verify`: the chain, every repair, every signature; with an allowed-signers file,
/// every signature's key must be allowed and there must be at least one.
fn verify(journal: &Journal, allowed: Option<&std::path::Path>) -> Result<i32> {
    let entries = journal.read_all()?;
    let path = journal.path().display();
    let head = entries
        .last()
        .map(|e| e.hash.clone())
        .unwrap_or_else(|| crate::journal::GENESIS.into());
    println!(
        "{path}: {} records, chain intact, head {head}",
        entries.len()
    );
    let allowed = allowed.map(sign::allowed_signers).transpose()?;
    let mut bad = 0;
    let mut last_signed = 0;
    for e in &entries {
        match &e.body {
            Body::Repair(r) => println!(
                "repaired at #{}: {} bytes of an interrupted write cut off (sha256 {}), kept in {}",
                e.seq, r.bytes, r.sha256, r.side_file
            ),
            Body::Signature(rec) => match sign::check(rec, &entries) {
                Err(why) => {
                    bad += 1;
                    println!("signature #{}: BAD: {why}", e.seq);
                }
                Ok(key) => {
                    let who = match &allowed {
                        None => format!(
                            "{} {} (no allowed-signers list given: the key is not vouched for)",
                            rec.fingerprint, rec.comment
                        ),
                        Some(list) => {
                            let p = sign::principals(list, &key);
                            if p.is_empty() {
                                bad += 1;
                                format!("{} {}: NOT ALLOWED (the key is not in the allowed-signers list for {})", rec.fingerprint, rec.comment, sign::NAMESPACE)
                            } else {
                                format!("{} ({})", p.join(", "), rec.fingerprint)
                            }
                        }
                    };
                    last_signed = last_signed.max(rec.head_seq);
                    println!(
                        "signature #{}: head #{} signed by {who}",
                        e.seq, rec.head_seq
                    );
                }
            },
            _ => {}
        }
    }
    if last_signed == 0 {
        println!("no signature");
        if allowed.is_some() {
            anyhow::bail!("journal {path}: not signed (postmortem journal sign)");
        }
    } else {
        // Records after the signed head: the signature records themselves, and anything later.
        let after = entries
            .iter()
            .filter(|e| e.seq > last_signed && !matches!(e.body, Body::Signature(_)))
            .count();
        if after > 0 {
            println!("{after} records after the last signed head #{last_signed} are not covered by a signature");
        }
    }
    if bad > 0 {
        anyhow::bail!("journal {path}: {bad} signature(s) do not hold");
    }
    Ok(0)
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Journal {
            command:
                JournalCommand::Verify {
                    path,
                    allowed_signers,
                },
        } => verify(&Journal::new(&path), allowed_signers.as_deref()),
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
        Command::Journal {
            command:
                JournalCommand::Export {
                    asciicast: _,
                    session,
                    out,
                    path,
                },
        } => {
            let entries = Journal::new(&path).read_all()?;
            let cast = crate::shell::asciicast::export(&entries, session)
                .with_context(|| format!("journal {}", path.display()))?;
            match out {
                Some(f) => {
                    std::fs::write(&f, cast)
                        .with_context(|| format!("cannot write {}", f.display()))?;
                    eprintln!("postmortem: wrote {}", f.display());
                }
                None => print!("{cast}"),
            }
            Ok(0)
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
