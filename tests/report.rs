//! The report: six files from record + note, a golden Markdown, GFM rendering, hostile evidence
//! shown literally everywhere, secrets nowhere, and clear errors for bad input.

mod common;
use common::*;
use postmortem::journal::redact::Redactor;
use postmortem::journal::{Body, Evidence, Journal, Note, Outcome, RunMeta, Stream};
use postmortem::report::{markdown, Lang};
use std::fs;
use std::path::Path;

const JA_TITLES: [&str; 4] = [
    "障害対応報告書",
    "タイムライン",
    "証跡とメモ",
    "証跡の完全性",
];
const EN_TITLES: [&str; 4] = [
    "Incident report",
    "Timeline",
    "Evidence and notes",
    "Integrity of the journal",
];

fn all_formats(dir: &Path) -> std::process::Output {
    pm(
        dir,
        &[
            "report",
            "--lang",
            "ja,en",
            "--format",
            "md,html,pdf",
            "--out",
            "out",
        ],
    )
}

#[test]
fn record_note_report_gives_six_files_with_japanese_pdf() {
    require_typst();
    let d = tempdir();
    let o = pm(
        d.path(),
        &[
            "record",
            "--host",
            "server01",
            "--",
            "sh",
            "-c",
            "echo net.ipv4.ip_forward = 0",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    pm(
        d.path(),
        &[
            "note",
            "ip_forward が 0 のため、VM から外部へ転送されない。",
        ],
    );
    let o = all_formats(d.path());
    assert!(o.status.success(), "{}", stderr(&o));
    for lang in ["ja", "en"] {
        for ext in ["md", "html", "pdf"] {
            let p = d.path().join(format!("out/report.{lang}.{ext}"));
            assert!(
                p.is_file() && fs::metadata(&p).unwrap().len() > 0,
                "{} missing",
                p.display()
            );
        }
    }
    assert!(
        d.path().join("out/journal.jsonl").is_file(),
        "the journal travels with the report"
    );
    let ja = pdftotext(&d.path().join("out/report.ja.pdf"));
    for t in JA_TITLES {
        assert!(ja.contains(t), "Japanese PDF lacks {t:?}:\n{ja}");
    }
    assert!(ja.contains("net.ipv4.ip_forward = 0"), "{ja}");
    // The soft break between CJK characters must not have become a space.
    assert!(
        ja.contains("ip_forward が 0 のため、VM から外部へ転送されない。"),
        "{ja}"
    );
    let en = pdftotext(&d.path().join("out/report.en.pdf"));
    for t in EN_TITLES {
        assert!(en.contains(t), "English PDF lacks {t:?}:\n{en}");
    }
    // Same journal, same PDF.
    let first = fs::read(d.path().join("out/report.ja.pdf")).unwrap();
    let o = all_formats(d.path());
    assert!(o.status.success());
    assert_eq!(
        first,
        fs::read(d.path().join("out/report.ja.pdf")).unwrap(),
        "PDF is not reproducible"
    );
}

/// A journal with fixed times and contents, written through the library.
fn fixed_journal(path: &Path) -> Journal {
    let j = Journal::new(path);
    let run = RunMeta {
        tool: "postmortem".into(),
        version: "0.1.0".into(),
        title: None,
        hostname: "operator".into(),
        user: "user".into(),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
    };
    j.append("2026-11-26T09:00:00.000+09:00", &Body::Run(run))
        .unwrap();
    let stream = |text: &str| Stream {
        text: text.into(),
        bytes: text.len() as u64,
        ..Default::default()
    };
    let ev = Evidence {
        host: "server01".into(),
        address: None,
        host_key: None,
        user: None,
        command: "sysctl net.ipv4.ip_forward".into(),
        cwd: None,
        session: None,
        probe: None,
        step: None,
        started_at: "2026-11-26T09:00:01.000+09:00".into(),
        ended_at: "2026-11-26T09:00:01.012+09:00".into(),
        duration_ms: 12,
        outcome: Outcome::Exited { code: 0 },
        stdout: stream("net.ipv4.ip_forward = 0\n"),
        stderr: stream(""),
    };
    j.append("2026-11-26T09:00:01.013+09:00", &Body::Evidence(ev))
        .unwrap();
    let note = Note {
        text: "ip_forward が 0。\nVM の通信は server01 で止まる。".into(),
        ..Default::default()
    };
    j.append("2026-11-26T09:00:02.000+09:00", &Body::Note(note))
        .unwrap();
    let ev = Evidence {
        host: "node1".into(),
        address: Some("192.168.222.222".into()),
        host_key: None,
        user: None,
        command: "apt-get update".into(),
        cwd: None,
        session: None,
        probe: None,
        step: None,
        started_at: "2026-11-26T09:00:03.000+09:00".into(),
        ended_at: "2026-11-26T09:00:08.500+09:00".into(),
        duration_ms: 5500,
        outcome: Outcome::Exited { code: 100 },
        stdout: stream("Err:1 http://archive.ubuntu.com/ubuntu focal InRelease\n  Connection timed out [IP: 203.0.113.80 80]\n"),
        stderr: stream("E: Some index files failed to download.\n"),
    };
    j.append("2026-11-26T09:00:08.501+09:00", &Body::Evidence(ev))
        .unwrap();
    j
}

#[test]
fn golden_markdown_of_a_fixed_journal() {
    let d = tempdir();
    let j = fixed_journal(&d.path().join("journal.jsonl"));
    let entries = j.read_all().unwrap();
    for lang in [Lang::Ja, Lang::En] {
        let md = markdown(&entries, j.path(), lang, &Redactor::new()).unwrap();
        let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/golden/fixed.{}.md", lang.code()));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            fs::write(&golden, &md).unwrap();
        }
        let want = fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1 writes it)", golden.display()));
        assert_eq!(md, want, "Markdown differs from {}", golden.display());
    }
}

