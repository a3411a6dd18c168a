//! Signed trail, tested against OpenSSH's own ssh-keygen both ways: it verifies the signatures
//! `journal sign` makes (ed25519 key file, RSA through a real ssh-agent), and `journal sign
//! --import` plus `journal verify --allowed-signers` accept the ones it makes. A signature that
//! does not hold, a key that is not allowed, and a journal with no signature all fail verify.

mod common;
use common::{pm, require, stderr, stdout};

use postmortem::journal::{sign, Body, Journal};
use std::path::Path;
use std::process::Command;

fn keygen(dir: &Path, name: &str, kind: &str, comment: &str) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", comment, "-f"])
        .arg(dir.join(name))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn allowed(dir: &Path, lines: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = String::new();
    for (principal, key) in lines {
        let pubkey = std::fs::read_to_string(dir.join(format!("{key}.pub"))).unwrap();
        text.push_str(&format!(
            "{principal} namespaces=\"postmortem-journal\" {pubkey}"
        ));
    }
    let p = dir.join("allowed_signers");
    std::fs::write(&p, text).unwrap();
    p
}

/// `ssh-keygen -Y verify` on the detached pair.
fn ssh_keygen_verifies(dir: &Path, allowed: &Path, principal: &str) -> Result<String, String> {
    let o = Command::new("ssh-keygen")
        .current_dir(dir)
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args([
            "-I",
            principal,
            "-n",
            "postmortem-journal",
            "-s",
            "journal.jsonl.head.sig",
        ])
        .stdin(std::fs::File::open(dir.join("journal.jsonl.head")).unwrap())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn setup() -> tempfile::TempDir {
    require("ssh-keygen", "apt-get install openssh-client");
    let d = tempfile::tempdir().unwrap();
    let o = pm(d.path(), &["record", "--", "echo", "evidence"]);
    assert!(o.status.success(), "{}", stderr(&o));
    d
}

#[test]
fn ssh_keygen_verifies_a_key_file_signature_and_verify_names_the_principal() {
    let d = setup();
    keygen(d.path(), "alice", "ed25519", "alice@laptop");
    let o = pm(d.path(), &["journal", "sign", "--key", "alice"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("head #2"), "{}", stdout(&o));
    let list = allowed(d.path(), &[("alice@team", "alice")]);
    let ok = ssh_keygen_verifies(d.path(), &list, "alice@team").expect("ssh-keygen verifies");
    assert!(
        ok.contains("Good \"postmortem-journal\" signature for alice@team"),
        "{ok}"
    );
    // The message is the head's seq and hash, nothing else.
    let msg = std::fs::read_to_string(d.path().join("journal.jsonl.head")).unwrap();
    let entries = Journal::new(d.path().join("journal.jsonl"))
        .read_all()
        .unwrap();
    assert_eq!(msg, sign::head_message(2, &entries[1].hash));

    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "allowed_signers"],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("head #2 signed by alice@team"),
        "{}",
        stdout(&o)
    );

    // Records appended after the signed head are said to be unsigned.
    pm(d.path(), &["note", "later"]);
    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "allowed_signers"],
    );
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("1 records after the last signed head #2"),
        "{}",
        stdout(&o)
    );

    // The report says who signed which head.
    let o = pm(d.path(), &["report", "--format", "html", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(d.path().join("out/report.en.html")).unwrap();
    let row = html
        .split("Head signed (SSH signature)")
        .nth(1)
        .expect("a signature row");
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("#2 SHA256:") && row.contains("alice@laptop (key file)"),
        "{row}"
    );
}

