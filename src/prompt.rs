//! Passwords the operator types (`--ask-pass`, `--ask-become-pass`): asked once on the
//! controlling terminal with echo off, kept in memory only, and handed to the redactor so that
//! they appear in no record, report or error message.
//!
//! What it cannot do: ask without a terminal. Then, or when the run must not ask (`--yes`), a
//! needed password is an error that says so, never a wait on a prompt nobody sees.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;

/// The passwords of one run.
#[derive(Clone, Default)]
pub struct Passwords {
    /// For SSH password and keyboard-interactive authentication (every hop).
    pub ssh: Option<std::sync::Arc<String>>,
    /// For sudo on the hosts, fed to `sudo -S` over the command's standard input.
    pub become_: Option<std::sync::Arc<String>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Passwords {{ ssh: {}, become: {} }}",
            self.ssh.is_some(),
            self.become_.is_some()
        )
    }
}

impl Passwords {
    /// Ask for what the flags say, in Ansible's words.
    pub fn ask(ssh: bool, become_: bool, yes: bool) -> Result<Self> {
        if (ssh || become_) && yes {
            bail!("--ask-pass/--ask-become-pass need a terminal to ask on, and --yes says nothing is asked: drop one of them");
        }
        let mut p = Passwords::default();
        if ssh {
            p.ssh = Some(std::sync::Arc::new(password("SSH password: ")?));
        }
        if become_ {
            p.become_ = Some(std::sync::Arc::new(password("BECOME password: ")?));
        }
        Ok(p)
    }

    /// Make every password a secret of the redactor.
    pub fn hide_in(&self, red: &mut crate::journal::redact::Redactor) {
        for p in [&self.ssh, &self.become_].into_iter().flatten() {
            red.add_literal(p.as_str());
        }
    }
}

/// Restores the terminal's settings when dropped (also on an early return).
struct Echo {
    fd: i32,
    saved: libc::termios,
}

impl Drop for Echo {
    fn drop(&mut self) {
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved);
        }
    }
}

/// Ask on /dev/tty with echo off; the answer without its newline.
pub fn password(prompt: &str) -> Result<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            anyhow::anyhow!(
                "a password is needed ({}) and there is no terminal to ask on",
                prompt.trim_end_matches([':', ' '])
            )
        })?;
    let fd = tty.as_raw_fd();
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        bail!("a password is needed and the terminal cannot be set up to ask for it");
    }
    let guard = Echo { fd, saved: t };
    t.c_lflag &= !(libc::ECHO | libc::ECHONL);
    t.c_lflag |= libc::ICANON;
    unsafe {
        libc::tcsetattr(fd, libc::TCSAFLUSH, &t);
    }
    let mut w = &tty;
    write!(w, "{prompt}")
        .and_then(|_| w.flush())
        .context("cannot write the prompt")?;
    let mut line = String::new();
    std::io::BufReader::new(&tty)
        .read_line(&mut line)
        .context("cannot read the password")?;
    drop(guard);
    let _ = writeln!(w);
    if line.is_empty() {
        bail!("no password was typed (end of input)");
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