#[test]
fn markdown_renders_as_gfm_with_breaks() {
    let d = tempdir();
    let j = fixed_journal(&d.path().join("journal.jsonl"));
    let md = markdown(&j.read_all().unwrap(), j.path(), Lang::Ja, &Redactor::new()).unwrap();
    let f = d.path().join("r.md");
    fs::write(&f, &md).unwrap();
    let html = remark(&f);
    assert!(html.contains("<h1>障害対応報告書</h1>"), "{html}");
    assert!(html.contains("<h2>タイムライン</h2>"), "{html}");
    assert_eq!(
        html.matches("<table>").count(),
        4,
        "run table, timeline, one per evidence: {html}"
    );
    assert!(html.contains("<td>server01</td>"), "{html}");
    assert!(
        html.contains("<pre><code>net.ipv4.ip_forward = 0\n</code></pre>"),
        "{html}"
    );
    assert!(
        html.contains("<pre><code>E: Some index files failed to download.\n</code></pre>"),
        "{html}"
    );
    // The note's line break survives as a hard break (remark-breaks), its text is not a list.
    assert!(
        html.contains("ip_forward が 0。<br>\nVM の通信は server01 で止まる。"),
        "{html}"
    );
    // Hashes are shown in code spans.
    let h = &j.read_all().unwrap()[1].hash;
    assert!(html.contains(&format!("<code>{h}</code>")), "{html}");
}

const HOSTILE: &[&str] = &[
    "<script>alert(\"pwned\")</script>",
    "# Heading injection",
    "[click me](http://evil.example/)",
    "```",
    "~~~",
    "#read(\"/etc/passwd\")",
    "#import \"@preview/evil:0.1.0\": *",
    "$x^2$ *bold* _emph_ @ref <label>",
    "| a | b |",
];

