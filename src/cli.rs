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

#[derive(Parser)]
#[command(
    name = "postmortem",
    version,
    about = "Collect evidence while you fix infrastructure, and turn it into a report you can prove",
    long_about = "Collect evidence while you fix infrastructure, and turn it into a report you can prove.\n\n\
Every command you record and every note you write goes into an append-only, hash-chained journal \
(secrets redacted before writing). `collect` runs a scenario's read-only probes over SSH, \
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
    /// Append a note to the journal.
    Note {
        #[command(flatten)]
        journal: JournalArg,
        #[command(flatten)]
        secrets: SecretArgs,
        /// The note (several words are joined with spaces)
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Render the journal as report.<lang>.md, .html and .pdf, and copy the journal beside them.
    Report {
        #[command(flatten)]
        journal: JournalArg,
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
        #[command(flatten)]
        secrets: SecretArgs,
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

fn print_plan(planned: &[crate::fix::Planned]) {
    if planned.is_empty() {
        println!("nothing to fix: no known cause holds");
        return;
    }
    println!("plan: {} change(s)", planned.len());
    for p in planned {
        println!("  [{}] {}", p.cause, p.target);
        for c in &p.commands {
            println!("      $ {c}");
        }
        println!(
            "      security: {}",
            p.delta.get("en").cloned().unwrap_or_default()
        );
    }
}

fn confirm(changes: usize, yes: bool) -> Result<bool> {
    use std::io::{IsTerminal, Write};
    if yes || changes == 0 {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("not on a terminal, so nobody can confirm: pass --yes to apply the plan");
    }
    print!("apply these {changes} change(s)? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `run`: rounds until every end state holds (or nothing new is left to do), with the task's
/// rules checked on the first and the last collection.
async fn run_rounds(
    sc: &crate::scenario::Scenario,
    source: &str,
    journal: &Journal,
    act: &ActArgs,
    s: &crate::run::Settings,
) -> Result<i32> {
    let confirm = |fixes: &[crate::fix::Planned], steps: &[crate::step::PlannedStep]| {
        print_plan(fixes);
        for p in steps {
            println!("  step [{}] on {}", p.step.id, p.host);
            for c in &p.commands {
                println!("      $ {c}");
            }
        }
        if act.apply {
            confirm(fixes.len() + steps.len(), act.yes)
        } else {
            Ok(false)
        }
    };
    let show = |round: u32, d: &crate::diagnose::Diagnosis, ends: &[serde_json::Value]| {
        println!("== round {round}");
        print_diagnosis(d);
        for e in ends {
            println!(
                "  end state {} (phase {}): {}",
                e["id"].as_str().unwrap_or(""),
                e["phase"],
                e["state"].as_str().unwrap_or("")
            );
        }
    };
    let r = crate::run::rounds(sc, source, journal, s, act.apply, 12, &confirm, &show).await?;
    let mut code = 0;
    for k in crate::run::constraints(sc, journal, r.first, "before", s).await? {
        println!(
            "rule {} before: {}",
            k.id,
            if k.ok { "ok" } else { "VIOLATED" }
        );
    }
    if r.first != r.last.0 || act.apply {
        for k in crate::run::constraints(sc, journal, r.last.0, "after", s).await? {
            println!(
                "rule {} after: {}",
                k.id,
                if k.ok { "ok" } else { "VIOLATED" }
            );
            code = if k.ok { code } else { 1 };
        }
    }
    for (p, applied, verdict) in &r.fixes {
        println!("  [{}] {}: {applied}, {verdict}", p.cause, p.target);
        if verdict != "verified" {
            code = 1;
        }
    }
    for (id, stage, summary) in &r.steps {
        println!("  step [{id}]: {stage}: {summary}");
        if stage != "applied" {
            code = 1;
        }
    }
    match r.outcome.as_str() {
        "done" => println!("every end state holds after {} round(s)", r.rounds),
        "held_as_observed" => {
            println!(
                "nothing more to do after {} round(s): no end state fails",
                r.rounds
            );
            for e in r.end_states.iter().filter(|e| e["state"] != "held") {
                println!(
                    "  not observed in this run: {}",
                    e["id"].as_str().unwrap_or("")
                );
            }
        }
        "planned" => println!("nothing was changed (run again with --apply to apply the plan)"),
        "declined" => {
            println!("nothing more was changed");
            code = code.max(1);
        }
        other => {
            println!(
                "stopped after {} round(s) ({other}): nothing new to do",
                r.rounds
            );
            for e in &r.end_states {
                if e["state"] != "held" {
                    println!(
                        "  end state {}: {} ({})",
                        e["id"].as_str().unwrap_or(""),
                        e["state"].as_str().unwrap_or(""),
                        e["observed"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(|v| v.as_str())
                                .collect::<Vec<_>>()
                                .join("; "))
                            .unwrap_or_default()
                    );
                }
            }
            for u in &r.last.1.unexplained {
                println!("  still failing: {} on {}: {}", u.probe, u.host, u.summary);
            }
            if r.end_states.iter().any(|e| e["state"] == "failed") {
                code = code.max(1);
            }
        }
    }
    Ok(code)
}

/// Record the plan, and with --apply apply, verify, roll back; then the task's rules after.
async fn fix_stage(
    sc: &crate::scenario::Scenario,
    source: &str,
    journal: &Journal,
    d: &crate::diagnose::Diagnosis,
    act: &ActArgs,
    s: &crate::run::Settings,
) -> Result<i32> {
    let planned = crate::run::plan(sc, d);
    let runner_pool = crate::transport::ssh::SshPool::new(s.opts.clone());
    let runner = crate::fix::Runner {
        pool: &runner_pool,
        journal,
        red: &s.red,
    };
    for p in &planned {
        runner.record(p, "planned", "", p.commands.clone(), vec![])?;
    }
    print_plan(&planned);
    if !act.apply {
        println!("nothing was changed (run again with --apply to apply the plan)");
        return Ok(0);
    }
    if !confirm(planned.len(), act.yes)? {
        println!("nothing was changed");
        return Ok(1);
    }
    if planned.is_empty() {
        return Ok(0);
    }
    let out = crate::run::apply_and_verify(sc, source, journal, &planned, s).await?;
    let mut code = 0;
    for (p, applied, verdict) in &out.applied {
        println!("  [{}] {}: {applied}, {verdict}", p.cause, p.target);
        if verdict != "verified" {
            code = 1;
        }
    }
    let entries = journal.read_all()?;
    let (after_seq, _) = crate::diagnose::latest_collection(&entries).context("no collection")?;
    for k in crate::run::constraints(sc, journal, after_seq, "after", s).await? {
        println!(
            "  rule {} after: {}",
            k.id,
            if k.ok { "ok" } else { "VIOLATED" }
        );
        if !k.ok {
            code = 1;
        }
    }
    if let Some((_, after)) = &out.after {
        for u in &after.unexplained {
            println!("  still failing: {} on {}: {}", u.probe, u.host, u.summary);
        }
    }
    Ok(code)
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
        /// Faults to build in: ip-forward, sg-bgp (comma list), or none for a healthy lab
        #[arg(long, default_value = "ip-forward,sg-bgp")]
        faults: String,
        /// Kubernetes nodes (VMs): node1 is ictsc-master, the others workers
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// `user` on server01 logs in and uses sudo with a password, as on contest hosts (`lab
        /// env` prints it; use -k / -K)
        #[arg(long)]
        sudo_password: bool,
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
}

/// Show a remote command's result: its output (as kept), then one line on how it ended.
fn print_remote(ev: &crate::journal::Evidence, seq: u64) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(ev.stdout.text.as_bytes());
    let _ = std::io::stderr().write_all(ev.stderr.text.as_bytes());
    let how = match &ev.outcome {
        crate::journal::Outcome::Exited { code } => format!("exit {code}"),
        crate::journal::Outcome::Signaled { name, .. } => format!("killed by {name}"),
        crate::journal::Outcome::Failed { message } => format!("failed: {message}"),
        crate::journal::Outcome::TimedOut { after_ms } => format!("timed out after {after_ms} ms"),
    };
    eprintln!("postmortem: {}: {how} (recorded as #{seq})", ev.host);
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The most a record of a command can take: both streams at the cap, escaped, and the rest.
fn room_for(cap: usize) -> u64 {
    (cap as u64) * 2 * 2 + 64 * 1024
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Record {
            journal,
            host,
            cap,
            secrets,
            ssh,
            argv,
        } if !ssh.on.is_empty() => {
            if host.is_some() {
                anyhow::bail!(
                    "--host labels a local command; with --on the host is the SSH host's name"
                );
            }
            let mut redactor = secrets.redactor()?;
            let journal = Journal::new(journal.journal);
            // The journal must be able to take the records before anything is run.
            journal.ready(room_for(cap) * ssh.on.len() as u64)?;
            let opts = ssh.options()?;
            opts.passwords.hide_in(&mut redactor);
            let rt = runtime()?;
            let evidence = rt.block_on(crate::transport::ssh::run_on_hosts(
                opts,
                &ssh.on,
                &crate::transport::shell_join(&argv),
                cap,
                ssh.timeout.map(std::time::Duration::from_secs),
                ssh.sudo,
                ssh.parallel,
                &redactor,
            ));
            let mut failed = Vec::new();
            let mut last = 0;
            for ev in evidence {
                let entry = journal
                    .append_or_rescue(&crate::journal::now(), &Body::Evidence(ev.clone()))?;
                print_remote(&ev, entry.seq);
                last = ev.outcome.shell_status();
                if !ev.outcome.is_success() {
                    failed.push(ev.host.clone());
                }
            }
            if ssh.on.len() == 1 {
                return Ok(last);
            }
            eprintln!(
                "postmortem: {} of {} hosts succeeded{}",
                ssh.on.len() - failed.len(),
                ssh.on.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("; failed: {}", failed.join(", "))
                }
            );
            Ok(if failed.is_empty() { 0 } else { 1 })
        }
        Command::Record {
            journal,
            host,
            cap,
            secrets,
            ssh,
            argv,
        } => {
            let redactor = secrets.redactor()?;
            let argv = if ssh.sudo {
                ["sudo", "-n", "--"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(argv)
                    .collect()
            } else {
                argv
            };
            let journal = Journal::new(journal.journal);
            // The journal must be able to take the record before the command is run.
            journal.ready(room_for(cap))?;
            let rt = runtime()?;
            let evidence = rt.block_on(
                LocalRun {
                    host: host.unwrap_or_else(hostname),
                    argv,
                    cap,
                    echo: Echo::Terminal,
                    redactor: &redactor,
                }
                .run(),
            );
            let status = evidence.outcome.shell_status();
            if let crate::journal::Outcome::Failed { message } = &evidence.outcome {
                eprintln!("postmortem: {message}");
            }
            let entry =
                journal.append_or_rescue(&crate::journal::now(), &Body::Evidence(evidence))?;
            eprintln!(
                "postmortem: recorded as #{} in {}",
                entry.seq,
                journal.path().display()
            );
            Ok(status)
        }
        Command::Note {
            journal,
            secrets,
            text,
        } => {
            let redactor = secrets.redactor()?;
            let journal = Journal::new(journal.journal);
            let (text, _) = redactor.redact(&text.join(" "));
            let entry = journal.append(&crate::journal::now(), &Body::Note(Note { text }))?;
            eprintln!(
                "postmortem: note #{} in {}",
                entry.seq,
                journal.path().display()
            );
            Ok(0)
        }
        Command::Report {
            journal,
            lang,
            format,
            out,
            style,
            team,
            secrets,
        } => {
            let redactor = secrets.redactor()?;
            let out = out.unwrap_or_else(|| journal.dir());
            let journal = Journal::new(journal.journal);
            let written = report::write(
                &journal,
                &report::Options {
                    langs: lang,
                    formats: format,
                    out,
                    style,
                    team,
                },
                &redactor,
            )?;
            Ok(if print_written(&written) { 0 } else { 3 })
        }
        Command::Lab { command } => lab_command(command),
        Command::Scenario { command } => match command {
            ScenarioCommand::List => {
                for id in crate::scenario::builtin_ids() {
                    let (s, _) = crate::scenario::load(id)?;
                    println!("{id}\t{}", s.title.get("en").cloned().unwrap_or_default());
                }
                Ok(0)
            }
            ScenarioCommand::Show { scenario } => {
                let (_, text) = crate::scenario::load(&scenario)?;
                print!("{text}");
                Ok(0)
            }
            ScenarioCommand::Check { file } => {
                let (s, _) = crate::scenario::load(&file.display().to_string())?;
                println!(
                    "{}: ok ({} probes, {} causes, {} alternatives)",
                    file.display(),
                    s.probes.len(),
                    s.causes.len(),
                    s.alternatives.len()
                );
                Ok(0)
            }
        },
        Command::Collect {
            journal,
            scenario,
            target,
        } => {
            let (sc, source) = crate::scenario::load(&scenario)?;
            // Every writer checks that the journal can take a record before anything is run.
            Journal::new(&journal.journal).ready(room_for(crate::collect::CAP))?;
            let Some(settings) = target.settings(false)? else {
                return reexec_in_operator();
            };
            let journal = Journal::new(journal.journal);
            let rt = runtime()?;
            let t0 = std::time::Instant::now();
            let done = rt.block_on(crate::collect::collect(
                &sc,
                &source,
                &settings.target,
                settings.opts,
                journal.clone(),
                settings.red,
            ))?;
            eprintln!(
                "postmortem: collected {} records for {} (nodes: {}) in {:.1} s into {}",
                done.records,
                sc.id,
                if done.nodes.is_empty() {
                    "none found".to_string()
                } else {
                    done.nodes.join(", ")
                },
                t0.elapsed().as_secs_f64(),
                journal.path().display()
            );
            Ok(0)
        }
        Command::Fix { journal, act } => {
            if journal.journal.exists() {
                Journal::new(&journal.journal).ready(room_for(crate::collect::CAP))?;
            }
            let Some(settings) = act.target.settings(act.yes)? else {
                return reexec_in_operator();
            };
            let journal = Journal::new(journal.journal);
            let (entries, seq, sc, source) = latest_collection(&journal)?;
            let d = crate::diagnose::diagnose(&sc, &entries, seq);
            let rt = runtime()?;
            rt.block_on(fix_stage(&sc, &source, &journal, &d, &act, &settings))
        }
        Command::Run {
            journal,
            scenario,
            act,
            out,
            style,
            sign_key,
            no_sign,
        } => {
            Journal::new(&journal.journal).ready(room_for(crate::collect::CAP))?;
            let Some(settings) = act.target.settings(act.yes)? else {
                return reexec_in_operator();
            };
            let (sc, source) = crate::scenario::load(&scenario)?;
            let out = out.unwrap_or_else(|| journal.dir());
            let journal = Journal::new(journal.journal);
            let rt = runtime()?;
            let code = rt.block_on(run_rounds(&sc, &source, &journal, &act, &settings))?;
            if !no_sign {
                rt.block_on(sign_at_end(&journal, sign_key.as_deref()))?;
            }
            let written = report::write(
                &journal,
                &report::Options {
                    langs: vec![Lang::Ja, Lang::En],
                    formats: vec![Format::Md, Format::Html, Format::Pdf],
                    out,
                    style,
                    team: None,
                },
                &settings.red,
            )?;
            Ok(if print_written(&written) {
                code
            } else {
                code.max(3)
            })
        }
        Command::Replay {
            answer,
            phase,
            scenario,
            replay_journal,
            record_in,
            target,
        } => {
            let (sc, source) = crate::scenario::load(&scenario)?;
            let phase = phase
                .or_else(|| crate::replay::phase_of(&answer))
                .ok_or_else(|| anyhow::anyhow!("answer {}: say which phase (--phase N)", answer.display()))?;
            let lab = target.target.as_deref() == Some("lab");
            // With the lab: build the phase's initial state first, then work from its operator host.
            if lab && std::env::var_os("POSTMORTEM_IN_OPERATOR").is_none() {
                let (faults, deployed) = crate::replay::lab_state(&sc, phase)?;
                eprintln!(
                    "postmortem replay: building the initial state of phase {phase} (lab up{}{})",
                    if deployed { " --deployed" } else { "" },
                    format_args!(" --faults {}", if faults.is_empty() { "none".into() } else { faults.join(",") })
                );
                crate::lab::up(&faults, 2, deployed, false)?;
                let code = reexec_in_operator();
                let down = crate::lab::down();
                let code = code?;
                down?;
                return Ok(code);
            }
            let Some(settings) = target.settings(false)? else {
                return reexec_in_operator();
            };
            let rj = replay_journal.unwrap_or_else(|| {
                answer.with_file_name(format!("replay.phase{phase}.jsonl"))
            });
            let _ = std::fs::remove_file(&rj);
            let journal = Journal::new(&rj);
            let rt = runtime()?;
            let r = rt.block_on(crate::replay::replay(&sc, &source, &answer, phase, &journal, &settings))?;
            for (i, cmd, how) in &r.failed {
                println!("command {i} failed ({how}): {cmd}");
            }
            for (id, state) in &r.record.end_states {
                println!("end state {id}: {state}");
            }
            if let Some(j) = record_in {
                Journal::new(&j).append(&crate::journal::now(), &Body::Replay(r.record.clone()))?;
            }
            if r.record.ok {
                println!("replayed {} ({} commands): every end state of phase {phase} holds", answer.display(), r.record.commands);
                Ok(0)
            } else {
                println!(
                    "replayed {}: end states that do not hold: {}",
                    answer.display(),
                    r.not_held.iter().map(|(i, s)| format!("{i} ({s})")).collect::<Vec<_>>().join(", ")
                );
                Ok(5)
            }
        }
        Command::Demo { out } => {
            crate::lab::preflight()?;
            let t0 = std::time::Instant::now();
            eprintln!("postmortem demo: building the lab with the contest's faults");
            crate::lab::up(&["ip-forward".to_string(), "sg-bgp".to_string()], 2, false, false)?;
            std::fs::create_dir_all(&out)?;
            let out = std::fs::canonicalize(&out)?;
            let journal = out.join("journal.jsonl");
            let _ = std::fs::remove_file(&journal);
            eprintln!("postmortem demo: run --apply from the operator host");
            let status = std::process::Command::new("ip")
                .args(["netns", "exec", "pm-operator"])
                .arg(std::env::current_exe()?)
                .args(["run", "--apply", "--yes", "--no-sign", "--target", "lab", "--journal"])
                .arg(&journal)
                .arg("--out")
                .arg(&out)
                .env("POSTMORTEM_IN_OPERATOR", "1")
                .status();
            let down = crate::lab::down();
            let status = status.context("cannot run ip netns exec")?;
            down?;
            let mut code = status.code().unwrap_or(1);
            // Each phase's answer, followed exactly on a fresh lab in the phase's initial state.
            if code == 0 {
                let (sc, _) = crate::scenario::load("ictsc2021-cloud-native")?;
                for ph in &sc.phases {
                    let answer = out.join(format!("answer.phase{}.ja.md", ph.phase));
                    eprintln!("postmortem demo: replay {}", answer.display());
                    let st = std::process::Command::new(std::env::current_exe()?)
                        .arg("replay")
                        .arg(&answer)
                        .args(["--target", "lab", "--record-in"])
                        .arg(&journal)
                        .status()
                        .context("cannot run postmortem replay")?;
                    if !st.success() {
                        code = st.code().unwrap_or(1);
                    }
                }
                // The answers again, now saying they were replayed; then the signature.
                let written = report::write(
                    &Journal::new(&journal),
                    &report::Options {
                        langs: vec![Lang::Ja, Lang::En],
                        formats: vec![Format::Md, Format::Html, Format::Pdf],
                        out: out.clone(),
                        style: report::Style::Answer,
                        team: None,
                    },
                    &Redactor::new(),
                )?;
                print_written(&written);
                runtime()?.block_on(sign_at_end(&Journal::new(&journal), None))?;
            }
            eprintln!(
                "postmortem demo: done in {:.0} s; the lab is down. The answers: {}/answer.phase1.ja.md and answer.phase2.ja.md (and .html, .pdf, en); the whole report: report.ja.md",
                t0.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(code)
        }
        Command::Diagnose { journal, json } => {
            let journal = Journal::new(journal.journal);
            let (entries, seq, sc, _) = latest_collection(&journal)?;
            let d = crate::diagnose::diagnose(&sc, &entries, seq);
            let value = d.to_json(&sc);
            journal.append(
                &crate::journal::now(),
                &Body::Diagnosis(crate::journal::DiagnosisRecord {
                    scenario: sc.id.clone(),
                    collection: seq,
                    result: value.clone(),
                }),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_diagnosis(&d);
            }
            Ok(if d.unexplained.is_empty() { 0 } else { 4 })
        }
        Command::Journal {
            command: JournalCommand::Verify { path, allowed_signers },
        } => crate::journal::sign::verify_command(&Journal::new(&path), allowed_signers.as_deref()),
        Command::Journal {
            command: JournalCommand::Sign { key, import, path },
        } => {
            let journal = Journal::new(&path);
            let rec = match import {
                Some(sig) => crate::journal::sign::import_file(&journal, &sig)?,
                None => runtime()?.block_on(async {
                    let signer = crate::journal::sign::find_signer(key.as_deref()).await?.ok_or_else(|| {
                        anyhow::anyhow!("no SSH key to sign with: start ssh-agent with a key, give --key FILE, or create ~/.ssh/id_ed25519")
                    })?;
                    crate::journal::sign::sign_head(&journal, &signer).await
                })?,
            };
            let (m, sig) = crate::journal::sign::detached_paths(&path);
            println!(
                "{}: head #{} {} signed by {} {} ({}); detached: {} and {}",
                path.display(),
                rec.head_seq,
                rec.head_hash,
                rec.fingerprint,
                rec.comment,
                rec.how,
                m.display(),
                sig.display()
            );
            Ok(0)
        }
        Command::Journal {
            command: JournalCommand::Head { path },
        } => {
            let entries = Journal::new(&path).read_all()?;
            let head = entries
                .last()
                .ok_or_else(|| anyhow::anyhow!("journal {}: empty", path.display()))?;
            print!("{}", crate::journal::sign::head_message(head.seq, &head.hash));
            Ok(0)
        }
        Command::Journal {
            command: JournalCommand::Repair { path },
        } => match Journal::new(&path).repair()? {
            None => {
                println!(
                    "{}: nothing to repair (every line is whole and verifies)",
                    path.display()
                );
                Ok(0)
            }
            Some(r) => {
                println!(
                    "{}: cut {} bytes of an interrupted write (sha256 {}) into {}; the chain goes on",
                    path.display(),
                    r.bytes,
                    r.sha256,
                    r.side_file
                );
                Ok(0)
            }
        },
        Command::Journal {
            command: JournalCommand::Init { title, path },
        } => {
            let journal = Journal::new(&path);
            if path.exists()
                && std::fs::metadata(&path)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false)
            {
                anyhow::bail!(
                    "journal {}: it already exists; a journal's first record is its run record",
                    path.display()
                );
            }
            let title = title.map(|t| Redactor::new().redact(&t).0);
            journal
                .append(&crate::journal::now(), &Body::Run(RunMeta::here(title)))
                .with_context(|| format!("journal {}: cannot start it", path.display()))?;
            println!("{}", path.display());
            Ok(0)
        }
    }
}

/// `run`'s last record: a signature over the head, when the operator has a key. A key named with
/// --sign-key must work; without one, no key is a line on stderr, not a failure.
async fn sign_at_end(journal: &Journal, key: Option<&std::path::Path>) -> Result<()> {
    use crate::journal::sign;
    let signer = match sign::find_signer(key).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("postmortem: the journal is not signed: no SSH key (ssh-agent, or ~/.ssh/id_*); sign it later with `postmortem journal sign`");
            return Ok(());
        }
        Err(e) if key.is_none() => {
            eprintln!("postmortem: the journal is not signed: {e:#}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let rec = sign::sign_head(journal, &signer).await?;
    eprintln!(
        "postmortem: signed head #{} with {} {} ({})",
        rec.head_seq, rec.fingerprint, rec.comment, rec.how
    );
    Ok(())
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

fn print_diagnosis(d: &crate::diagnose::Diagnosis) {
    if d.causes.is_empty() {
        println!("no known cause holds in this evidence");
    }
    for c in &d.causes {
        println!(
            "cause {} (phase {}): {}",
            c.id,
            c.phase,
            c.title.get("en").cloned().unwrap_or_default()
        );
        for l in &c.chain {
            let recs: Vec<String> = l.records.iter().map(|r| format!("#{r}")).collect();
            println!(
                "  -> {} [{}]",
                l.text.get("en").cloned().unwrap_or_default(),
                recs.join(" ")
            );
            for o in &l.observed {
                println!("       {o}");
            }
        }
    }
    for a in &d.ruled_out {
        println!("ruled out: {} ({})", a.id, a.observed.join("; "));
    }
    for a in &d.not_ruled_out {
        println!("not ruled out: {}", a.id);
    }
    for u in &d.unexplained {
        println!("UNEXPLAINED: {} on {}: {}", u.probe, u.host, u.summary);
    }
    for m in &d.missing {
        println!(
            "missing evidence: {}{}: {}",
            m.probe,
            if m.host.is_empty() {
                String::new()
            } else {
                format!(" on {}", m.host)
            },
            m.message
        );
    }
}

fn lab_command(command: LabCommand) -> Result<i32> {
    use crate::lab;
    match command {
        LabCommand::Up {
            faults,
            nodes,
            deployed,
            sudo_password,
        } => {
            let faults = lab::parse_faults(&faults)?;
            let t0 = std::time::Instant::now();
            if lab::up(&faults, nodes, deployed, sudo_password)? {
                eprintln!("postmortem: removed the leftovers of an earlier lab first");
            }
            eprintln!(
                "postmortem: lab up in {:.1} s with faults: {}",
                t0.elapsed().as_secs_f64(),
                if faults.is_empty() {
                    "none".to_string()
                } else {
                    faults.join(", ")
                }
            );
            for line in lab::status() {
                println!("{line}");
            }
            Ok(0)
        }
        LabCommand::Down => {
            lab::down()?;
            Ok(0)
        }
        LabCommand::Status => {
            let lines = lab::status();
            if lines.is_empty() {
                println!("no lab");
            }
            for line in lines {
                println!("{line}");
            }
            Ok(0)
        }
        LabCommand::Exec { host, argv } => {
            lab::preflight()?;
            let status = lab::exec_command(&host, &argv)?
                .status()
                .context("cannot run nsenter")?;
            Ok(status.code().unwrap_or(1))
        }
        LabCommand::Reboot { host } => {
            lab::preflight()?;
            lab::reboot(&host)?;
            Ok(0)
        }
        LabCommand::Env => {
            let d = lab::dir();
            println!("LAB_DIR={}", d.display());
            println!("SSH_CONFIG={}", d.join("ssh_config").display());
            println!("IDENTITY={}", d.join("keys/ictsc_rsa").display());
            println!("KNOWN_HOSTS={}", d.join("known_hosts").display());
            println!("INVENTORY=server01:/home/user/kubespray/inventory/mycluster/hosts.yaml");
            println!("OPERATOR=ip netns exec pm-operator");
            if let Some(pw) = lab::sudo_password() {
                println!("SUDO_PASSWORD={pw}");
            }
            Ok(0)
        }
    }
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
