//! `run --apply` on the lab (contest faults), wall time next to its floor: for each collection
//! its longest command (the apt timeout, the kubespray run: work no parallelism removes), plus
//! the fix commands one after another. Run as root: `cargo bench --bench run_lab`.

mod common;
use common::pm;

use serde_json::Value;
use std::time::Instant;

fn main() {
    for run in 1..=2 {
        pm(&["lab", "up", "--faults", "ip-forward,sg-bgp"]);
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("journal.jsonl");
        let t0 = Instant::now();
        pm(&[
            "run",
            "--apply",
            "--yes",
            "--target",
            "lab",
            "--journal",
            j.to_str().unwrap(),
        ]);
        let wall = t0.elapsed().as_secs_f64();
        let recs: Vec<Value> = std::fs::read_to_string(&j)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut floor = 0.0;
        let mut longest: f64 = 0.0;
        let mut collections = 0;
        for r in &recs {
            match r["kind"].as_str() {
                Some("scenario") => {
                    floor += longest;
                    longest = 0.0;
                    collections += 1;
                }
                Some("evidence") => {
                    let d = r["duration_ms"].as_f64().unwrap() / 1000.0;
                    if r["probe"].as_str().is_some_and(|p| p.starts_with("fix:")) {
                        floor += d;
                    } else {
                        longest = longest.max(d);
                    }
                }
                _ => {}
            }
        }
        floor += longest;
        println!(
            "run --apply {run}: {wall:.2} s for {collections} collections and the fixes; floor {floor:.2} s (ratio {:.2})",
            wall / floor
        );
        pm(&["lab", "down"]);
    }
}
