//! A terminal for tests: a program runs on the slave side of a real pseudo-terminal, the test
#![allow(dead_code)]
//! types on the master side and reads what the screen would get.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

pub struct Term {
    master: std::fs::File,
    pub child: Child,
    /// Everything the program wrote to the terminal so far.
    pub seen: Vec<u8>,
    /// Where the last `expect` matched: the next one looks after it.
    pos: usize,
}

impl Term {
    /// Start `program args` in a new session whose controlling terminal is a fresh pty of this
    /// size, with `env` added and the current directory `dir`.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
        (cols, rows): (u16, u16),
    ) -> Term {
        let (mut m, mut s) = (-1, -1);
        let ws = libc::winsize {
            ws_col: cols,
            ws_row: rows,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) },
            0,
            "openpty"
        );
        unsafe {
            libc::fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(s, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                libc::setsid();
                libc::ioctl(s, libc::TIOCSCTTY, 0);
                for fd in 0..3 {
                    libc::dup2(s, fd);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the program in the pty");
        unsafe {
            libc::close(s);
            libc::fcntl(m, libc::F_SETFL, libc::O_NONBLOCK);
        }
        Term {
            master: unsafe { std::fs::File::from_raw_fd(m) },
            child,
            seen: Vec::new(),
            pos: 0,
        }
    }

    /// Type `s`.
    pub fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
    }

    /// Read what is there, waiting up to `wait`; false at end of output.
    fn pump(&mut self, wait: Duration) -> bool {
        let mut p = libc::pollfd {
            fd: self.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        unsafe { libc::poll(&mut p, 1, wait.as_millis() as i32) };
        let mut buf = [0u8; 65536];
        loop {
            match self.master.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    /// Read once, waiting up to `wait` for something; None at the end of the output.
    pub fn read_some(&mut self, wait: Duration) -> Option<usize> {
        let before = self.seen.len();
        self.pump(wait).then(|| self.seen.len() - before)
    }

    /// Wait until `needle` shows after the last match; the text up to and with it.
    pub fn expect(&mut self, needle: &str) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(i) = find(&self.seen[self.pos..], needle.as_bytes()) {
                let end = self.pos + i + needle.len();
                let text = String::from_utf8_lossy(&self.seen[self.pos..end]).into_owned();
                self.pos = end;
                return text;
            }
            let open = self.pump(Duration::from_millis(100));
            assert!(
                open && t0.elapsed() < Duration::from_secs(30),
                "{needle:?} did not show; the screen got:\n{}",
                String::from_utf8_lossy(&self.seen[self.pos..])
            );
        }
    }

    /// Give the terminal a new size (the kernel tells the foreground programs with SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        let ws = libc::winsize {
            ws_col: cols,
            ws_row: rows,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }

    /// Read to the end and wait for the program.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let t0 = Instant::now();
        while self.pump(Duration::from_millis(100)) {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.pump(Duration::from_millis(50));
                return (st, String::from_utf8_lossy(&self.seen).into_owned());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the program did not end"
            );
        }
        let st = self.child.wait().unwrap();
        (st, String::from_utf8_lossy(&self.seen).into_owned())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
