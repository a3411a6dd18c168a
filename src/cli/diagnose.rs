//! `diagnose`: the causes the latest collection supports.

use super::*;

pub(super) fn print_diagnosis(d: &crate::diagnose::Diagnosis) {
    if d.causes.is_empty() {
        println!("no known cause holds in this evidence");
    }
    for c in &d.causes {
        println!(
            "cause {} (phase {}): {}",
            c.id,
            c.phase,
            c.title.get("en").cloned().unwrap_or_default()
        );
        for l in &c.chain {
            let recs: Vec<String> = l.records.iter().map(|r| format!("#{r}")).collect();
            println!(
                "  -> {} [{}]",
                l.text.get("en").cloned().unwrap_or_default(),
                recs.join(" ")
            );
            for o in &l.observed {
                println!("       {o}");
            }
        }
    }
    for a in &d.ruled_out {
        println!("ruled out: {} ({})", a.id, a.observed.join("; "));
    }
    for a in &d.not_ruled_out {
        println!("not ruled out: {}", a.id);
    }
    for u in &d.unexplained {
        println!("UNEXPLAINED: {} on {}: {}", u.probe, u.host, u.summary);
    }
    for m in &d.missing {
        println!(
            "missing evidence: {}{}: {}",
            m.probe,
            if m.host.is_empty() {
                String::new()
            } else {
                format!(" on {}", m.host)
            },
            m.message
        );
    }
}

pub(super) fn run(c: Command) -> Result<i32> {
    match c {
        Command::Diagnose { journal, json } => {
            let journal = Journal::new(journal.journal);
            let (entries, seq, sc, _) = latest_collection(&journal)?;
            let d = crate::diagnose::diagnose(&sc, &entries, seq);
            let value = d.to_json(&sc);
            journal.append(
                &crate::journal::now(),
                &Body::Diagnosis(crate::journal::DiagnosisRecord {
                    scenario: sc.id.clone(),
                    collection: seq,
                    result: value.clone(),
                }),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_diagnosis(&d);
            }
            Ok(if d.unexplained.is_empty() { 0 } else { 4 })
        }
        _ => unreachable!("dispatched by its variant"),
    }
}
