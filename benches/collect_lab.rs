//! A whole collection on the lab: (1) the contest's state with both phases visible (`--deployed`,
//! 2 nodes), wall time next to the sum of its commands' own durations (what running them one
//! after another would take, without even connecting) and the longest one (the floor for any
//! parallel collection); (2) 32 nodes, collected at once, 5, 10 and 30 s after `lab up` returns,
//! counting missing evidence (a lab that is steady on return misses nothing at any start).
//! Run as root: `cargo bench --bench collect_lab`.

mod common;
use common::pm;

use std::time::{Duration, Instant};

fn collect(j: &std::path::Path) -> (f64, Vec<serde_json::Value>) {
    let t0 = Instant::now();
    pm(&[
        "collect",
        "--target",
        "lab",
        "--journal",
        j.to_str().unwrap(),
    ]);
    let wall = t0.elapsed().as_secs_f64();
    let recs = std::fs::read_to_string(j)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    (wall, recs)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    pm(&["lab", "up", "--deployed"]);
    for run in 1..=2 {
        let (wall, recs) = collect(&dir.path().join(format!("journal{run}.jsonl")));
        let durations: Vec<f64> = recs
            .iter()
            .filter(|r| r["kind"] == "evidence")
            .map(|r| r["duration_ms"].as_u64().unwrap() as f64 / 1000.0)
            .collect();
        let sum: f64 = durations.iter().sum();
        let max = durations.iter().cloned().fold(0.0, f64::max);
        println!(
            "2 nodes, collection {run}: {} commands in {wall:.2} s; one after another they take {sum:.2} s (ratio {:.2}); the longest alone {max:.2} s (ratio {:.2})",
            durations.len(),
            wall / sum,
            wall / max
        );
    }
    for delay in [0u64, 5, 10, 30] {
        pm(&["lab", "up", "--deployed", "--nodes", "32"]);
        std::thread::sleep(Duration::from_secs(delay));
        let j = dir.path().join(format!("journal32-{delay}.jsonl"));
        let (wall, _) = collect(&j);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_postmortem"))
            .args(["diagnose", "--json", "--journal", j.to_str().unwrap()])
            .output()
            .unwrap();
        let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let missing = d["missing"].as_array().map(Vec::len).unwrap_or(0);
        println!(
            "32 nodes, collected {delay} s after lab up returned: {wall:.2} s, {missing} item(s) of evidence missing{}",
            d["missing"].as_array().and_then(|a| a.first()).map(|m| format!(" (first: {m})")).unwrap_or_default()
        );
    }
    pm(&["lab", "down"]);
}
