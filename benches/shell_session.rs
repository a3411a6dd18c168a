//! `postmortem shell` against the same shell without it, both in a real pseudo-terminal,
//! measured in the same run:
//! - the time from Enter to the next prompt for `true`, median of many (the added latency per
//!   command: integration marks, the record's fsync before the prompt is shown, the relay);
//! - `cat` of a 200 MiB file, Enter to the next prompt (throughput, as a ratio);
//! - the tool's peak RSS after 20 MiB and after 200 MiB of output (bounded by the cap).
//!
//! Two relays are measured beside it, in the same run, to show what a second pseudo-terminal
//! costs by itself: util-linux `script`, and this bench's own bare relay (re-run as a child:
//! a pty, one thread reading and writing what it read, no marks, no records), the tool's
//! architecture with the recording taken out.
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
/// pseudo-terminal that does nothing else), the bare relay below, or postmortem.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Bash,
    Script,
    Bare,
    Postmortem,
}

/// Set in the environment of this bench run again as the bare relay.
const RELAY: &str = "SHELL_SESSION_BARE_RELAY";

/// The bare relay: `bash -i` on a pty of its own, this terminal in raw mode, input copied in
/// from a thread, output read and written back in this one, as the tool does, and nothing else.
fn bare_relay() -> ! {
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        libc::ioctl(0, libc::TIOCGWINSZ, &mut ws);
        let (mut m, mut s) = (-1, -1);
        assert_eq!(
            libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws),
            0
        );
        libc::fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(s, libc::F_SETFD, libc::FD_CLOEXEC);
        let mut cmd = std::process::Command::new("/bin/bash");
        cmd.arg("-i").env_remove(RELAY);
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(s, libc::TIOCSCTTY, 0);
            for fd in 0..3 {
                libc::dup2(s, fd);
            }
            Ok(())
        });
        let mut child = cmd.spawn().unwrap();
        libc::close(s);
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(0, &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(0, libc::TCSADRAIN, &t);
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = libc::read(0, buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 || libc::write(m, buf.as_ptr().cast(), n as usize) != n {
                    break;
                }
            }
        });
        let mut out =
            std::mem::ManuallyDrop::new(<std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(1));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = libc::read(m, buf.as_mut_ptr().cast(), buf.len());
            if n <= 0 {
                break;
            }
            let _ = out.write_all(&buf[..n as usize]);
        }
        let code = child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
        std::process::exit(code)
    }
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
        Via::Bare => {
            let me = std::env::current_exe().unwrap();
            let env = [env[0], env[1], env[2], (RELAY, "1")];
            Term::spawn(&me, &[], &env, dir, size)
        }
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
    if std::env::var_os(RELAY).is_some() {
        bare_relay();
    }
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
    let mut bare_s = Vec::new();
    let mut rec_s = Vec::new();
    let mut with = Vec::new();
    for _ in 0..5 {
        plain_s.push(cat(d, Via::Bash, &[&big])[0].0);
        script_s.push(cat(d, Via::Script, &[&big])[0].0);
        bare_s.push(cat(d, Via::Bare, &[&big])[0].0);
        with = cat(d, Via::Postmortem, &[&small, &big]);
        rec_s.push(with[1].0);
    }
    let (p, sc, b, r) = (
        median(plain_s.clone()),
        median(script_s.clone()),
        median(bare_s.clone()),
        median(rec_s.clone()),
    );
    let ratio = p / r;
    println!(
        "cat of 200 MiB, median of 5: bash {p:.2} s ({:.0} MiB/s), recorded {r:.2} s ({:.0} MiB/s): {ratio:.2}x of the throughput without the tool; \
         through util-linux script {sc:.2} s: {:.2}x; through the bare relay {b:.2} s: {:.2}x; the tool against the bare relay: {:.2}x \
         (runs: bash {plain_s:.2?} / script {script_s:.2?} / bare {bare_s:.2?} / tool {rec_s:.2?})",
        200.0 / p,
        200.0 / r,
        p / sc,
        p / b,
        b / r
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
