//! A recorded shell session as asciicast v2 (asciinema's format: a JSON header line, then one
//! `[seconds, "o", text]` event per line), built from the journal alone.
//!
//! What it shows is what the journal holds: each command at its prompt (`host:cwd$ `), typed at
//! the time it started, its output (as kept: redacted, escape sequences gone, full-screen
//! programs counted) at the time it ended, and the notes written during the session. It cannot
//! show colours, typing speed or a full-screen program's screen: those were never recorded.

use crate::journal::{Body, Entry};
use anyhow::{bail, Result};
use serde_json::json;

fn seconds(at: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The sessions a journal holds: the seq of each `started` record.
pub fn sessions(entries: &[Entry]) -> Vec<u64> {
    entries
        .iter()
        .filter(|e| matches!(&e.body, Body::Session(s) if s.stage == "started"))
        .map(|e| e.seq)
        .collect()
}

/// Session `session` (the seq of its `started` record; the last session when `None`) as an
/// asciicast v2 file.
pub fn export(entries: &[Entry], session: Option<u64>) -> Result<String> {
    let all = sessions(entries);
    let Some(id) = session.or_else(|| all.last().copied()) else {
        bail!("the journal holds no recorded shell session (postmortem shell records one)");
    };
    let Some(start) = entries.iter().find(|e| e.seq == id) else {
        bail!("no record #{id} in the journal");
    };
    let Body::Session(s) = &start.body else {
        bail!(
            "record #{id} is not a shell session; sessions: {}",
            all.iter()
                .map(|n| format!("#{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let t0 = seconds(&start.at).unwrap_or(0.0);
    let header = json!({
        "version": 2,
        "width": s.cols.max(1),
        "height": s.rows.max(1),
        "timestamp": t0 as i64,
        "title": format!("postmortem shell #{id} on {}", s.host),
        "env": { "TERM": s.term },
    });
    let mut out = header.to_string();
    out.push('\n');
    let mut last = 0.0f64;
    let mut event = |at: Option<f64>, text: String, out: &mut String| {
        let t = at.map(|a| (a - t0).max(last)).unwrap_or(last);
        last = t;
        out.push_str(&json!([(t * 1000.0).round() / 1000.0, "o", text]).to_string());
        out.push('\n');
    };
    let mut cwd = String::new();
    for e in entries.iter().filter(|e| e.seq > id) {
        match &e.body {
            Body::Session(end) if end.started == Some(id) => break,
            Body::Evidence(ev) if ev.session == Some(id) => {
                if let Some(c) = &ev.cwd {
                    cwd = c.clone();
                }
                let prompt = format!("{}:{}$ ", ev.host, cwd);
                event(
                    seconds(&ev.started_at),
                    format!("{prompt}{}\r\n", crlf(&ev.command)),
                    &mut out,
                );
                if !ev.stdout.text.is_empty() {
                    event(seconds(&ev.ended_at), crlf(&ev.stdout.text), &mut out);
                }
            }
            Body::Note(n) => event(
                seconds(&e.at),
                format!("{}:{}$ #note: {}\r\n", s.host, cwd, crlf(&n.text)),
                &mut out,
            ),
            _ => {}
        }
    }
    Ok(out)
}
