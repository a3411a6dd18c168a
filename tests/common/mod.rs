//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_postmortem"))
}

/// Run postmortem in `dir` with `args`; the journal is `dir/journal.jsonl` unless args say otherwise.
pub fn pm(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("POSTMORTEM_JOURNAL")
        .env_remove("POSTMORTEM_SECRETS_FILE")
        .args(args)
        .output()
        .expect("run postmortem")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A tool the test cannot do without: a missing one fails the test loudly, never skips it.
pub fn require(tool: &str, how: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is needed by this test and is not installed: {how}"
    );
}

/// typst is found on PATH or in ~/.cargo/bin (where `cargo install` puts it).
pub fn require_typst() {
    let home_typst = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/typst"));
    if home_typst.as_ref().is_some_and(|p| p.is_file()) {
        return;
    }
    require(
        "typst",
        "run scripts/install-deps.sh (cargo install --locked typst-cli)",
    );
}

pub fn pdftotext(pdf: &Path) -> String {
    require("pdftotext", "apt-get install -y poppler-utils");
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(
        out.status.success(),
        "pdftotext failed on {}: {}",
        pdf.display(),
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Render Markdown as GitHub-flavoured Markdown with hard line breaks (remark-gfm + remark-breaks).
pub fn remark(md: &Path) -> String {
    require("node", "apt-get install -y nodejs npm");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remark");
    assert!(
        dir.join("node_modules/remark-gfm").is_dir(),
        "tests/remark/node_modules is missing: run `npm ci --prefix tests/remark` (scripts/install-deps.sh does)"
    );
    let out = Command::new("node")
        .arg(dir.join("render.mjs"))
        .arg(md)
        .output()
        .expect("run node");
    assert!(out.status.success(), "remark failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Run postmortem and insist that it succeeds; its stdout.
pub fn pm_ok(args: &[&str]) -> String {
    let o = Command::new(bin()).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "postmortem {}: {}{}",
        args.join(" "),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// One lab at a time within a test binary (cargo runs the binaries one after another).
pub fn lab_lock() -> std::sync::MutexGuard<'static, ()> {
    static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LAB.lock().unwrap_or_else(|e| e.into_inner())
}

/// `lab exec HOST -- sh -c SCRIPT`: (exit code, stdout + stderr)
pub fn lab_exec(host: &str, script: &str) -> (i32, String) {
    let o = Command::new(bin())
        .args(["lab", "exec", host, "--", "sh", "-c", script])
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), stdout(&o) + &stderr(&o))
}

/// A real ssh-agent on a socket of its own, holding the private key `key`; it ends with the
/// value, whatever happens in the test.
pub struct SshAgent {
    child: std::process::Child,
    pub sock: PathBuf,
}

impl SshAgent {
    pub fn holding(dir: &Path, key: &Path) -> Self {
        require("ssh-agent", "apt-get install openssh-client");
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        let agent = SshAgent { child, sock };
        for _ in 0..100 {
            if agent.sock.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let add = Command::new("ssh-add")
            .env("SSH_AUTH_SOCK", &agent.sock)
            .arg(key)
            .output()
            .unwrap();
        assert!(add.status.success(), "{}", stderr(&add));
        agent
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