fn hostile_output() -> Vec<u8> {
    let mut out = Vec::new();
    for h in HOSTILE {
        out.extend_from_slice(h.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"\x1b[31mRED\x1b[0m NUL:\x00: bad:\xff\xfe:\n");
    out
}

#[test]
fn hostile_evidence_is_literal_in_every_format() {
    require_typst();
    let d = tempdir();
    fs::write(d.path().join("hostile.bin"), hostile_output()).unwrap();
    let o = pm(
        d.path(),
        &[
            "record",
            "--host",
            "<b>evil</b>",
            "--",
            "cat",
            "hostile.bin",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    pm(
        d.path(),
        &[
            "note",
            "#read(\"/etc/passwd\") <script>x</script> [l](http://evil.example/)",
        ],
    );
    let o = all_formats(d.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.path().join("out");

    for lang in ["ja", "en"] {
        // Markdown: inside a code block, as GFM renders it.
        let html = remark(&out.join(format!("report.{lang}.md")));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("href=\"http://evil"), "{html}");
        assert!(!html.contains("<h1>Heading injection"), "{html}");
        let code: String = html
            .split("<pre><code>")
            .skip(1)
            .map(|s| s.split("</code></pre>").next().unwrap())
            .collect();
        for h in HOSTILE {
            let escaped = h.replace('&', "&#x26;").replace('<', "&#x3C;");
            assert!(
                code.contains(h) || code.contains(&escaped),
                "{h:?} not literal in a code block:\n{code}"
            );
        }
        assert!(
            code.contains("\u{241b}[31mRED\u{241b}[0m NUL:\u{2400}: bad:\u{fffd}\u{fffd}:"),
            "{code}"
        );

        // HTML: escaped, never markup.
        let page = fs::read_to_string(out.join(format!("report.{lang}.html"))).unwrap();
        assert!(!page.contains("<script"), "raw script in HTML");
        assert!(!page.contains("<b>evil"), "raw tag in HTML");
        assert!(!page.contains("href=\"http://evil"), "link in HTML");
        assert!(
            page.contains("&lt;script&gt;alert(\"pwned\")&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("#read(\"/etc/passwd\")"), "{page}");
        assert!(
            page.contains("&lt;b&gt;evil&lt;/b&gt;"),
            "host label escaped"
        );

        // PDF: the text itself.
        let text = pdftotext(&out.join(format!("report.{lang}.pdf")));
        for h in [
            "#read(\"/etc/passwd\")",
            "#import \"@preview/evil:0.1.0\": *",
            "$x^2$ *bold* _emph_ @ref <label>",
            "<script>alert(\"pwned\")</script>",
            "[click me](http://evil.example/)",
            "<b>evil</b>",
        ] {
            assert!(text.contains(h), "{h:?} not literal in the PDF:\n{text}");
        }
        assert!(text.contains("RED") && text.contains("\u{fffd}"), "{text}");
        assert!(
            !text.contains("root:x:0:0"),
            "/etc/passwd was read into the PDF"
        );
    }
}

/// One planted secret of every built-in kind.
const SECRETS: &[(&str, &str)] = &[
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("db:\n  password: yaml-pass-1234", "yaml-pass-1234"),
    ("{\"secret\": \"json-secret-5678\"}", "json-secret-5678"),
    ("[auth]\ntoken = ini-token-9012", "ini-token-9012"),
    ("API_KEY=env-key-3456", "env-key-3456"),
    ("export OS_PASSWORD=os-pass-7890", "os-pass-7890"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.bearer-payload", "eyJhbGciOiJIUzI1NiJ9.bearer-payload"),
    ("    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=", "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo="),
    ("- name: admin\n  user:\n    token: kube-token-abcdef", "kube-token-abcdef"),
    ("mysql --password cli-pass-2468 -h db", "cli-pass-2468"),
    ("openstack --os-password=cli-pass-1357 server list", "cli-pass-1357"),
];

#[test]
fn planted_secrets_reach_no_file() {
    let d = tempdir();
    let mut planted = String::new();
    for (text, _) in SECRETS {
        planted.push_str(text);
        planted.push('\n');
    }
    planted.push_str("custom: literal-shh-1111 and pattern ZZ-4242-ZZ\n");
    fs::write(d.path().join("secrets.txt"), &planted).unwrap();
    fs::write(
        d.path().join("mine"),
        "literal-shh-1111\nregex:ZZ-[0-9]+-ZZ\n",
    )
    .unwrap();
    let sf = ["--secrets-file", "mine"];
    let o = pm(
        d.path(),
        &[&["record"][..], &sf, &["--", "cat", "secrets.txt"]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // On stderr and in the command line too.
    pm(
        d.path(),
        &[
            &["record"][..],
            &sf,
            &["--", "sh", "-c", "cat secrets.txt >&2"],
        ]
        .concat(),
    );
    pm(
        d.path(),
        &[
            &["record"][..],
            &sf,
            &[
                "--",
                "echo",
                "--password",
                "argv-pass-0000",
                "OS_PASSWORD=argv-pass-1111",
            ],
        ]
        .concat(),
    );
    pm(
        d.path(),
        &[
            &["note"][..],
            &sf,
            &["the password: note-pass-2222 and literal-shh-1111"],
        ]
        .concat(),
    );
    let o = pm(d.path(), &["report", "--format", "md,html", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut values: Vec<&str> = SECRETS.iter().map(|(_, v)| *v).collect();
    values.extend([
        "literal-shh-1111",
        "ZZ-4242-ZZ",
        "argv-pass-0000",
        "argv-pass-1111",
        "note-pass-2222",
    ]);
    let mut files = vec![d.path().join("journal.jsonl")];
    files.extend(
        fs::read_dir(d.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    assert!(files.len() >= 5);
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        for v in &values {
            assert!(!text.contains(v), "secret {v:?} reached {}", f.display());
        }
    }
    let journal = fs::read_to_string(d.path().join("journal.jsonl")).unwrap();
    for kind in [
        "private-key",
        "password",
        "secret",
        "token",
        "key",
        "authorization",
        "client-key-data",
        "user-secret",
        "user-pattern",
    ] {
        assert!(
            journal.contains(&format!("[REDACTED:{kind}]")),
            "no {kind} marker in the journal"
        );
    }
}

#[test]
fn bad_input_gets_clear_errors_and_loses_nothing() {
    let d = tempdir();
    // Missing journal.
    let o = pm(
        d.path(),
        &["report", "--journal", "nope.jsonl", "--format", "md"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("nope.jsonl") && stderr(&o).contains("No such file"),
        "{}",
        stderr(&o)
    );
    let o = pm(d.path(), &["journal", "verify", "nope.jsonl"]);
    assert!(!o.status.success());

    // A journal with a broken line: the error names the line; nothing is written or changed.
    pm(d.path(), &["note", "one"]);
    pm(d.path(), &["note", "two"]);
    let path = d.path().join("journal.jsonl");
    let good = fs::read_to_string(&path).unwrap();
    let broken = good
        .replacen("{\"at\"", "{\"at", 2)
        .replacen("{\"at", "{\"at\"", 1);
    fs::write(&path, &broken).unwrap();
    let o = pm(d.path(), &["report", "--format", "md", "--out", "out"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("line 2") && stderr(&o).contains("journal.jsonl"),
        "{}",
        stderr(&o)
    );
    assert!(!d.path().join("out/report.ja.md").exists());
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        broken,
        "the journal was changed"
    );
    fs::write(&path, &good).unwrap();

    // Unknown language and format.
    let o = pm(d.path(), &["report", "--lang", "fr"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'fr'") && stderr(&o).contains("ja") && stderr(&o).contains("en"),
        "{}",
        stderr(&o)
    );
    let o = pm(d.path(), &["report", "--format", "docx"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'docx'") && stderr(&o).contains("md"),
        "{}",
        stderr(&o)
    );

    // Unwritable --out (a path under a regular file: even root cannot write there).
    let o = pm(
        d.path(),
        &["report", "--format", "md", "--out", "journal.jsonl/sub"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("journal.jsonl/sub"), "{}", stderr(&o));

    // An earlier report is not lost when a later one fails.
    let o = pm(d.path(), &["report", "--format", "md,html", "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = fs::read_to_string(d.path().join("out/report.en.md")).unwrap();
    fs::write(&path, format!("{good}not json\n")).unwrap();
    let o = pm(d.path(), &["report", "--format", "md,html", "--out", "out"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 4"), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(d.path().join("out/report.en.md")).unwrap(),
        before
    );
    // And nothing is appended to a journal whose last line is broken.
    let o = pm(d.path(), &["note", "three"]);
    assert!(!o.status.success());
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{good}not json\n")
    );
}

#[test]
fn missing_typst_still_writes_md_and_html_and_says_how_to_install() {
    let d = tempdir();
    pm(d.path(), &["note", "hello"]);
    let o = std::process::Command::new(bin())
        .current_dir(d.path())
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", d.path())
        .env_remove("POSTMORTEM_TYPST")
        .args(["report", "--out", "out"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cargo install --locked typst-cli"),
        "{}",
        stderr(&o)
    );
    for f in [
        "report.ja.md",
        "report.en.md",
        "report.ja.html",
        "report.en.html",
    ] {
        assert!(d.path().join("out").join(f).is_file(), "{f} missing");
    }
    assert!(!d.path().join("out/report.ja.pdf").exists());
}

/// Run postmortem in `dir` as the user `user` (the journal's author).
fn pm_as(dir: &Path, user: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .current_dir(dir)
        .env_remove("POSTMORTEM_JOURNAL")
        .env("USER", user)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_team_report_merges_journals_by_time_and_names_the_one_that_does_not_verify() {
    let d = tempdir();
    let dir = d.path();
    let step = |user: &str, args: &[&str]| {
        let o = pm_as(dir, user, args);
        assert!(o.status.success(), "{}", stderr(&o));
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    step(
        "alice",
        &[
            "note",
            "--journal",
            "alice.jsonl",
            "server01 forwards nothing",
        ],
    );
    step(
        "bob",
        &[
            "record",
            "--journal",
            "bob.jsonl",
            "--",
            "echo",
            "bob-first",
        ],
    );
    step(
        "alice",
        &[
            "record",
            "--journal",
            "alice.jsonl",
            "--",
            "echo",
            "alice-second",
        ],
    );
    step(
        "bob",
        &[
            "note",
            "--journal",
            "bob.jsonl",
            "BGP is Active, not Established",
        ],
    );
    step(
        "carol",
        &["note", "--journal", "carol.jsonl", "carol's note"],
    );
    // Carol's journal is edited after the fact.
    let c = fs::read_to_string(dir.join("carol.jsonl")).unwrap();
    fs::write(
        dir.join("carol.jsonl"),
        c.replace("carol's note", "carol's NOTE"),
    )
    .unwrap();

    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            "alice.jsonl",
            "--journal",
            "bob.jsonl",
            "--journal",
            "carol.jsonl",
            "--out",
            "out",
            "--format",
            "md,html,pdf",
            "--lang",
            "en,ja",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(4),
        "a journal left out: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("carol.jsonl"), "{}", stderr(&o));
    let md = fs::read_to_string(dir.join("out/team.en.md")).unwrap();
    // Ordered by time across the journals, each record named by member and seq.
    let pos = |s: &str| md.find(s).unwrap_or_else(|| panic!("{s} missing:\n{md}"));
    let order = ["| alice#2 |", "| bob#2 |", "| alice#3 |", "| bob#3 |"];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "{} before {}", w[0], w[1]);
    }
    // The author, user@host (escaped in Markdown so that it is no mail link).
    assert!(md.contains("alice\\@"), "the author");
    assert!(md.contains("bob\\@"));
    assert!(md.contains("## Journals not merged"));
    assert!(
        !md.contains("carol's"),
        "nothing of a journal that does not verify"
    );
    // The merged journals are copied beside the report, and still verify.
    for m in ["alice", "bob"] {
        let o = pm(
            dir,
            &["journal", "verify", &format!("out/journals/{m}.jsonl")],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(!dir.join("out/journals/carol.jsonl").exists());
    let ja = fs::read_to_string(dir.join("out/team.ja.md")).unwrap();
    assert!(ja.contains("チームの報告") && ja.contains("統合しなかったジャーナル"));
    let html = fs::read_to_string(dir.join("out/team.en.html")).unwrap();
    assert!(html.contains("alice#3") && html.contains("bob-first"));
    assert!(
        html.contains("journal carol.jsonl: line 2: content does not match its hash"),
        "the reason names the journal and line"
    );
    let pdf = pdftotext(&dir.join("out/team.en.pdf"));
    assert!(
        pdf.contains("alice#3") && pdf.contains("BGP is Active"),
        "{pdf}"
    );
}
