//! `postmortem shell` against the same shell without it, both in a real pseudo-terminal,
//! measured in the same run:
//! - the time from Enter to the next prompt for `true`, median of many (the added latency per
//!   command: integration marks, the record's fsync before the prompt is shown, the relay);
//! - `cat` of a 200 MiB file, Enter to the next prompt (throughput, as a ratio);
//! - the tool's peak RSS after 20 MiB and after 200 MiB of output (bounded by the cap).
//!
//! Exits non-zero when the median latency added is over 5 ms or throughput under 0.8x.
//! Run: `cargo bench --bench shell_session`.

#[path = "../tests/common/pty.rs"]
mod pty;

use pty::Term;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const PROMPT: &[u8] = b"pm$ ";

/// Read until the prompt shows, keeping only the last bytes (the output may be huge).
fn until_prompt(t: &mut Term) {
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = t.read_some(Duration::from_secs(60));
        assert!(n.is_some(), "the session ended");
        let new = std::mem::take(&mut t.seen);
        tail.extend_from_slice(&new[new.len().saturating_sub(64)..]);
        if tail.windows(PROMPT.len()).any(|w| w == PROMPT) {
            return;
        }
        let keep = tail.len().saturating_sub(PROMPT.len());
        tail.drain(..keep);
    }
}

/// What runs the shell: bash alone, util-linux `script` (a relay through a second
/// pseudo-terminal that does nothing else: the reference for the architecture), or postmortem.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Bash,
    Script,
    Postmortem,
}

fn start(dir: &Path, via: Via) -> Term {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".bashrc"), "PS1='pm$ '\n").unwrap();
    let env = [
        ("SHELL", "/bin/bash"),
        ("HOME", home.to_str().unwrap()),
        ("TERM", "xterm-256color"),
    ];
    let bin = Path::new(env!("CARGO_BIN_EXE_postmortem"));
    let size = (120, 40);
    let mut t = match via {
        Via::Postmortem => Term::spawn(bin, &["shell", "--journal", "j.jsonl"], &env, dir, size),
        Via::Script => Term::spawn(
            Path::new("/usr/bin/script"),
            &["-q", "-c", "/bin/bash -i", "/dev/null"],
            &env,
            dir,
            size,
        ),
        Via::Bash => Term::spawn(Path::new("/bin/bash"), &["-i"], &env, dir, size),
    };
    until_prompt(&mut t);
    t
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn latency(dir: &Path, via: Via, n: usize) -> f64 {
    let mut t = start(dir, via);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        t.send("true\r");
        until_prompt(&mut t);
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    t.send("exit\r");
    t.wait();
    median(times)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Seconds to `cat` each file, and the tool's peak RSS after each.
fn cat(dir: &Path, via: Via, files: &[&Path]) -> Vec<(f64, u64)> {
    let mut t = start(dir, via);
    let mut out = Vec::new();
    for f in files {
        let t0 = Instant::now();
        t.send(&format!("cat {}\r", f.display()));
        until_prompt(&mut t);
        out.push((t0.elapsed().as_secs_f64(), peak_rss_kib(t.child.id())));
    }
    t.send("exit\r");
    t.wait();
    out
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let line = "x".repeat(99) + "\n";
    let write = |name: &str, mib: usize| {
        let p = d.join(name);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        for _ in 0..(mib << 20) / line.len() {
            f.write_all(line.as_bytes()).unwrap();
        }
        p
    };
    let small = write("20mib", 20);
    let big = write("200mib", 200);

    let n = 300;
    // Warm up both (page cache, the binary), then measure.
    latency(d, Via::Bash, 20);
    latency(d, Via::Postmortem, 20);
    let plain = latency(d, Via::Bash, n);
    let rec = latency(d, Via::Postmortem, n);
    let added = rec - plain;
    println!(
        "latency, Enter to the next prompt, median of {n}: bash {plain:.2} ms, recorded {rec:.2} ms: {added:+.2} ms added (ratio {:.2})",
        rec / plain
    );

    // Five rounds, each with and without the tool, one after the other: medians.
    let mut plain_s = Vec::new();
    let mut script_s = Vec::new();
    let mut rec_s = Vec::new();
    let mut with = Vec::new();
    for _ in 0..5 {
        plain_s.push(cat(d, Via::Bash, &[&big])[0].0);
        script_s.push(cat(d, Via::Script, &[&big])[0].0);
        with = cat(d, Via::Postmortem, &[&small, &big]);
        rec_s.push(with[1].0);
    }
    let (p, sc, r) = (
        median(plain_s.clone()),
        median(script_s.clone()),
        median(rec_s.clone()),
    );
    let ratio = p / r;
    println!(
        "cat of 200 MiB, median of 5: bash {p:.2} s ({:.0} MiB/s), recorded {r:.2} s ({:.0} MiB/s): {ratio:.2}x of the throughput without the tool; \
         through util-linux script (a bare relay) {sc:.2} s: {:.2}x (runs: {plain_s:.2?} / {script_s:.2?} / {rec_s:.2?})",
        200.0 / p,
        200.0 / r,
        p / sc
    );
    println!(
        "the tool's peak RSS: {} KiB after 20 MiB of output, {} KiB after 200 MiB more (ratio {:.2}; each record keeps at most the cap, 4 MiB)",
        with[0].1,
        with[1].1,
        with[1].1 as f64 / with[0].1 as f64
    );
    let mut bad = false;
    if added > 5.0 {
        println!("FAIL: more than 5 ms added per command");
        bad = true;
    }
    if ratio < 0.8 {
        println!("FAIL: under 0.8x of the throughput");
        bad = true;
    }
    if bad {
        std::process::exit(1);
    }
}
