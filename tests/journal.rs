//! `journal verify` catches every kind of tampering, and appends refuse a damaged journal.

mod common;
use common::*;
use std::fs;
use std::path::Path;

fn make_journal(dir: &Path) -> String {
    for args in [
        &["note", "first"][..],
        &["record", "--", "echo", "one"],
        &["note", "second"],
        &["record", "--", "sh", "-c", "echo two; exit 4"],
    ] {
        pm(dir, args);
    }
    let text = fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 5, "run record + 4");
    text
}

fn verify(dir: &Path) -> (bool, String) {
    let o = pm(dir, &["journal", "verify", "journal.jsonl"]);
    (o.status.success(), stderr(&o) + &stdout(&o))
}

#[test]
fn intact_journal_verifies() {
    let d = tempdir();
    make_journal(d.path());
    let (ok, msg) = verify(d.path());
    assert!(ok, "{msg}");
    assert!(msg.contains("5 records, chain intact"), "{msg}");
}

#[test]
fn edited_byte_is_caught() {
    let d = tempdir();
    let text = make_journal(d.path());
    let pos = text.find("\"one\\n\"").expect("recorded output") + 2;
    let mut bytes = text.into_bytes();
    bytes[pos] = b'X'; // "one" -> "Xne"
    fs::write(d.path().join("journal.jsonl"), bytes).unwrap();
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(msg.contains("line 3:"), "{msg}");
}

#[test]
fn edited_last_record_is_caught() {
    let d = tempdir();
    let text = make_journal(d.path());
    fs::write(
        d.path().join("journal.jsonl"),
        text.replace("exit 4", "exit 0"),
    )
    .unwrap();
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(msg.contains("line 5:") && msg.contains("hash"), "{msg}");
}

#[test]
fn deleted_line_is_caught() {
    let d = tempdir();
    let text = make_journal(d.path());
    let lines: Vec<&str> = text.lines().collect();
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| *l)
        .collect();
    fs::write(d.path().join("journal.jsonl"), kept.join("\n") + "\n").unwrap();
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(msg.contains("line 3:"), "{msg}");
}

#[test]
fn swapped_pair_is_caught() {
    let d = tempdir();
    let text = make_journal(d.path());
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    fs::write(d.path().join("journal.jsonl"), lines.join("\n") + "\n").unwrap();
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(msg.contains("line 2:"), "{msg}");
}

#[test]
fn appended_forged_line_is_caught() {
    let d = tempdir();
    let text = make_journal(d.path());
    // A forger copies an earlier record, changes its words and gives it the next number.
    let forged = text
        .lines()
        .nth(1)
        .unwrap()
        .replace("\"seq\":2", "\"seq\":6")
        .replace("first", "all fine");
    fs::write(d.path().join("journal.jsonl"), format!("{text}{forged}\n")).unwrap();
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(msg.contains("line 6:"), "{msg}");
}

#[test]
fn inserted_line_is_caught() {
    let d = tempdir();
    let text = make_journal(d.path());
    let mut lines: Vec<&str> = text.lines().collect();
    let copy = lines[3];
    lines.insert(3, copy);
    fs::write(d.path().join("journal.jsonl"), lines.join("\n") + "\n").unwrap();
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(msg.contains("line 5:"), "{msg}");
}

#[test]
fn append_refuses_a_torn_last_line_and_keeps_the_file() {
    let d = tempdir();
    let text = make_journal(d.path());
    let torn = format!("{text}{{\"kind\":\"note\",\"te");
    fs::write(d.path().join("journal.jsonl"), &torn).unwrap();
    let o = pm(d.path(), &["note", "after the crash"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("incomplete"), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(d.path().join("journal.jsonl")).unwrap(),
        torn
    );
    let (ok, msg) = verify(d.path());
    assert!(!ok);
    assert!(
        msg.contains("line 6:") && msg.contains("incomplete"),
        "{msg}"
    );
}

#[test]
fn record_keeps_exit_status_signal_and_streams_apart() {
    let d = tempdir();
    let o = pm(
        d.path(),
        &[
            "record",
            "--host",
            "h1",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n", "output is streamed through");
    let o = pm(d.path(), &["record", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15));
    let o = pm(d.path(), &["record", "--", "/nonexistent/cmd"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("cannot run"), "{}", stderr(&o));
    let text = fs::read_to_string(d.path().join("journal.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs[1]["host"], "h1");
    assert_eq!(recs[1]["stdout"]["text"], "out\n");
    assert_eq!(recs[1]["stderr"]["text"], "err\n");
    assert_eq!(recs[1]["outcome"]["exited"]["code"], 7);
    assert_eq!(recs[2]["outcome"]["signaled"]["name"], "SIGTERM");
    assert!(recs[3]["outcome"]["failed"]["message"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/cmd"));
    for r in &recs[1..] {
        let started = chrono_like(r["started_at"].as_str().unwrap());
        assert!(started, "times carry their UTC offset: {}", r["started_at"]);
    }
}

fn chrono_like(s: &str) -> bool {
    // 2026-11-26T20:19:05.436+00:00
    s.len() == 29
        && &s[10..11] == "T"
        && (s.ends_with(":00") || s.ends_with(":30") || s.ends_with(":45"))
        && (s.as_bytes()[23] == b'+' || s.as_bytes()[23] == b'-')
}
