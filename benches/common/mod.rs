//! Shared by the benchmarks.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// Run postmortem; a failure ends the benchmark with its stderr. How long it took.
pub fn pm(args: &[&str]) -> Duration {
    let t0 = Instant::now();
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
    t0.elapsed()
}
