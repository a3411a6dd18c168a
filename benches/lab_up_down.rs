//! `lab up` then `lab down`, for 2 nodes (the contest) and 32 nodes: as found (three times each:
//! only server01 boots) and `--deployed` (once each: the VMs boot, the lab's kubespray runs for
//! real, and `lab up` returns only once every VM answers SSH and every BGP session that can is
//! established). Prints the times and the 32-node run's ratio to the 2-node baseline measured in
//! the same run. Run as root: `cargo bench --bench lab_up_down`.

mod common;
use common::pm;
use std::process::Command;

fn cycle(nodes: usize, deployed: bool, times: usize) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    let n = nodes.to_string();
    let mut args = vec!["lab", "up", "--faults", "sg-bgp", "--nodes", &n];
    if deployed {
        args[3] = "none";
        args.push("--deployed");
    }
    for _ in 0..times {
        let up = pm(&args).as_secs_f64();
        let down = pm(&["lab", "down"]).as_secs_f64();
        best = (best.0.min(up), best.1.min(down));
    }
    best
}

fn main() {
    let _ = Command::new(env!("CARGO_BIN_EXE_postmortem"))
        .args(["lab", "down"])
        .output();
    for (deployed, times, label) in [(false, 3, "as found"), (true, 1, "--deployed")] {
        let (up2, down2) = cycle(2, deployed, times);
        let (up32, down32) = cycle(32, deployed, times);
        println!(
            "lab up {label}:   2 nodes {up2:.2} s, 32 nodes {up32:.2} s (ratio {:.1})",
            up32 / up2
        );
        println!(
            "lab down {label}: 2 nodes {down2:.2} s, 32 nodes {down32:.2} s (ratio {:.1})",
            down32 / down2
        );
        println!(
            "per extra node {label}: {:.0} ms up, {:.0} ms down",
            (up32 - up2) / 30.0 * 1000.0,
            (down32 - down2) / 30.0 * 1000.0
        );
    }
}
