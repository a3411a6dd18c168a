//! `run --apply` on the lab as found (VMs SHUTOFF, both faults), wall time next to its floor: the
//! waits the world imposes and no tool can remove. Those are, per collection, its longest command
//! (the apt timeout, a ping's timeout, a BGP session that is not up yet); the fix commands; and
//! each step of the task from its first command to its last evidence (a VM booting until sshd
//! answers, kubespray's own run). Run as root: `cargo bench --bench run_lab`.

mod common;
use common::pm;

use chrono::DateTime;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

fn secs(a: &str, b: &str) -> f64 {
    let a = DateTime::parse_from_rfc3339(a).unwrap();
    let b = DateTime::parse_from_rfc3339(b).unwrap();
    (b - a).num_milliseconds() as f64 / 1000.0
}

fn main() {
    for run in 1..=2 {
        pm(&["lab", "up"]);
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
        let (mut collections_floor, mut fixes, mut longest) = (0.0, 0.0, 0.0f64);
        let mut collections = 0;
        // step id → (first start, last end)
        let mut steps: BTreeMap<String, (String, String)> = BTreeMap::new();
        for r in &recs {
            match r["kind"].as_str() {
                Some("scenario") => {
                    collections_floor += longest;
                    longest = 0.0;
                    collections += 1;
                }
                Some("evidence") => {
                    let d = r["duration_ms"].as_f64().unwrap() / 1000.0;
                    let probe = r["probe"].as_str().unwrap_or("");
                    if probe.starts_with("fix:") {
                        fixes += d;
                    } else if let Some(id) = probe.strip_prefix("step:") {
                        let (s, e) = (
                            r["started_at"].as_str().unwrap(),
                            r["ended_at"].as_str().unwrap(),
                        );
                        let span = steps
                            .entry(id.to_string())
                            .or_insert((s.to_string(), e.to_string()));
                        span.1 = e.to_string();
                    } else if !probe.starts_with("constraint:") {
                        longest = longest.max(d);
                    }
                }
                _ => {}
            }
        }
        collections_floor += longest;
        let step_floor: f64 = steps.values().map(|(s, e)| secs(s, e)).sum();
        let floor = collections_floor + fixes + step_floor;
        println!(
            "run --apply {run}: {wall:.2} s for {collections} collections, the fixes and {} steps; floor {floor:.2} s \
             (collections {collections_floor:.2}, fixes {fixes:.2}, steps {step_floor:.2}: {}); ratio {:.2}",
            steps.len(),
            steps.iter().map(|(k, (s, e))| format!("{k} {:.1}", secs(s, e))).collect::<Vec<_>>().join(", "),
            wall / floor
        );
        pm(&["lab", "down"]);
    }
}
