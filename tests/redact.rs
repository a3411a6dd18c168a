//! Redaction rules (src/journal/redact.toml) checked on their own examples: every pattern rule
//! changes each of its examples by itself and the whole redactor hides them; no rule touches a
//! counter-example. Then the shapes the journal meets: command lines, quoted `sh -c` strings,
//! separators kept, URL passwords, and the evidence that must stay (UUIDs, hashes, digests,
//! fingerprints). The measurement on a public corpus is `cargo bench --bench redact_corpus`.

use postmortem::journal::redact::{apply_rule, rule_file, Redactor};

fn r(s: &str) -> String {
    Redactor::new().redact(s).0
}

#[test]
fn every_pattern_rule_hides_its_examples_and_leaves_its_counter_examples() {
    let f = rule_file();
    assert!(f.pattern.len() >= 25, "{} rules", f.pattern.len());
    let mut failures = Vec::new();
    for p in &f.pattern {
        assert!(!p.examples.is_empty(), "rule {} has no example", p.id);
        for e in &p.examples {
            let alone = apply_rule(&p.id, e).unwrap();
            if alone == *e {
                failures.push(format!("{}: does not match its example {e:?}", p.id));
            }
            let all = r(e);
            if !all.contains("[REDACTED:") {
                failures.push(format!("{}: example not redacted {e:?} -> {all:?}", p.id));
            }
        }
        for c in &p.counter {
            if apply_rule(&p.id, c).unwrap() != *c {
                failures.push(format!("{}: touches its counter-example {c:?}", p.id));
            }
            let all = r(c);
            if all != *c {
                failures.push(format!(
                    "{}: counter-example changed by the redactor {c:?} -> {all:?}",
                    p.id
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_program_hides_its_examples_as_text_and_as_argv_and_leaves_its_counter_examples() {
    use postmortem::journal::cmdline::words;
    let f = rule_file();
    assert!(f.program.len() >= 20, "{} programs", f.program.len());
    let mut failures = Vec::new();
    let red = Redactor::new();
    for p in &f.program {
        assert!(
            !p.examples.is_empty() && !p.counter.is_empty(),
            "{:?}",
            p.names
        );
        for e in &p.examples {
            let out = r(e);
            if !out.contains("[REDACTED:") {
                failures.push(format!(
                    "{}: text not redacted {e:?} -> {out:?}",
                    p.names[0]
                ));
            }
            // A pipeline or a here-string is not one program's argv: it is run as `sh -c`.
            let argv = if e.contains(" | ") || e.contains("<<<") {
                vec!["sh".to_string(), "-c".to_string(), e.clone()]
            } else {
                words(e)
            };
            let (argv, n) = red.redact_argv(&argv);
            if n == 0 || !argv.iter().any(|a| a.contains("[REDACTED:")) {
                failures.push(format!(
                    "{}: argv not redacted {e:?} -> {argv:?}",
                    p.names[0]
                ));
            }
        }
        for c in &p.counter {
            let out = r(c);
            if out != *c {
                failures.push(format!(
                    "{}: counter-example changed {c:?} -> {out:?}",
                    p.names[0]
                ));
            }
            let w = words(c);
            let (argv, _) = red.redact_argv(&w);
            if argv != w {
                failures.push(format!(
                    "{}: counter argv changed {c:?} -> {argv:?}",
                    p.names[0]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The project's own examples per class (tests/secrets/*.tsv): every secret hidden, every plain
/// line unchanged.
#[test]
fn the_classes_written_for_this_project_lose_every_secret_and_keep_every_plain_line() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/secrets");
    let mut failures = Vec::new();
    let mut classes: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".tsv")
                .map(str::to_string)
        })
        .collect();
    classes.sort();
    for want in ["cmdline", "keys", "vendors", "urls", "pem"] {
        assert!(
            classes.iter().any(|c| c == want),
            "tests/secrets/{want}.tsv is missing"
        );
    }
    for class in &classes {
        let path = dir.join(format!("{class}.tsv"));
        let text = std::fs::read_to_string(&path).unwrap();
        let (mut secrets, mut plain) = (0, 0);
        for (i, l) in text.lines().enumerate() {
            if l.starts_with('#') || l.trim().is_empty() {
                continue;
            }
            let (secret, line) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("{class}.tsv:{}: no tab", i + 1));
            let line = line.replace("\\n", "\n");
            let out = r(&line);
            if secret == "-" {
                plain += 1;
                if out != line {
                    failures.push(format!(
                        "{class}.tsv:{}: plain line changed: {line:?} -> {out:?}",
                        i + 1
                    ));
                }
            } else {
                secrets += 1;
                if out.contains(secret) {
                    failures.push(format!("{class}.tsv:{}: kept {secret:?}: {out:?}", i + 1));
                }
            }
        }
        assert!(
            secrets >= 30 && plain >= 10,
            "{class}: {secrets} secrets, {plain} plain lines"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn named_values_hide_their_examples_and_leave_their_counter_examples() {
    let a = &rule_file().assign;
    let mut failures = Vec::new();
    for e in &a.examples {
        let out = r(e);
        if !out.contains("[REDACTED:") {
            failures.push(format!("not redacted: {e:?} -> {out:?}"));
        }
    }
    for c in &a.counter {
        let out = r(c);
        if out != *c {
            failures.push(format!("changed: {c:?} -> {out:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn separators_and_quotes_around_a_secret_stay() {
    assert_eq!(
        r("OS_PASSWORD=hunter22;openstack server list"),
        "OS_PASSWORD=[REDACTED:password];openstack server list"
    );
    assert_eq!(
        r("OS_PASSWORD=hunter22 && openstack server list"),
        "OS_PASSWORD=[REDACTED:password] && openstack server list"
    );
    assert_eq!(
        r(r#"sh -c 'echo "password: Tr0ub4dor"; date'"#),
        r#"sh -c 'echo "password: [REDACTED:password]"; date'"#
    );
    assert_eq!(
        r(r#"export OS_PASSWORD="pa ss w0rd" OS_USERNAME=admin"#),
        r#"export OS_PASSWORD="[REDACTED:password]" OS_USERNAME=admin"#
    );
    assert_eq!(
        r(r#"{"password": "Tr0ub4dor", "user": "admin"}"#),
        r#"{"password": "[REDACTED:password]", "user": "admin"}"#
    );
    assert_eq!(
        r("git clone https://deploy:Wq7Tn2pLm9Xc@git.example.org/r.git"),
        "git clone https://deploy:[REDACTED:url-password]@git.example.org/r.git"
    );
    assert_eq!(r("password: two words"), "password: [REDACTED:password]");
}

#[test]
fn a_command_line_is_redacted_argument_by_argument_and_inside_sh_c() {
    let argv: Vec<String> = [
        "sh",
        "-c",
        "echo \"password: Tr0ub4dor\" | tee /tmp/x; curl -u ops:N7xpQ2rK https://h",
        "--os-password",
        "hunter22",
        "--password-file",
        "/etc/pw",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (out, n) = Redactor::new().redact_argv(&argv);
    assert_eq!(
        out[2],
        "echo \"password: [REDACTED:password]\" | tee /tmp/x; curl -u ops:[REDACTED:user-password] https://h"
    );
    assert_eq!(out[4], "[REDACTED:password]");
    assert_eq!(
        out[6], "/etc/pw",
        "a file that holds a password is not the password"
    );
    assert_eq!(n, 3);
}

#[test]
fn evidence_the_diagnosis_needs_is_kept() {
    for line in [
        "| 5a1d9e2c-0b3f-4c6e-8a7d-9f1e2b3c4d5e | tcp | IPv4 | 0.0.0.0/0 | 179:179 | None | master |",
        "3f786850e387550fdab836ed7e6dc881de23001b2c9d0b6e5e1c0a7d0a3c5e4b  calicoctl",
        "Digest: sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "256 SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8 root@server01 (ED25519)",
        "net.ipv4.ip_forward = 1",
        "E: Failed to fetch http://203.0.113.80/ubuntu/dists/focal/InRelease  Could not connect",
        "BGP state:          Established",
        "\"security_group_id\": \"0c6b2f7e-4a1d-4e2b-9c3f-7d8e9f0a1b2c\"",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx7b2x9Zz0Qm3Lr8Tn1Wv5Yb8Hc3Jd6Kf0Gs2Pa root@server01",
    ] {
        assert_eq!(r(line), line);
    }
}

/// A private key streamed through a bounded capture: its BEGIN line in the head, the middle left
/// out, the tail holding only body lines (the output cut before END), or its END. No line of the
/// body survives in the record, whatever the chunk sizes; a certificate streamed the same way is
/// kept where it is seen whole.
#[test]
fn a_private_key_cut_by_the_capture_loses_every_body_line() {
    use postmortem::capture::Capture;
    // A made-up key body: base64 of pseudo-random bytes, in OpenSSH's 70-column lines.
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let body: String = (0..70 * 40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            B64[(x % 64) as usize] as char
        })
        .collect();
    let lines: Vec<&str> = (0..40).map(|i| &body[i * 70..(i + 1) * 70]).collect();
    let key = format!(
        "$ cat ~/.ssh/id_rsa\n-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let cut = key[..key.find("-----END").unwrap()].to_string();
    for (what, text) in [("whole", &key), ("cut before END", &cut)] {
        for chunk in [1usize, 7, 64, 4096] {
            for cap in [800usize, 1600, 1 << 20] {
                let mut c = Capture::new(cap);
                for part in text.as_bytes().chunks(chunk) {
                    c.push(part);
                }
                let out = c.into_stream(&Redactor::new()).text;
                // Not a line, nor 16 characters of one (a tail may start mid-line).
                for w in body.as_bytes().windows(16).step_by(5) {
                    let w = std::str::from_utf8(w).unwrap();
                    assert!(
                        !out.contains(w),
                        "{what}, chunks of {chunk}, cap {cap}: {w} survived: {out}"
                    );
                }
            }
        }
    }
    // The same lines as a certificate's body stay (public material).
    let cert = key.replace("OPENSSH PRIVATE KEY", "CERTIFICATE");
    let mut c = Capture::new(1 << 20);
    c.push(cert.as_bytes());
    assert_eq!(c.into_stream(&Redactor::new()).text, cert);
}