#[test]
fn a_key_the_list_does_not_allow_and_a_journal_without_signature_fail_verify() {
    let d = setup();
    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "nonexistent"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("allowed signers nonexistent: cannot read"),
        "{}",
        stderr(&o)
    );
    keygen(d.path(), "alice", "ed25519", "alice");
    keygen(d.path(), "mallory", "ed25519", "mallory");
    allowed(d.path(), &[("alice@team", "alice")]);
    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "allowed_signers"],
    );
    assert!(!o.status.success(), "no signature must fail");
    assert!(stderr(&o).contains("not signed"), "{}", stderr(&o));

    let o = pm(d.path(), &["journal", "sign", "--key", "mallory"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "allowed_signers"],
    );
    assert!(!o.status.success());
    assert!(stdout(&o).contains("NOT ALLOWED"), "{}", stdout(&o));
    assert!(
        ssh_keygen_verifies(d.path(), &d.path().join("allowed_signers"), "alice@team").is_err()
    );

    // A bad allowed-signers line is named.
    std::fs::write(
        d.path().join("bad"),
        "# comment\nalice@team ssh-ed25519 notbase64\n",
    )
    .unwrap();
    let o = pm(d.path(), &["journal", "verify", "--allowed-signers", "bad"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("allowed signers bad:2"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_signature_record_that_does_not_match_its_head_is_bad() {
    let d = setup();
    keygen(d.path(), "alice", "ed25519", "alice");
    let o = pm(d.path(), &["journal", "sign", "--key", "alice"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = Journal::new(d.path().join("journal.jsonl"));
    let entries = j.read_all().unwrap();
    let Body::Signature(mut rec) = entries[2].body.clone() else {
        panic!("no signature record")
    };
    // The same signature, claimed for another head: the chain holds, the signature does not.
    rec.head_seq = 1;
    rec.head_hash = entries[0].hash.clone();
    j.append("2026-01-01T00:00:00Z", &Body::Signature(rec))
        .unwrap();
    let o = pm(d.path(), &["journal", "verify"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("signature #4: BAD: signature does not verify"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_ssh_keygen_signature_over_journal_head_is_imported_and_verifies() {
    let d = setup();
    keygen(d.path(), "bob", "ed25519", "bob");
    let o = pm(d.path(), &["journal", "head"]);
    assert!(o.status.success());
    std::fs::write(d.path().join("msg"), stdout(&o)).unwrap();
    let o = Command::new("ssh-keygen")
        .current_dir(d.path())
        .args(["-Y", "sign", "-f", "bob", "-n", "postmortem-journal", "msg"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    pm(d.path(), &["note", "after the signature was made"]);
    let o = pm(d.path(), &["journal", "sign", "--import", "msg.sig"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("head #2 "),
        "matched to the head it signs: {}",
        stdout(&o)
    );
    allowed(d.path(), &[("bob@team", "bob")]);
    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "allowed_signers"],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("head #2 signed by bob@team"),
        "{}",
        stdout(&o)
    );

    // A signature in another namespace, or over something else, is refused.
    std::fs::write(d.path().join("other"), "not a head\n").unwrap();
    let o = Command::new("ssh-keygen")
        .current_dir(d.path())
        .args(["-Y", "sign", "-f", "bob", "-n", "file", "other"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = pm(d.path(), &["journal", "sign", "--import", "other.sig"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("namespace is \"file\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_rsa_key_in_a_real_ssh_agent_signs_and_ssh_keygen_verifies() {
    let d = setup();
    keygen(d.path(), "carol", "rsa", "carol@agent");
    let agent = common::SshAgent::holding(d.path(), &d.path().join("carol"));
    let sock = agent.sock.clone();
    // The private key file is gone: only the agent can sign.
    std::fs::remove_file(d.path().join("carol")).unwrap();
    let o = Command::new(common::bin())
        .current_dir(d.path())
        .env("SSH_AUTH_SOCK", &sock)
        .env("HOME", d.path())
        .args(["journal", "sign"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("carol@agent (ssh-agent)"),
        "{}",
        stdout(&o)
    );
    let list = allowed(d.path(), &[("carol@team", "carol")]);
    let ok = ssh_keygen_verifies(d.path(), &list, "carol@team").expect("ssh-keygen verifies");
    assert!(ok.contains("with RSA key"), "{ok}");
    let o = pm(
        d.path(),
        &["journal", "verify", "--allowed-signers", "allowed_signers"],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn no_key_is_a_clear_error_and_an_encrypted_key_points_to_the_agent() {
    let d = setup();
    let o = Command::new(common::bin())
        .current_dir(d.path())
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", d.path())
        .args(["journal", "sign"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no SSH key to sign with"),
        "{}",
        stderr(&o)
    );
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "correct horse", "-f"])
        .arg(d.path().join("enc"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = pm(d.path(), &["journal", "sign", "--key", "enc"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("key enc: it is encrypted; add it to ssh-agent"),
        "{}",
        stderr(&o)
    );
}
