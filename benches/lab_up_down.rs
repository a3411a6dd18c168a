//! `lab up` then `lab down`, for 2 nodes (the contest) and 32 nodes, three times each; prints the
//! times and the 32-node run's ratio to the 2-node baseline measured in the same run.
//! Run as root: `cargo bench --bench lab_up_down`.

mod common;
use common::pm;
use std::process::Command;

fn cycle(nodes: usize) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let up = pm(&[
            "lab",
            "up",
            "--faults",
            "ip-forward,sg-bgp",
            "--nodes",
            &nodes.to_string(),
        ])
        .as_secs_f64();
        let down = pm(&["lab", "down"]).as_secs_f64();
        best = (best.0.min(up), best.1.min(down));
    }
    best
}

fn main() {
    let _ = Command::new(env!("CARGO_BIN_EXE_postmortem"))
        .args(["lab", "down"])
        .output();
    let (up2, down2) = cycle(2);
    let (up32, down32) = cycle(32);
    println!(
        "lab up:   2 nodes {up2:.2} s, 32 nodes {up32:.2} s (ratio {:.1})",
        up32 / up2
    );
    println!(
        "lab down: 2 nodes {down2:.2} s, 32 nodes {down32:.2} s (ratio {:.1})",
        down32 / down2
    );
    println!(
        "per extra node: {:.0} ms up, {:.0} ms down",
        (up32 - up2) / 30.0 * 1000.0,
        (down32 - down2) / 30.0 * 1000.0
    );
}
