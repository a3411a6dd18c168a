//! Local commands: run an argument vector, stream its output to the terminal as it comes, keep
//! a bounded copy for the journal.
//!
//! What it cannot capture: what a command writes to its terminal directly (`/dev/tty`) rather
//! than to its standard output and error.

use crate::capture::Capture;
use crate::journal::redact::Redactor;
use crate::journal::{Evidence, Outcome};
use crate::transport::{shell_join, signal_name};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where a command's output goes while it runs, besides the capture.
pub enum Echo {
    /// Pass it through to this process's stdout and stderr.
    Terminal,
    /// Keep it only in the capture.
    Quiet,
}

pub struct LocalRun<'a> {
    pub host: String,
    pub argv: Vec<String>,
    pub cap: usize,
    pub echo: Echo,
    pub redactor: &'a Redactor,
}

async fn pump<R, W>(mut from: R, mut to: Option<W>, cap: usize) -> Capture
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut capture = Capture::new(cap);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                capture.push(&buf[..n]);
                if let Some(w) = to.as_mut() {
                    // The terminal going away must not stop the capture.
                    if w.write_all(&buf[..n]).await.is_err() || w.flush().await.is_err() {
                        to = None;
                    }
                }
            }
        }
    }
    capture
}

impl LocalRun<'_> {
    /// Run the command to its end. Ctrl-C reaches the command (same process group) but not this
    /// process, which records how the command ended.
    pub async fn run(self) -> Evidence {
        let started_at = crate::journal::now();
        let t0 = Instant::now();
        let (argv, _) = self.redactor.redact_argv(&self.argv);
        let command = shell_join(&argv);
        let finish = |outcome: Outcome, out: Capture, err: Capture| Evidence {
            host: self.host.clone(),
            address: None,
            host_key: None,
            user: crate::journal::current_user(),
            command: command.clone(),
            cwd: None,
            session: None,
            probe: None,
            step: None,
            started_at: started_at.clone(),
            ended_at: crate::journal::now(),
            duration_ms: t0.elapsed().as_millis() as u64,
            outcome,
            stdout: out.into_stream(self.redactor),
            stderr: err.into_stream(self.redactor),
        };
        let Some((prog, args)) = self.argv.split_first() else {
            return finish(
                Outcome::Failed {
                    message: "no command given".into(),
                },
                Capture::new(self.cap),
                Capture::new(self.cap),
            );
        };
        let child = tokio::process::Command::new(prog)
            .args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let message = format!("cannot run {}: {e}", crate::transport::shell_quote(prog));
                return finish(
                    Outcome::Failed { message },
                    Capture::new(self.cap),
                    Capture::new(self.cap),
                );
            }
        };
        // Registered before anything else happens, so an early Ctrl-C cannot kill this process.
        let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .ok()
            .map(|mut sigint| tokio::spawn(async move { while sigint.recv().await.is_some() {} }));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (to_out, to_err) = match self.echo {
            Echo::Terminal => (Some(tokio::io::stdout()), Some(tokio::io::stderr())),
            Echo::Quiet => (None, None),
        };
        let (out, err, status) = tokio::join!(
            pump(out, to_out, self.cap),
            pump(err, to_err, self.cap),
            child.wait()
        );
        if let Some(i) = interrupt {
            i.abort();
        }
        let outcome = match status {
            Ok(s) => outcome_of(s),
            Err(e) => Outcome::Failed {
                message: format!("cannot wait for the command: {e}"),
            },
        };
        finish(outcome, out, err)
    }
}

/// How a process that was waited for ended.
pub fn outcome_of(s: std::process::ExitStatus) -> Outcome {
    match (s.code(), s.signal()) {
        (Some(code), _) => Outcome::Exited { code },
        (None, Some(signal)) => Outcome::Signaled {
            signal,
            name: signal_name(signal),
        },
        (None, None) => Outcome::Failed {
            message: format!("ended without status: {s}"),
        },
    }
}
