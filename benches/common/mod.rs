//! Shared by the benchmarks.
#![allow(dead_code)]

use std::process::Command;

/// Run postmortem; a failure ends the benchmark with its stderr.
pub fn pm(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_postmortem"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "postmortem {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}
