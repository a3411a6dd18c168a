//! Fixes and steps against what python-openstackclient 5.2.0 really prints when they meet a cloud
//! that changed under them: a security-group rule create that Neutron refuses as a duplicate
//! (409, `Rule id is …`) counts as applied only when the rule it names is the one wanted; a
//! server that Nova refuses to start because it runs already (409) is skipped, not a failure.
//! The commands run over real SSH (OpenSSH's sshd on loopback) on a host whose `openstack`
//! replays the real client's captured outputs (tests/samples/osc-5.2), chosen by the command.

mod common;
#[path = "common/sshd.rs"]
mod sshd;
use common::tempdir;
use postmortem::fix::{plan, Runner};
use postmortem::journal::redact::Redactor;
use postmortem::journal::Journal;
use postmortem::scenario::FixSpec;
use postmortem::transport::ssh::{SshOptions, SshPool};
use postmortem::transport::ssh_config::SshConfig;
use sshd::{keygen, Sshd};
use std::path::Path;

/// A captured command's stdout or stderr (the command, its stdout, its stderr, its status).
fn osc(name: &str, part: &str) -> String {
    let t = std::fs::read_to_string(format!(
        "{}/tests/samples/osc-5.2/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (_, rest) = t.split_once("--- stdout ---\n").unwrap();
    let (out, rest) = rest.split_once("--- stderr ---\n").unwrap();
    let (err, _) = rest.split_once("--- exit ").unwrap();
    if part == "stdout" { out } else { err }.to_string()
}

/// `bin/openstack`, executable, running `script`.
fn write_openstack(bin: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(bin.join("openstack"), script).unwrap();
    std::fs::set_permissions(
        bin.join("openstack"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

/// An `openstack` that answers as the real client did: no matching rule listed, the remote
/// group's id, the 409 on create, and `rule show` printing `shown`.
fn fake_openstack(bin: &Path, shown: &str) {
    std::fs::create_dir_all(bin).unwrap();
    let dir = bin.display();
    std::fs::write(
        bin.join("dup.err"),
        osc("13-sgr-create-bgp-duplicate", "stderr"),
    )
    .unwrap();
    std::fs::write(bin.join("show.out"), shown).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         echo \"$*\" >> {dir}/calls\n\
         case \"$*\" in\n\
         'security group rule list'*) echo '[]' ;;\n\
         'security group show worker'*) echo 21ab421c-08c9-5963-b22a-40b472e94330 ;;\n\
         'security group rule create'*) cat {dir}/dup.err >&2; exit 1 ;;\n\
         'security group rule show b9561aa9-9f11-5c50-8bc8-5c9ea0908a12'*) cat {dir}/show.out ;;\n\
         *) echo \"unexpected: $*\" >&2; exit 2 ;;\n\
         esac\n"
    );
    write_openstack(bin, &script);
}

/// sshd on loopback whose sessions find `bin` first on PATH, and a pool that reaches it as
/// `server01`.
fn server01(dir: &Path, bin: &Path) -> (Sshd, SshOptions) {
    let key = dir.join("id_ed25519");
    if !key.exists() {
        keygen(&key, "ed25519", &[]);
    }
    let sshd = Sshd::start_with(
        dir,
        "sshd",
        &[&key],
        &format!("SetEnv PATH={}:/usr/bin:/bin\n", bin.display()),
    );
    let cfg = dir.join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host server01\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            sshd.port,
            key.display(),
            dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    let opts = SshOptions {
        config: SshConfig::load(&cfg, false).unwrap(),
        accept_new: true,
        ..Default::default()
    };
    (sshd, opts)
}

fn apply(dir: &Path, shown: &str) -> (postmortem::fix::Applied, Vec<String>) {
    let bin = dir.join("bin");
    fake_openstack(&bin, shown);
    let (_sshd, opts) = server01(dir, &bin);
    let pool = SshPool::new(opts);
    let journal = Journal::new(dir.join("journal.jsonl"));
    let red = Redactor::new();
    let spec: FixSpec = toml::from_str(
        "kind = \"sg_rule\"\non = \"hypervisor\"\ngroup = \"master\"\nremote_group = \"worker\"\nprotocol = \"tcp\"\nport = 179\nreason = { en = \"BGP\" }\n",
    )
    .unwrap();
    let planned = plan("sg-bgp-blocked", &spec, "server01");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let applied = rt
        .block_on(
            Runner {
                pool: &pool,
                journal: &journal,
                red: &red,
            }
            .apply(&planned),
        )
        .unwrap();
    let calls = std::fs::read_to_string(bin.join("calls")).unwrap_or_default();
    (applied, calls.lines().map(String::from).collect())
}

#[test]
fn a_refused_duplicate_rule_is_applied_when_the_rule_it_names_is_the_one_wanted() {
    let d = tempdir();
    // `rule show` prints the same table as the create that made the rule.
    let (a, calls) = apply(d.path(), &osc("12-sgr-create-bgp-first", "stdout"));
    assert_eq!(a.stage, "already", "{a:?} {calls:?}");
    assert!(
        a.summary.contains("409") && a.summary.contains("b9561aa9"),
        "{}",
        a.summary
    );
    assert!(
        a.undo.is_empty(),
        "a rule this run did not make is not undone"
    );
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        calls[3].starts_with("security group rule show b9561aa9"),
        "{calls:?}"
    );
    // Every command is a record of the journal, the refusal's message kept.
    let journal = std::fs::read_to_string(d.path().join("journal.jsonl")).unwrap();
    assert_eq!(a.records.len(), 3, "{a:?}");
    assert!(journal.contains("Security group rule already exists"));
}

#[test]
fn a_refused_duplicate_that_names_another_rule_is_a_failure() {
    let d = tempdir();
    // The rule it names lets TCP/180 in: not the fix's rule.
    let other = osc("12-sgr-create-bgp-first", "stdout").replace("| 179 ", "| 180 ");
    let (a, _) = apply(d.path(), &other);
    assert_eq!(a.stage, "failed", "{a:?}");
    assert!(a.summary.contains("not the rule wanted"), "{}", a.summary);
}

#[test]
fn a_server_nova_refuses_to_start_because_it_runs_is_skipped() {
    use postmortem::step::{PlannedStep, StepRunner};
    let d = tempdir();
    let dir = d.path();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("409.err"),
        osc("05b-server-start-again-409", "stderr"),
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\n\
         echo \"$*\" >> {b}/calls\n\
         case \"$*\" in\n\
         'server start ictsc-master') cat {b}/409.err >&2; exit 1 ;;\n\
         'server start ictsc-worker') ;;\n\
         'server list -c Name -c Status -f value') printf 'ictsc-master ACTIVE\\nictsc-worker ACTIVE\\n' ;;\n\
         *) echo \"unexpected: $*\" >&2; exit 2 ;;\n\
         esac\n",
        b = bin.display()
    );
    write_openstack(&bin, &script);
    let (_sshd, opts) = server01(dir, &bin);
    let journal = Journal::new(dir.join("journal.jsonl"));
    let red = Redactor::new();
    let step: postmortem::scenario::Step = toml::from_str(
        "id = \"start\"\nphase = 1\ntitle = { en = \"Start the VMs\" }\nreason = { en = \"stopped\" }\nwhen = []\naction = { kind = \"server_start\", probe = \"security_groups\" }\n",
    )
    .unwrap();
    let planned = PlannedStep {
        step,
        host: "server01".into(),
        commands: vec![
            "openstack server start ictsc-master".into(),
            "openstack server start ictsc-worker".into(),
        ],
        servers: vec!["ictsc-master".into(), "ictsc-worker".into()],
        login: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stage, summary, records) = rt
        .block_on(
            StepRunner {
                opts: &opts,
                journal: &journal,
                red: &red,
            }
            .apply(&planned, &[]),
        )
        .unwrap();
    assert_eq!(stage, "applied", "{summary}");
    assert!(
        summary.starts_with("started ictsc-worker;")
            && summary.contains("ictsc-master already running")
            && summary.contains("409"),
        "{summary}"
    );
    // Both starts and the wait are records; the refusal's message is kept.
    assert_eq!(records.len(), 3, "{records:?}");
    let j = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(j.contains("while it is in vm_state active (HTTP 409)"));
}
