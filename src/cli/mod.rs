//! The command line: argument parsing and dispatch only.

use crate::journal::redact::Redactor;
use crate::journal::{Body, Journal, Note, RunMeta};
use crate::report::{self, Format, Lang};
use crate::transport::local::{Echo, LocalRun};
use crate::transport::ssh::SshOptions;
use crate::transport::ssh_config::SshConfig;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod answer;
mod collect;
mod demo;
mod diagnose;
mod fix;
mod journal;
mod lab;
mod note;
mod record;
mod replay;
mod report_cmd;
mod run;
mod scenario;
mod shell;

use diagnose::print_diagnosis;
use fix::{confirm, print_plan};
use run::sign_at_end;

#[derive(Parser)]
#[command(
    name = "postmortem",
    version,
    about = "Collect evidence while you fix infrastructure, and turn it into a report you can prove",
    long_about = "Collect evidence while you fix infrastructure, and turn it into a report you can prove.\n\n\
Every command you record and every note you write goes into an append-only, hash-chained journal \
(secrets redacted before writing); `shell` records every command line of your own shell, here or \
on a host. `collect` runs a scenario's read-only probes over SSH, \
`diagnose` finds the causes the evidence supports (and says what it ruled out, what it cannot \
explain and what cannot be observed yet), `fix` and `run` apply least-privilege fixes only with \
--apply and verify them with the same probes. `run` works in rounds, with the task's own steps \
(start the VMs, run the deployment, set up kubectl), until every end state of the task holds. \
`report` renders the journal as Markdown (GitHub-flavoured), HTML and PDF, in Japanese and \
English. `lab` builds the built-in incident for real on this machine; `demo` runs it end to end."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct JournalArg {
    /// The journal file
    #[arg(long, env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
    journal: PathBuf,
}

impl JournalArg {
    /// The journal's directory: where the report goes unless told otherwise.
    fn dir(&self) -> PathBuf {
        self.journal
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| ".".into())
    }
}

/// List the files a report wrote; false (and how to install typst) when the PDF could not be made.
fn print_written(written: &report::Written) -> bool {
    for f in &written.files {
        println!("{}", f.display());
    }
    if written.pdf_skipped {
        eprintln!(
            "postmortem: typst was not found, so no PDF was written (Markdown and HTML were); {}",
            report::typst::INSTALL_HINT
        );
    }
    !written.pdf_skipped
}

