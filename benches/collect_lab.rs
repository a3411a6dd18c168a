//! A whole collection on the lab: (1) the contest's state with both phases visible (`--deployed`,
//! 2 nodes), wall time next to the sum of its commands' own durations (what running them one
//! after another would take, without even connecting) and the longest one (the floor for any
//! parallel collection); (2) 32 nodes, collected at once, 5, 10 and 30 s after `lab up` returns,
//! counting missing evidence (a lab that is steady on return misses nothing at any start). For
//! each collection: the probes by their slowest command, slowest first, and the ratio of the
//! whole collection to its slowest single command (1.0 would be a perfectly parallel collection;
//! a probe whose time grows with the nodes shows here first).
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

/// The probes by their slowest command (seconds), slowest first, and the whole's ratio to the
/// slowest command.
fn per_probe(recs: &[serde_json::Value], wall: f64) -> String {
    let mut by: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
    for r in recs.iter().filter(|r| r["kind"] == "evidence") {
        let name = r["probe"].as_str().unwrap_or("(no probe)").to_string();
        let d = r["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
        let e = by.entry(name).or_default();
        e.0 = e.0.max(d);
        e.1 += 1;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    let slowest = v.first().map(|x| x.1 .0).unwrap_or(f64::NAN);
    let top: Vec<String> = v
        .iter()
        .take(6)
        .map(|(n, (d, c))| format!("{n} {d:.2} s (x{c})"))
        .collect();
    format!(
        "whole / slowest command = {:.2}; slowest probes: {}",
        wall / slowest,
        top.join(", ")
    )
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
        println!("  {}", per_probe(&recs, wall));
    }
    for delay in [0u64, 5, 10, 30] {
        pm(&["lab", "up", "--deployed", "--nodes", "32"]);
        std::thread::sleep(Duration::from_secs(delay));
        let j = dir.path().join(format!("journal32-{delay}.jsonl"));
        let (wall, recs) = collect(&j);
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
        println!("  {}", per_probe(&recs, wall));
    }
    pm(&["lab", "down"]);
}
