//! A whole collection on the lab (contest faults): wall time next to the sum of its commands'
//! own durations (what running them one after another would take, without even connecting) and
//! the longest one (the floor for any parallel collection). Run as root:
//! `cargo bench --bench collect_lab`.

mod common;
use common::pm;

use std::time::Instant;

fn main() {
    pm(&["lab", "up", "--faults", "ip-forward,sg-bgp"]);
    let dir = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let j = dir.path().join(format!("journal{run}.jsonl"));
        let t0 = Instant::now();
        pm(&[
            "collect",
            "--target",
            "lab",
            "--journal",
            j.to_str().unwrap(),
        ]);
        let wall = t0.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(&j).unwrap();
        let durations: Vec<f64> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["kind"] == "evidence")
            .map(|r| r["duration_ms"].as_u64().unwrap() as f64 / 1000.0)
            .collect();
        let sum: f64 = durations.iter().sum();
        let max = durations.iter().cloned().fold(0.0, f64::max);
        println!(
            "collection {run}: {} commands in {wall:.2} s; one after another they take {sum:.2} s (ratio {:.2}); the longest alone {max:.2} s (ratio {:.2})",
            durations.len(),
            wall / sum,
            wall / max
        );
    }
    pm(&["lab", "down"]);
}