/// The journal's records, and its latest collection: the seq of its scenario record, the
/// scenario as recorded there, and that scenario's source text.
fn latest_collection(
    journal: &Journal,
) -> Result<(
    Vec<crate::journal::Entry>,
    u64,
    crate::scenario::Scenario,
    String,
)> {
    let entries = journal.read_all()?;
    let (seq, rec) = crate::diagnose::latest_collection(&entries).with_context(|| {
        format!(
            "journal {}: no collection in it (run postmortem collect first)",
            journal.path().display()
        )
    })?;
    let source = rec.source.clone();
    let sc = crate::scenario::parse(&source, &format!("scenario in record #{seq}"))?;
    Ok((entries, seq, sc, source))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

#[derive(Args, Clone, Default)]
struct SecretArgs {
    /// A secret value to redact (repeatable). Prefer --secrets-file: arguments are visible in ps
    #[arg(long = "secret", value_name = "VALUE")]
    secrets: Vec<String>,
    /// A regex whose matches are redacted (repeatable)
    #[arg(long = "secret-regex", value_name = "REGEX")]
    secret_regexes: Vec<String>,
    /// A file of secrets: one per line, `regex:RE` for a regex, `#` for comments
    #[arg(long, env = "POSTMORTEM_SECRETS_FILE", value_name = "FILE")]
    secrets_file: Option<PathBuf>,
}

impl SecretArgs {
    fn redactor(&self) -> Result<Redactor> {
        let mut r = Redactor::new();
        for s in &self.secrets {
            r.add_literal(s.clone());
        }
        for re in &self.secret_regexes {
            r.add_regex(re)?;
        }
        if let Some(f) = &self.secrets_file {
            r.add_file(f)?;
        }
        Ok(r)
    }
}

#[derive(Args, Clone)]
struct SshArgs {
    /// Run the command on this host over SSH (repeatable); without it the command runs locally
    #[arg(long = "on", value_name = "HOST")]
    on: Vec<String>,
    /// The OpenSSH client configuration to read (default: ~/.ssh/config)
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Accept and record the key of a host that known_hosts does not hold yet
    #[arg(long)]
    accept_new: bool,
    /// Stop a remote command that runs longer than this many seconds
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Run the command as root through sudo (`sudo -n`, never prompting; with -K, `sudo -S` fed
    /// the password typed)
    #[arg(long)]
    sudo: bool,
    /// Hosts worked on at once
    #[arg(long, default_value_t = 8, value_name = "N")]
    parallel: usize,
    #[command(flatten)]
    passwords: PassArgs,
}

/// Passwords typed by the operator, as Ansible asks for them.
#[derive(Args, Clone)]
struct PassArgs {
    /// Ask for the SSH password (password or keyboard-interactive login, on every hop), once,
    /// on the terminal
    #[arg(short = 'k', long)]
    ask_pass: bool,
    /// Ask for the sudo password, once, on the terminal; it is fed to `sudo -S` over the
    /// command's standard input
    #[arg(short = 'K', long)]
    ask_become_pass: bool,
}

impl PassArgs {
    fn ask(&self, yes: bool) -> Result<crate::prompt::Passwords> {
        crate::prompt::Passwords::ask(self.ask_pass, self.ask_become_pass, yes)
    }
}

impl SshArgs {
    fn options(&self) -> Result<SshOptions> {
        let config = match &self.ssh_config {
            Some(f) => SshConfig::load(f, false)?,
            None => SshConfig::load_default()?,
        };
        Ok(SshOptions {
            config,
            accept_new: self.accept_new,
            passwords: self.passwords.ask(false)?,
            ..Default::default()
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a command (locally, or on hosts over SSH with --on) and append it to the journal as
    /// evidence: one record per host. Exits with the command's status (several hosts: non-zero if
    /// any failed).
    Record {
        #[command(flatten)]
        journal: JournalArg,
        /// The label of the host the command ran on (default: this machine's hostname)
        #[arg(long)]
        host: Option<String>,
        /// Bytes kept per output stream; beyond it the head and the tail are kept
        #[arg(long, default_value_t = crate::capture::DEFAULT_CAP, value_name = "BYTES")]
        cap: usize,
        #[command(flatten)]
        secrets: SecretArgs,
        #[command(flatten)]
        ssh: SshArgs,
        /// The command and its arguments
        #[arg(last = true, required = true, value_name = "CMD")]
        argv: Vec<String>,
    },
    /// Open your shell (here, or on a host with --on) and record every command line you run
    ///
    /// Each command becomes one evidence record: the line as the shell read it, the working
    /// directory, the output as shown, the exit status, start and end. Secrets are redacted
    /// before writing; input is never recorded, so what you type with echo off (a password)
    /// cannot reach the journal. A line `#note: TEXT` becomes a note. bash and zsh are
    /// integrated without touching your rc files; another shell is kept whole, as one record.
    /// Exit the shell to end the session.
    Shell {
        #[command(flatten)]
        journal: JournalArg,
        /// The host to open the shell on, as your ssh_config names it (its login shell)
        #[arg(long, value_name = "HOST")]
        on: Option<String>,
        /// Keep at most this many bytes of each command's output (head and tail)
        #[arg(long, default_value_t = crate::capture::DEFAULT_CAP, value_name = "BYTES")]
        cap: usize,
        /// The OpenSSH client configuration to read (default: ~/.ssh/config)
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
        /// Accept and record the key of a host that known_hosts does not hold yet
        #[arg(long)]
        accept_new: bool,
        #[command(flatten)]
        secrets: SecretArgs,
        #[command(flatten)]
        passwords: PassArgs,
    },
    /// Append a note to the journal; with --as, a note with a role in the answer and the
    /// post-mortem
    ///
    /// Roles: trouble (what was wrong), finding (what a check showed), cause, fix (what was
    /// changed and why it works), verify (what shows it fixed), impact, detection, action (a
    /// follow-up), lesson. --about ties the note to an evidence record: `--about 12` or, to name
    /// the output lines an answer quotes, `--about 12:3-5`. `--as fix --about N` makes record N
    /// a change, `--as finding --about N` a check, whatever the command looks like.
    Note {
        #[command(flatten)]
        journal: JournalArg,
        #[command(flatten)]
        secrets: SecretArgs,
        /// The note's role: trouble, finding, cause, fix, verify, impact, detection, action, lesson
        #[arg(long = "as", value_name = "ROLE", value_parser = crate::journal::role_of)]
        role: Option<String>,
        /// The evidence record the note is about: SEQ, or SEQ:LINES (12:3-5) for lines to quote
        #[arg(long, value_name = "SEQ[:LINES]", value_parser = crate::journal::About::parse)]
        about: Option<crate::journal::About>,
        /// The note (several words are joined with spaces)
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Render the journal as report.<lang>.md, .html and .pdf, and copy the journal beside them
    ///
    /// With --journal given more than once, a team's report: every member's journal, each
    /// verified on its own, merged into team.<lang>.md, .html and .pdf, ordered by time, each
    /// record with its author. A journal that does not verify is named and left out (exit 4).
    Report {
        /// The journal file; repeat it to merge a team's journals
        #[arg(
            long = "journal",
            env = "POSTMORTEM_JOURNAL",
            default_value = "journal.jsonl",
            value_name = "FILE"
        )]
        journals: Vec<PathBuf>,
        /// Languages
        #[arg(long, value_enum, value_delimiter = ',', default_value = "ja,en")]
        lang: Vec<Lang>,
        /// Formats (pdf needs the typst CLI and the font Noto Sans CJK JP)
        #[arg(long, value_enum, value_delimiter = ',', default_value = "md,html,pdf")]
        format: Vec<Format>,
        /// The output directory (default: the journal's directory)
        #[arg(long)]
        out: Option<PathBuf>,
        /// answer: the contest answer, per phase; postmortem: a team post-mortem (Google SRE template)
        #[arg(long, value_enum, default_value = "answer")]
        style: report::Style,
        /// The team an answer's greeting names (default: the journal's title)
        #[arg(long)]
        team: Option<String>,
        /// Exit 3 when the answer lacks what a judge looks for (no cause note, a change with no
        /// check after it, a written file never shown, ...), as printed on stderr
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        secrets: SecretArgs,
    },
    /// Answers: check a (hand-edited) answer against the journal it was written from
    Answer {
        #[command(subcommand)]
        command: AnswerCommand,
    },
    /// Run every probe of a scenario on its hosts over SSH and append the evidence.
    Collect {
        #[command(flatten)]
        journal: JournalArg,
        /// A built-in scenario id or a scenario file
        #[arg(long, default_value = "ictsc2021-cloud-native")]
        scenario: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Diagnose the latest collection in the journal, and append the diagnosis to it.
    Diagnose {
        #[command(flatten)]
        journal: JournalArg,
        /// Print one JSON object: causes, ruled_out, not_ruled_out, unexplained, missing
        #[arg(long)]
        json: bool,
    },
    /// Plan the fixes of the causes the latest diagnosis found; with --apply, apply them, verify
    /// them with the same probes, and roll back what did not cure its symptoms.
    Fix {
        #[command(flatten)]
        journal: JournalArg,
        #[command(flatten)]
        act: ActArgs,
    },
    /// The whole job, in rounds: collect (read-only) → diagnose → plan the fixes and the task's
    /// steps → with --apply, apply and verify → collect again, until every end state of the task
    /// holds or nothing new is left to do → report. Without --apply nothing is changed.
    Run {
        #[command(flatten)]
        journal: JournalArg,
        /// A built-in scenario id or a scenario file
        #[arg(long, default_value = "ictsc2021-cloud-native")]
        scenario: String,
        #[command(flatten)]
        act: ActArgs,
        /// Where the report goes (default: the journal's directory)
        #[arg(long)]
        out: Option<PathBuf>,
        /// answer: the contest answer, per phase; postmortem: a team post-mortem (Google SRE template)
        #[arg(long, value_enum, default_value = "answer")]
        style: report::Style,
        /// Sign the journal's head at the end with this key (default: the ssh-agent's first key or
        /// ~/.ssh/id_*, when there is one)
        #[arg(long, value_name = "FILE")]
        sign_key: Option<PathBuf>,
        /// Do not sign the journal at the end
        #[arg(long, conflicts_with = "sign_key")]
        no_sign: bool,
        /// The team an answer's greeting names (default: the journal's title)
        #[arg(long)]
        team: Option<String>,
    },
    /// Follow an answer exactly: build its phase's initial state (with --target lab, a fresh
    /// lab), run its solution commands verbatim on the hosts their prompts name, then check the
    /// phase's end states. Exits non-zero naming every end state that does not hold.
    Replay {
        /// The answer (answer.phaseN.LANG.md)
        answer: PathBuf,
        /// The phase (default: from the file name)
        #[arg(long)]
        phase: Option<u32>,
        /// A built-in scenario id or a scenario file
        #[arg(long, default_value = "ictsc2021-cloud-native")]
        scenario: String,
        /// The replay's own journal (default: replay.phaseN.jsonl beside the answer)
        #[arg(long)]
        replay_journal: Option<PathBuf>,
        /// Also append the replay record to this journal (the one the answer was written from)
        #[arg(long, value_name = "JOURNAL")]
        record_in: Option<PathBuf>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Build the lab with the contest's faults, run --apply from its operator host, write the
    /// report under reports/demo/, and take the lab down (needs root).
    Demo {
        /// Where the journal and the report go
        #[arg(long, default_value = "reports/demo")]
        out: PathBuf,
    },
    /// Scenarios: what postmortem knows about incidents.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// The lab: the incident reproduced for real on this machine (needs root).
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Work with the journal file itself.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
}

/// Where the hosts are and how to reach them.
#[derive(Args, Clone)]
struct TargetArgs {
    /// `lab`: work from the lab's operator host with the lab's ssh_config and known_hosts
    /// (needs root); without it, the user's own SSH configuration is used
    #[arg(long)]
    target: Option<String>,
    /// The OpenSSH client configuration to read (default: ~/.ssh/config, or the lab's)
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Accept and record the key of a host that known_hosts does not hold yet
    #[arg(long)]
    accept_new: bool,
    #[command(flatten)]
    secrets: SecretArgs,
    #[command(flatten)]
    passwords: PassArgs,
}

#[derive(Args, Clone)]
struct ActArgs {
    /// Change the hosts (without it, nothing is changed: the plan is only shown and recorded)
    #[arg(long)]
    apply: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    target: TargetArgs,
}

impl TargetArgs {
    /// None: this process must first move into the lab's operator host.
    fn settings(&self, yes: bool) -> Result<Option<crate::run::Settings>> {
        let lab = match self.target.as_deref() {
            None => false,
            Some("lab") => true,
            Some(other) => anyhow::bail!("unknown --target {other:?}: the only target is lab (or none, for your own SSH configuration)"),
        };
        if lab && std::env::var_os("POSTMORTEM_IN_OPERATOR").is_none() {
            return Ok(None);
        }
        let config = match (&self.ssh_config, lab) {
            (Some(f), _) => SshConfig::load(f, false)?,
            (None, true) => SshConfig::load(&crate::lab::dir().join("ssh_config"), false)
                .context("the lab's ssh_config: is the lab up (postmortem lab up)?")?,
            (None, false) => SshConfig::load_default()?,
        };
        let passwords = self.passwords.ask(yes)?;
        let mut red = self.secrets.redactor()?;
        passwords.hide_in(&mut red);
        Ok(Some(crate::run::Settings {
            opts: SshOptions {
                config,
                accept_new: self.accept_new,
                passwords,
                ..Default::default()
            },
            target: if lab { "lab".into() } else { "ssh".into() },
            red,
            // BGP takes up to Calico's connect retry (5 s) to come up after a fix: look often.
            verify_attempts: 10,
            verify_pause: std::time::Duration::from_secs(2),
        }))
    }
}

#[derive(Subcommand)]
enum AnswerCommand {
    /// Check that every command line in the answer's `shellsession` blocks was recorded on the
    /// host (and as the user) its prompt names, in the answer's order within each section, and
    /// that every output line shown under a command is a line of that command's record. Exits
    /// non-zero naming each line not found, as FILE:LINE
    Check {
        /// The answer (Markdown)
        answer: PathBuf,
        #[command(flatten)]
        journal: JournalArg,
        #[command(flatten)]
        secrets: SecretArgs,
    },
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// The built-in scenarios
    List,
    /// Print a scenario (built-in id or file)
    Show { scenario: String },
    /// Check a scenario file; errors name file:line:column
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum LabCommand {
    /// Build the lab (removing leftovers of an earlier one first). As the task begins: the node
    /// VMs SHUTOFF, no Kubernetes until kubespray has run; returns once the lab is steady
    Up {
        /// The state in which phase 2 was found: VMs running, kubespray run to its end, kubectl
        /// set up for ubuntu on node1 (the faults still apply: --deployed --faults sg-bgp)
        #[arg(long)]
        deployed: bool,
        /// Faults to build in (comma list), or none for a healthy lab: ip-forward, sg-bgp (the
        /// contest's), no-nat, forward-drop, vm-dns, sg-ipip, sg-vxlan (with --calico vxlan),
        /// anti-spoofing (with --calico native), mtu, pool-no-nat, sg-k8s-ports
        #[arg(long, default_value = crate::lab::DEFAULT_FAULTS)]
        faults: String,
        /// Kubernetes nodes (VMs): node1 is ictsc-master, the others workers
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// `user` on server01 logs in and uses sudo with a password, as on contest hosts (`lab
        /// env` prints it; use -k / -K)
        #[arg(long)]
        sudo_password: bool,
        /// Calico's mode, as kubespray deploys it: ipip (IP-in-IP Always with BGP, kubespray 2.16
        /// to 2.18), vxlan (VXLAN Always without BGP, kubespray 2.19 and later) or native (no
        /// encapsulation, BGP)
        #[arg(long, default_value = "ipip", value_parser = ["ipip", "vxlan", "native"])]
        calico: String,
    },
    /// Remove every lab namespace, process and file
    Down,
    /// Show the lab's hosts and whether they run
    Status,
    /// Run a command as root inside a lab host, like `docker exec`
    Exec {
        /// server01, node1 (ictsc-master), node2 (ictsc-worker), ..., operator, internet, pod-shell1, ...
        host: String,
        #[arg(last = true, required = true, value_name = "CMD")]
        argv: Vec<String>,
    },
    /// Restart a VM: its processes end, its disk stays
    Reboot { host: String },
    /// Print where the lab's ssh_config, key, known_hosts and inventory are
    Env,
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Check the hash chain and every signature; exits non-zero naming the first bad line.
    Verify {
        /// Also require every signature to come from a key this file allows (ssh-keygen's
        /// allowed_signers format), and at least one signature
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// The journal file
        #[arg(env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
        path: PathBuf,
    },
    /// Sign the head of the chain with your SSH key (SSHSIG, namespace postmortem-journal): a
    /// signature record in the journal, plus JOURNAL.head and JOURNAL.head.sig for ssh-keygen -Y verify
    Sign {
        /// A private key file, or a public key the ssh-agent holds (default: the agent's first
        /// key, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa)
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Record a signature made elsewhere with `ssh-keygen -Y sign -n postmortem-journal` over
        /// the output of `journal head`
        #[arg(long, value_name = "SIG", conflicts_with = "key")]
        import: Option<PathBuf>,
        /// The journal file
        #[arg(env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
        path: PathBuf,
    },
    /// Print the message a signature over the current head signs (for ssh-keygen -Y sign)
    Head {
        /// The journal file
        #[arg(env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
        path: PathBuf,
    },
    /// Cut an incomplete last line (an interrupted write) into a side file and record the repair
    Repair {
        /// The journal file
        #[arg(env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
        path: PathBuf,
    },
    /// Start a journal with a title (optional: the first record starts one anyway).
    Init {
        #[arg(long)]
        title: Option<String>,
        /// The journal file
        #[arg(env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
        path: PathBuf,
    },
    /// Write a recorded shell session out of the journal, for other tools
    Export {
        /// As asciicast v2, which `asciinema play` replays
        #[arg(long, required = true)]
        asciicast: bool,
        /// The session: the seq of its `session` started record (default: the last one)
        #[arg(long, value_name = "SEQ")]
        session: Option<u64>,
        /// Write here instead of standard output
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
        /// The journal file
        #[arg(env = "POSTMORTEM_JOURNAL", default_value = "journal.jsonl")]
        path: PathBuf,
    },
}

/// The most a record of a command can take: both streams at the cap, escaped, and the rest.
fn room_for(cap: usize) -> u64 {
    (cap as u64) * 2 * 2 + 64 * 1024
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        c @ Command::Record { .. } => record::run(c),
        c @ Command::Note { .. } => note::run(c),
        c @ Command::Shell { .. } => shell::run(c),
        c @ Command::Report { .. } => report_cmd::run(c),
        c @ Command::Answer { .. } => answer::run(c),
        c @ Command::Lab { .. } => lab::run(c),
        c @ Command::Scenario { .. } => scenario::run(c),
        c @ Command::Collect { .. } => collect::run(c),
        c @ Command::Fix { .. } => fix::run(c),
        c @ Command::Run { .. } => run::run(c),
        c @ Command::Replay { .. } => replay::run(c),
        c @ Command::Demo { .. } => demo::run(c),
        c @ Command::Diagnose { .. } => diagnose::run(c),
        c @ Command::Journal { .. } => journal::run(c),
    }
}

/// Run this same command again inside the lab's operator host.
fn reexec_in_operator() -> Result<i32> {
    crate::lab::preflight()?;
    if !crate::lab::namespaces().iter().any(|n| n == "pm-operator") {
        anyhow::bail!("the lab is not up: run postmortem lab up first");
    }
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", "pm-operator"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("POSTMORTEM_IN_OPERATOR", "1")
        .spawn()
        .context("cannot run ip netns exec")?;
    // Ctrl-C reaches the child too; this process waits for it to clean up and end.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let status = child.wait()?;
    Ok(status.code().unwrap_or(1))
}

/// Parse the arguments, run, and return the process's exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postmortem: error: {e:#}");
            1
        }
    }
}
