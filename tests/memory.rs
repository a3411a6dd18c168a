//! Recording a command that prints far more than the cap keeps memory bounded.
//! Measured as the peak resident set of the `postmortem record` process (getrusage of the
//! waited-for child, the kernel's own high-water mark), not by timing.

mod common;
use common::*;
use std::process::{Command, Stdio};

/// Peak RSS in KiB of one `postmortem record` run printing `mib` MiB.
fn peak_rss_kib(mib: u64) -> i64 {
    let d = tempdir();
    let script = format!(
        "yes 'all work and no play makes jack a dull boy' | head -c {}",
        mib * 1024 * 1024
    );
    let mut child = Command::new(bin())
        .current_dir(d.path())
        .args(["record", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 gives the resource usage of exactly this child (and its waited-for children).
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    let _ = child.try_wait();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "record failed"
    );
    let journal = std::fs::read_to_string(d.path().join("journal.jsonl")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(journal.lines().nth(1).unwrap()).unwrap();
    assert_eq!(rec["stdout"]["bytes"], mib * 1024 * 1024);
    if mib > 4 {
        assert!(rec["stdout"]["omitted"].as_u64().unwrap() > 0);
        assert!(rec["stdout"]["text"]
            .as_str()
            .unwrap()
            .contains("bytes omitted here"));
    }
    usage.ru_maxrss
}

#[test]
fn record_of_200_mib_keeps_peak_rss_bounded() {
    let small = peak_rss_kib(1);
    let big = peak_rss_kib(200);
    eprintln!("peak RSS: 1 MiB output -> {small} KiB, 200 MiB output -> {big} KiB");
    // The cap is 4 MiB per stream; the text, its JSON and the redaction passes are a few copies of
    // that. 200 MiB held in memory would be far above this bound.
    assert!(big < 64 * 1024, "peak RSS {big} KiB for 200 MiB of output");
    assert!(
        big < small + 48 * 1024,
        "peak RSS grew from {small} KiB to {big} KiB"
    );
}
