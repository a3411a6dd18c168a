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

/// A small tmpfs of its own (as root), unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn new(size: &str) -> Self {
        let dir = tempdir();
        let o = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mount a tmpfs (needs root): {}",
            stderr(&o)
        );
        Tmpfs { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A journal in `dir` whose last line was torn by an interrupted write: its path and bytes.
fn torn_journal(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    make_journal(dir);
    let j = dir.join("journal.jsonl");
    let mut text = fs::read(&j).unwrap();
    text.extend_from_slice(b"{\"partial");
    fs::write(&j, &text).unwrap();
    (j, text)
}

/// The rescue file an error names (relative to `dir`, where the writer ran): its text; removed.
fn take_rescued(dir: &Path, err: &str) -> String {
    let path = err
        .split("the record was kept in ")
        .nth(1)
        .and_then(|r| r.split(" (the journal").next())
        .unwrap_or_else(|| panic!("no rescue file named: {err}"));
    let path = dir.join(path);
    let text = fs::read_to_string(&path).unwrap();
    let _ = fs::remove_file(&path);
    text
}

/// `record` in `dir` with an environment of its own; the command touches `marker`.
fn record_touching(
    dir: &Path,
    marker: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut c = std::process::Command::new(bin());
    c.current_dir(dir)
        .env_remove("POSTMORTEM_JOURNAL")
        .args(["record"])
        .args(extra)
        .args([
            "--",
            "sh",
            "-c",
            &format!("echo evidence-XYZ; touch {}", marker.display()),
        ]);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn record_checks_the_journal_before_it_runs_the_command() {
    let other = tempdir();
    let marker = other.path().join("ran");

    // A torn last line: refused before the command runs.
    let d = tempdir();
    let (j, text) = torn_journal(d.path());
    let o = record_touching(d.path(), &marker, &[], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("incomplete"), "{}", stderr(&o));
    assert!(
        !marker.exists(),
        "the command ran although its evidence could not be kept"
    );
    assert_eq!(fs::read(&j).unwrap(), text);

    // A read-only file system.
    let t = Tmpfs::new("1m");
    pm(t.path(), &["note", "before"]);
    let o = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(t.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = record_touching(t.path(), &marker, &[], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!marker.exists());
    drop(t);

    // A lock held by another process: a bounded wait, then a clear error.
    let d = tempdir();
    pm(d.path(), &["note", "before"]);
    let mut holder = std::process::Command::new("flock")
        .arg(d.path().join("journal.jsonl"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    let o = record_touching(d.path(), &marker, &[], &[("POSTMORTEM_LOCK_WAIT", "1")]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("another process holds its lock"),
        "{}",
        stderr(&o)
    );
    assert!(t0.elapsed().as_secs() < 10, "the wait is bounded");
    assert!(!marker.exists());

    // No room for the record.
    let t = Tmpfs::new("256k");
    pm(t.path(), &["note", "before"]);
    let filler = t.path().join("filler");
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 250000 /dev/zero > {} 2>/dev/null",
            filler.display()
        ))
        .status();
    let o = record_touching(t.path(), &marker, &["--cap", "4096"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bytes free"), "{}", stderr(&o));
    assert!(!marker.exists());
}

#[test]
fn a_disk_that_fills_during_record_leaves_the_journal_as_it_was_and_keeps_the_evidence() {
    let t = Tmpfs::new("512k");
    pm(t.path(), &["note", "before"]);
    let j = t.path().join("journal.jsonl");
    let before = fs::read(&j).unwrap();
    // The checks pass; then the command itself fills the disk.
    let fill = t.path().join("fill");
    let o = std::process::Command::new(bin())
        .current_dir(t.path())
        .env_remove("POSTMORTEM_JOURNAL")
        .args(["record", "--cap", "20000", "--", "sh", "-c"])
        .arg(format!(
            // More than the page the journal's last line sits in, so the append needs new room.
            "echo evidence-XYZ; head -c 15000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero > {} 2>/dev/null; true",
            fill.display()
        ))
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "a record that could not be written is a failure"
    );
    let err = stderr(&o);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        fs::read(&j).unwrap(),
        before,
        "the journal is byte-for-byte what it was"
    );
    let (ok, msg) = verify(t.path());
    assert!(ok, "{msg}");
    // The evidence is in the rescue file the error names (the journal's disk is full: elsewhere).
    let rescued = take_rescued(t.path(), &err);
    assert!(rescued.contains("evidence-XYZ"), "{rescued}");
}

#[test]
fn repair_moves_a_torn_tail_aside_and_the_chain_goes_on() {
    let d = tempdir();
    make_journal(d.path());
    let j = d.path().join("journal.jsonl");
    let o = pm(d.path(), &["journal", "repair", "journal.jsonl"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("nothing to repair"), "{}", stdout(&o));
    // An interrupted write.
    let mut text = fs::read(&j).unwrap();
    let whole = text.len();
    text.extend_from_slice(b"{\"at\":\"2026-11-27T00:00:00+00:00\",\"kind\":\"note\",\"te");
    fs::write(&j, &text).unwrap();
    assert!(!verify(d.path()).0);
    let o = pm(d.path(), &["journal", "repair", "journal.jsonl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("cut 51 bytes"), "{}", stdout(&o));
    let (ok, msg) = verify(d.path());
    assert!(ok, "{msg}");
    assert!(msg.contains("repaired at #6: 51 bytes"), "{msg}");
    assert_eq!(
        fs::read(&j).unwrap()[..whole],
        text[..whole],
        "the whole lines are untouched"
    );
    let side: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
        .collect();
    assert_eq!(side.len(), 1);
    assert_eq!(fs::read(side[0].path()).unwrap(), &text[whole..]);
    // Appends work again.
    assert!(pm(d.path(), &["note", "after the repair"]).status.success());
    assert!(verify(d.path()).0);

    // A damaged record is not a torn tail: refused, nothing changed.
    let d = tempdir();
    let text = make_journal(d.path()).replace("\"one\\n\"", "\"One\\n\"") + "{\"partial";
    fs::write(d.path().join("journal.jsonl"), &text).unwrap();
    let o = pm(d.path(), &["journal", "repair", "journal.jsonl"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("repair only moves an incomplete last line"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::read_to_string(d.path().join("journal.jsonl")).unwrap(),
        text
    );
}

#[test]
fn record_killed_at_many_points_leaves_a_journal_that_verifies_or_is_repaired() {
    let d = tempdir();
    pm(d.path(), &["note", "start"]);
    let mut repaired = 0;
    for i in 0..16u64 {
        let mut child = std::process::Command::new(bin())
            .current_dir(d.path())
            .env_remove("POSTMORTEM_JOURNAL")
            .args(["record", "--cap", "3000000", "--", "sh", "-c"])
            .arg("head -c 2500000 /dev/zero | tr '\\0' x")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20 + i * 15));
        let _ = child.kill();
        let _ = child.wait();
        if !verify(d.path()).0 {
            let o = pm(d.path(), &["journal", "repair", "journal.jsonl"]);
            assert!(o.status.success(), "{}", stderr(&o));
            repaired += 1;
        }
        let (ok, msg) = verify(d.path());
        assert!(ok, "after a kill at {} ms: {msg}", 20 + i * 15);
    }
    eprintln!("{repaired} of 16 kills needed a repair");
    assert!(pm(d.path(), &["note", "end"]).status.success());
}

/// An I/O error injected where this machine lets it be: a small LD_PRELOAD library (built here
/// with the C compiler Rust links with) makes write() or fsync() on the journal fail with EIO,
/// the way a failing disk does. (No device-mapper here for a dm-error device.) `mode`: `write`
/// (the first write lands half, the next fails), or `fsync`.
fn eio_shim(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("eio.c");
    fs::write(
        &src,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int target(int fd) {
    char p[64], t[4096];
    const char *want = getenv("EIO_PATH");
    if (!want) return 0;
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (n < 0) return 0;
    t[n] = 0;
    return strcmp(t, want) == 0;
}
static int writes;
ssize_t write(int fd, const void *b, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "write");
    const char *mode = getenv("EIO_MODE");
    if (mode && strcmp(mode, "write") == 0 && target(fd)) {
        if (writes++ == 0 && n > 1) return real(fd, b, n / 2);
        errno = EIO;
        return -1;
    }
    return real(fd, b, n);
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    const char *mode = getenv("EIO_MODE");
    if (mode && strcmp(mode, "fsync") == 0 && target(fd)) { errno = EIO; return -1; }
    return real(fd);
}
int fdatasync(int fd) { return fsync(fd); }
"#,
    )
    .unwrap();
    let lib = dir.join("eio.so");
    let o = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("cc (the C compiler Rust links with) builds the EIO shim");
    assert!(o.status.success(), "{}", stderr(&o));
    lib
}

#[test]
fn an_io_error_during_the_append_leaves_the_journal_as_it_was_and_keeps_the_evidence() {
    let shim_dir = tempdir();
    let shim = eio_shim(shim_dir.path());
    for mode in ["write", "fsync"] {
        let d = tempdir();
        pm(d.path(), &["note", "before"]);
        let j = fs::canonicalize(d.path().join("journal.jsonl")).unwrap();
        let before = fs::read(&j).unwrap();
        let o = std::process::Command::new(bin())
            .current_dir(d.path())
            .env_remove("POSTMORTEM_JOURNAL")
            .env("LD_PRELOAD", &shim)
            .env("EIO_PATH", &j)
            .env("EIO_MODE", mode)
            .args(["record", "--", "echo", "evidence-EIO"])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(
            !o.status.success(),
            "{mode}: a record that was not written is a failure"
        );
        assert!(err.contains("Input/output error"), "{mode}: {err}");
        assert_eq!(
            fs::read(&j).unwrap(),
            before,
            "{mode}: the journal is what it was"
        );
        let (ok, msg) = verify(d.path());
        assert!(ok, "{mode}: {msg}");
        assert!(
            take_rescued(d.path(), &err).contains("evidence-EIO"),
            "{mode}"
        );
    }
}

#[test]
fn concurrent_writers_each_land_whole_and_the_chain_holds() {
    let d = tempdir();
    pm(d.path(), &["note", "start"]);
    let mut children = Vec::new();
    for w in 0..8 {
        children.push(
            std::process::Command::new(bin())
                .current_dir(d.path())
                .env_remove("POSTMORTEM_JOURNAL")
                .args(["record", "--", "sh", "-c"])
                .arg(format!("for i in 1 2 3; do echo writer-{w}-$i; done"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        children.push(
            std::process::Command::new(bin())
                .current_dir(d.path())
                .env_remove("POSTMORTEM_JOURNAL")
                .args(["note", &format!("note-{w}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (ok, msg) = verify(d.path());
    assert!(ok, "{msg}");
    let text = fs::read_to_string(d.path().join("journal.jsonl")).unwrap();
    assert_eq!(
        text.lines().count(),
        2 + 16,
        "run, start note, 8 records and 8 notes"
    );
    for w in 0..8 {
        assert!(text.contains(&format!("writer-{w}-3")) && text.contains(&format!("note-{w}")));
    }
}

#[test]
fn collect_fix_and_run_check_the_journal_before_they_do_anything() {
    // A journal that cannot take a record: its last line is torn.
    let d = tempdir();
    let (j, text) = torn_journal(d.path());
    // server01 points at a port nothing listens on: a writer that went ahead would say so.
    fs::write(
        d.path().join("cfg"),
        "Host *\n  HostName 127.0.0.1\n  Port 1\n  ConnectTimeout 2\n",
    )
    .unwrap();
    for args in [
        &["collect", "--ssh-config", "cfg"][..],
        &["fix", "--ssh-config", "cfg"][..],
        &["run", "--ssh-config", "cfg"][..],
    ] {
        let o = pm(d.path(), args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains("the last line is incomplete"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("127.0.0.1"),
            "{args:?} connected before checking: {err}"
        );
        assert_eq!(fs::read(&j).unwrap(), text, "{args:?} changed the journal");
    }
    // A full file system.
    let t = Tmpfs::new("256k");
    pm(t.path(), &["note", "before"]);
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 250000 /dev/zero > {}/filler 2>/dev/null",
            t.path().display()
        ))
        .status();
    fs::write(
        d.path().join("cfg2"),
        "Host *\n  HostName 127.0.0.1\n  Port 1\n",
    )
    .unwrap();
    let o = pm(
        t.path(),
        &[
            "collect",
            "--ssh-config",
            d.path().join("cfg2").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bytes free"), "{}", stderr(&o));
}
