//! An incident no scenario knows, written up from what the responder ran and noted: a real
//! OpenSSH sshd on loopback refuses root because of an `AllowUsers` line. Worked once through
//! `postmortem shell` (bash in a real pseudo-terminal, role notes typed as `#cause:` lines) and
//! once with `record` and `note --as` only. Checked: the answer's sections hold the checks, the
//! cause note, the changes with their prompts and the before/after pair; every part of the
//! post-mortem is filled; `answer check` passes on the generated answers and fails on an edited
//! copy naming its line; the score server's renderer shows the notes literally; bad input is
//! refused with what exists.

mod common;
#[path = "common/pty.rs"]
mod pty;
#[path = "common/sshd.rs"]
mod sshd;
use common::*;
use postmortem::journal::{redact::Redactor, Journal};
use postmortem::report::{responder_answer, written, Lang};
use std::path::Path;
use std::time::{Duration, Instant};

/// sshd on loopback with the fault, a client key it would accept, and an ssh_config naming
/// it `bastion`.
fn faulty_sshd(dir: &Path) -> sshd::Sshd {
    let key = dir.join("id_ed25519");
    sshd::keygen(&key, "ed25519", &[]);
    let s = sshd::Sshd::start(dir, "bastion", &[&key]);
    // The fault: only a user that does not exist may log in. sshd reads it on SIGHUP.
    let cfg = s.dir.join("sshd_config");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("AllowUsers nobody-else\n");
    std::fs::write(&cfg, text).unwrap();
    hup(&s);
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
            s.port,
            key.display()
        ),
    )
    .unwrap();
    s
}

fn pid_of(s: &sshd::Sshd) -> String {
    let t0 = Instant::now();
    loop {
        if let Ok(p) = std::fs::read_to_string(s.dir.join("sshd.pid")) {
            return p.trim().to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "sshd wrote no pid file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until sshd listens again (it re-executes itself on SIGHUP).
fn listening(s: &sshd::Sshd) {
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "sshd did not come back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hup(s: &sshd::Sshd) {
    let pid = pid_of(s);
    let st = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    listening(s);
}

const NOTES: &[(&str, &str)] = &[
    ("trouble", "root cannot log in to bastion over SSH: Permission denied (publickey)."),
    ("finding", "AllowUsers lets only nobody-else in; root is refused before its key is tried."),
    ("cause", "sshd_config の AllowUsers が nobody-else だけを許すため、sshd が root のログインを拒否していた。"),
    ("fix", "AllowUsers に root を書き、SIGHUP で sshd に設定を読み直させた。*鍵* と <b>設定</b> [x](y) はそのまま。"),
    ("verify", "root で id -un が root を返す。"),
    ("impact", "root での保守ログインが 20 分できなかった。"),
    ("detection", "監視ではなく、ログインを試みた担当者が気づいた。"),
    ("action", "sshd_config の変更は sshd -t で確かめてから反映する。"),
    ("lesson", "AllowUsers は鍵の確認より先に効く。"),
];

fn report(dir: &Path, journal: &str, style: &str, out: &str, formats: &str) -> String {
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            journal,
            "--style",
            style,
            "--format",
            formats,
            "--out",
            out,
            "--lang",
            "ja,en",
        ],
    );
    assert!(o.status.success(), "report: {}", stderr(&o));
    stderr(&o)
}

fn sections(md: &str) -> Vec<String> {
    md.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(String::from)
        .collect()
}

/// The part of `md` under the h1 `head`, up to the next h1.
fn section<'a>(md: &'a str, head: &str) -> &'a str {
    let start = md
        .find(&format!("# {head}\n"))
        .unwrap_or_else(|| panic!("no section {head}:\n{md}"));
    let rest = &md[start + head.len() + 3..];
    &rest[..rest.find("\n# ").unwrap_or(rest.len())]
}

/// What both ways of working must show.
fn check_written(dir: &Path, journal: &str, host: &str, user: &str, cwd: &str) {
    let said = report(dir, journal, "answer", "out", "md,html");
    // The sed's file was never shown with cat: the writer is told, the judge's Markdown is not.
    assert!(
        said.contains("sshd_config") && said.contains("never shown"),
        "{said}"
    );
    let ja = std::fs::read_to_string(dir.join("out/answer.ja.md")).unwrap();
    assert_eq!(
        sections(&ja),
        [
            "トラブルの内容",
            "調査の過程",
            "原因",
            "解決方法",
            "解決する理由",
            "終了状態の確認"
        ],
        "{ja}"
    );
    let sign = if user == "root" { '#' } else { '$' };
    let prompt = format!("{user}@{host}:{cwd}{sign} ");
    let inv = section(&ja, "調査の過程");
    assert!(inv.contains("Permission denied (publickey)"), "{inv}");
    assert!(inv.contains("AllowUsers nobody-else"), "{inv}");
    assert!(
        inv.contains("わかったこと: AllowUsers lets only nobody-else in"),
        "{inv}"
    );
    assert!(section(&ja, "原因").contains(NOTES[2].1));
    let sol = section(&ja, "解決方法");
    assert!(
        sol.contains(&format!(
            "{prompt}sed -i 's/^AllowUsers .*/AllowUsers root/' sshd_config"
        )),
        "{sol}"
    );
    assert!(
        sol.contains(&format!("{prompt}kill -HUP $(cat sshd.pid)")),
        "{sol}"
    );
    assert!(
        sol.contains("書き込んだファイルの内容は示していません: `sshd_config`"),
        "{sol}"
    );
    // No check in the solution, no change in the investigation.
    assert!(!sol.contains("grep"), "{sol}");
    assert!(!inv.contains("sed -i"), "{inv}");
    let end = section(&ja, "終了状態の確認");
    // The before is the investigation's check, named there; the after is shown here.
    assert!(end.contains("**変更後**(変更前は調査の過程の 1.)"), "{end}");
    assert!(end.contains("**変更後**(変更前は調査の過程の 2.)"), "{end}");
    let after = end;
    assert!(
        after.contains(&format!("{prompt}ssh -F ssh_config bastion id -un\nroot\n")),
        "{end}"
    );
    assert!(after.contains("AllowUsers root"), "{end}");
    assert!(end.contains(NOTES[4].1));
    assert!(
        ja.chars().count() <= 3000,
        "{} characters",
        ja.chars().count()
    );
    // The warnings are in the HTML, not in the Markdown.
    let html = std::fs::read_to_string(dir.join("out/answer.ja.html")).unwrap();
    assert!(html.contains("回答に足りないもの"));
    assert!(!ja.contains("回答に足りないもの"));

    // answer check: both generated answers pass; an edited output line fails on its line.
    for a in ["out/answer.ja.md", "out/answer.en.md"] {
        let o = pm(dir, &["answer", "check", a, "--journal", journal]);
        assert!(o.status.success(), "{a}: {}", stderr(&o));
    }
    let edited = ja.replacen("AllowUsers nobody-else", "AllowUsers root-admin", 1);
    let line = edited
        .lines()
        .position(|l| l.contains("AllowUsers root-admin"))
        .unwrap()
        + 1;
    std::fs::write(dir.join("edited.md"), &edited).unwrap();
    let o = pm(dir, &["answer", "check", "edited.md", "--journal", journal]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("edited.md:{line}: ")),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o)
            .lines()
            .filter(|l| l.starts_with("edited.md:"))
            .count(),
        1,
        "{}",
        stderr(&o)
    );
    // A command never run fails too.
    let invented = ja.replacen("kill -HUP $(cat sshd.pid)", "systemctl restart ssh", 1);
    std::fs::write(dir.join("invented.md"), &invented).unwrap();
    let o = pm(
        dir,
        &["answer", "check", "invented.md", "--journal", journal],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("was never recorded"), "{}", stderr(&o));

    // The post-mortem: every part filled from the roles.
    report(dir, journal, "postmortem", "pm", "md,html");
    for (lang, empty) in [("ja", "記録がありません"), ("en", "Nothing recorded")] {
        let md = std::fs::read_to_string(dir.join(format!("pm/report.{lang}.md"))).unwrap();
        assert!(!md.contains(empty), "{lang}: an empty part:\n{md}");
        // The score server's renderer shows the notes literally.
        let text = remark_text(&dir.join(format!("pm/report.{lang}.md")));
        for (role, n) in NOTES {
            assert!(
                text.contains(n),
                "{lang}: the {role} note is not shown as written:\n{text}"
            );
        }
        assert!(text.contains("$ kill -HUP $(cat sshd.pid)"), "{text}");
    }

    // The answer as the score server shows it is the text it was written to show.
    let entries = Journal::new(dir.join(journal)).read_all().unwrap();
    let red = Redactor::new();
    for lang in [Lang::Ja, Lang::En] {
        let mut a = responder_answer(&entries, lang, None, &red);
        let (md, text) = written::answer(&mut a, lang);
        let p = dir.join(format!("again.{}.md", lang.code()));
        std::fs::write(&p, &md).unwrap();
        assert_eq!(squeeze(&remark_text(&p)), squeeze(&text), "{md}");
        assert!(remark_text(&p).contains("*鍵* と <b>設定</b> [x](y) はそのまま。"));
    }
}

fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect()
}

/// The text the score server's renderer shows for a Markdown file.
fn remark_text(md: &Path) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remark");
    assert!(
        dir.join("node_modules/remark-math").exists(),
        "tests/remark has no node_modules: run scripts/install-deps.sh (npm ci in tests/remark)"
    );
    let o = std::process::Command::new("node")
        .arg(dir.join("render.mjs"))
        .arg("--text")
        .arg(md)
        .output()
        .expect("node runs");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn this_user() -> String {
    postmortem::journal::current_user().unwrap()
}

#[test]
fn an_incident_worked_in_the_shell_is_written_up_from_its_roles() {
    let d = tempdir();
    let dir = d.path();
    let s = faulty_sshd(dir);
    let work = s.dir.clone();
    std::fs::copy(dir.join("ssh_config"), work.join("ssh_config")).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".bashrc"), "PS1='pm$ '\n").unwrap();
    let journal = dir.join("j.jsonl");
    let mut t = pty::Term::spawn(
        &bin(),
        &["shell", "--journal", journal.to_str().unwrap()],
        &[
            ("SHELL", "/bin/bash"),
            ("HOME", home.to_str().unwrap()),
            ("TERM", "xterm-256color"),
        ],
        dir,
        (120, 40),
    );
    t.expect("pm$ ");
    let run = |t: &mut pty::Term, line: &str| {
        t.send(&format!("{line}\r"));
        t.expect("pm$ ");
    };
    run(&mut t, &format!("cd {}", work.display()));
    run(&mut t, &format!("#trouble: {}", NOTES[0].1));
    run(&mut t, "ssh -F ssh_config bastion id -un");
    run(&mut t, "grep -n AllowUsers sshd_config");
    for (role, text) in &NOTES[1..3] {
        run(&mut t, &format!("#{role}: {text}"));
    }
    run(
        &mut t,
        "sed -i 's/^AllowUsers .*/AllowUsers root/' sshd_config",
    );
    run(&mut t, "kill -HUP $(cat sshd.pid)");
    listening(&s);
    run(&mut t, "grep -n AllowUsers sshd_config");
    run(&mut t, "ssh -F ssh_config bastion id -un");
    for (role, text) in &NOTES[3..] {
        run(&mut t, &format!("#{role}: {text}"));
    }
    t.send("exit\r");
    let (status, _) = t.wait();
    assert!(status.success());
    // The prompts show the directory the shell was in; `cd` itself is neither check nor change.
    check_written(
        dir,
        "j.jsonl",
        &this_host(),
        &this_user(),
        work.to_str().unwrap(),
    );
    let ja = std::fs::read_to_string(dir.join("out/answer.ja.md")).unwrap();
    assert!(!ja.contains("# cd "), "{ja}");
    // The answer's PDF is the answer.
    require_typst();
    report(dir, "j.jsonl", "answer", "pdf", "pdf");
    let text = pdftotext(&dir.join("pdf/answer.ja.pdf"));
    assert!(text.contains("AllowUsers"), "{text}");
}

#[test]
fn the_same_incident_recorded_with_record_and_note_only() {
    let d = tempdir();
    let dir = d.path();
    let s = faulty_sshd(dir);
    let work = s.dir.clone();
    std::fs::copy(dir.join("ssh_config"), work.join("ssh_config")).unwrap();
    let j = dir.join("j.jsonl");
    let j = j.to_str().unwrap();
    let rec = |line: &str| {
        let o = std::process::Command::new(bin())
            .current_dir(&work)
            .args([
                "record",
                "--journal",
                j,
                "--host",
                "bastion-admin",
                "--",
                "bash",
                "-c",
                line,
            ])
            .output()
            .unwrap();
        o.status.code()
    };
    let note = |role: &str, text: &str| {
        let o = pm(dir, &["note", "--journal", j, "--as", role, text]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    note("trouble", NOTES[0].1);
    assert_eq!(rec("ssh -F ssh_config bastion id -un"), Some(255));
    assert_eq!(rec("grep -n AllowUsers sshd_config"), Some(0));
    for (role, text) in &NOTES[1..3] {
        note(role, text);
    }
    rec("sed -i 's/^AllowUsers .*/AllowUsers root/' sshd_config");
    rec("kill -HUP $(cat sshd.pid)");
    listening(&s);
    rec("grep -n AllowUsers sshd_config");
    assert_eq!(rec("ssh -F ssh_config bastion id -un"), Some(0));
    for (role, text) in &NOTES[3..] {
        note(role, text);
    }
    // Recorded through `bash -c`: the answer shows the command as recorded, wrapper and all;
    // the roles and the pairs are found the same way.
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            j,
            "--format",
            "md",
            "--out",
            "out",
            "--lang",
            "ja",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ja = std::fs::read_to_string(dir.join("out/answer.ja.md")).unwrap();
    assert_eq!(
        sections(&ja),
        [
            "トラブルの内容",
            "調査の過程",
            "原因",
            "解決方法",
            "解決する理由",
            "終了状態の確認"
        ],
        "{ja}"
    );
    let sol = section(&ja, "解決方法");
    assert!(sol.contains("sed -i"), "{sol}");
    assert!(sol.contains("kill -HUP"), "{sol}");
    let end = section(&ja, "終了状態の確認");
    assert!(end.contains("\nroot\n"), "{end}");
    assert!(
        section(&ja, "調査の過程").contains("Permission denied (publickey)"),
        "{ja}"
    );
    let o = pm(
        dir,
        &["answer", "check", "out/answer.ja.md", "--journal", j],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn plain_record_and_note_are_enough_to_write_it_up() {
    // The same incident typed directly as `record -- CMD ARGS` (no shell wrapper), in a
    // directory of its own: the whole path of the README's "Using it".
    let d = tempdir();
    let dir = d.path();
    let s = faulty_sshd(dir);
    let work = s.dir.clone();
    std::fs::copy(dir.join("ssh_config"), work.join("ssh_config")).unwrap();
    let j = dir.join("j.jsonl");
    let j = j.to_str().unwrap();
    let rec = |args: &[&str]| {
        let mut a = vec!["record", "--journal", j, "--host", "bastion-admin", "--"];
        a.extend_from_slice(args);
        std::process::Command::new(bin())
            .current_dir(&work)
            .args(&a)
            .output()
            .unwrap()
            .status
            .code()
    };
    let note = |args: &[&str]| {
        let mut a = vec!["note", "--journal", j];
        a.extend_from_slice(args);
        pm(dir, &a)
    };
    assert!(note(&["--as", "trouble", NOTES[0].1]).status.success());
    rec(&["ssh", "-F", "ssh_config", "bastion", "id", "-un"]);
    rec(&["grep", "-n", "AllowUsers", "sshd_config"]);
    rec(&["cat", "ssh_config"]);
    // --about names the record and the lines to quote; past its end it is refused.
    let o = note(&["--as", "finding", "--about", "4:1", NOTES[1].1]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = note(&["--as", "finding", "--about", "4:1-5", "x"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("record #4 has 1 output line (1-1)"),
        "{}",
        stderr(&o)
    );
    let o = note(&["--about", "40", "x"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no evidence record #40 (the evidence records are #3 to #5)"),
        "{}",
        stderr(&o)
    );
    let o = note(&["--as", "reason", "x"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "the roles are trouble, finding, cause, fix, verify, impact, detection, action, lesson"
        ),
        "{}",
        stderr(&o)
    );
    assert!(note(&["--as", "cause", NOTES[2].1]).status.success());
    rec(&[
        "sed",
        "-i",
        "s/^AllowUsers .*/AllowUsers root/",
        "sshd_config",
    ]);
    rec(&["cat", "sshd_config"]);
    // A script of the site's own: the table cannot know it changes anything.
    let script = work.join("reload-sshd");
    std::fs::write(&script, "#!/bin/sh\nkill -HUP \"$(cat sshd.pid)\"\n").unwrap();
    std::process::Command::new("chmod")
        .args(["+x", script.to_str().unwrap()])
        .status()
        .unwrap();
    rec(&["./reload-sshd"]);
    listening(&s);
    // The user overrides the table: record #10 is the change that reloads sshd.
    assert!(note(&["--as", "fix", "--about", "10", NOTES[3].1])
        .status
        .success());
    rec(&["ssh", "-F", "ssh_config", "bastion", "id", "-un"]);
    rec(&["grep", "-n", "AllowUsers", "sshd_config"]);
    for (role, text) in &NOTES[4..] {
        assert!(note(&["--as", role, text]).status.success());
    }
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            j,
            "--format",
            "md",
            "--out",
            "out",
            "--lang",
            "en",
            "--strict",
        ],
    );
    // A written file was shown, every change has a check after it, every part has its note:
    // nothing to warn of, so --strict passes.
    assert!(o.status.success(), "{}", stderr(&o));
    let en = std::fs::read_to_string(dir.join("out/answer.en.md")).unwrap();
    let sol = section(&en, "The solution");
    // The file sed wrote, shown with cat right after the change that wrote it.
    let sed = sol.find("sed -i").unwrap();
    let cat = sol.find("cat sshd_config").expect("the file shown");
    let kill = sol.find("./reload-sshd").expect("the overridden change");
    assert!(sed < cat && cat < kill, "{sol}");
    assert!(sol.contains("AllowUsers root\n"), "{sol}");
    assert!(!sol.contains("not shown"), "{sol}");
    // The finding quotes the line it names; the fix note is about the change it names.
    let inv = section(&en, "How it was investigated");
    assert!(
        inv.contains("1:AllowUsers nobody-else") || inv.contains("AllowUsers nobody-else"),
        "{inv}"
    );
    assert!(section(&en, "Why it works").contains("SIGHUP"), "{en}");
    // `cat ssh_config` showed nothing that matters and nothing was concluded from it; it stays
    // (the answer is short), and answer check passes.
    let o = pm(
        dir,
        &["answer", "check", "out/answer.en.md", "--journal", j],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // reports/example-manual is this journal's answer and post-mortem:
    // POSTMORTEM_EXAMPLE_OUT=$PWD/reports/example-manual cargo test --test any_incident plain_
    if let Some(out) = std::env::var_os("POSTMORTEM_EXAMPLE_OUT") {
        let out = Path::new(&out);
        let pm_out = out.join("postmortem");
        for (style, o) in [("answer", out), ("postmortem", pm_out.as_path())] {
            let args = [
                "report",
                "--journal",
                j,
                "--style",
                style,
                "--team",
                "postmortem-example",
                "--out",
                o.to_str().unwrap(),
            ];
            let o = pm(dir, &args);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let _ = std::fs::remove_file(pm_out.join("journal.jsonl"));
    }
}

#[test]
fn a_journal_without_notes_gets_an_answer_with_what_it_can_show_and_warnings() {
    let d = tempdir();
    let dir = d.path();
    let j = "j.jsonl";
    for args in [
        vec![
            "record",
            "--journal",
            j,
            "--host",
            "web01",
            "--",
            "sh",
            "-c",
            "echo 'HTTP/1.1 502 Bad Gateway'",
        ],
        vec![
            "record",
            "--journal",
            j,
            "--host",
            "web01",
            "--",
            "touch",
            "restarted",
        ],
    ] {
        let o = pm(dir, &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            j,
            "--format",
            "md",
            "--out",
            "out",
            "--lang",
            "ja",
            "--strict",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "--strict: warnings exit 3");
    let e = stderr(&o);
    for w in [
        "no cause note",
        "no trouble note",
        "no check was run after the change `touch restarted`",
        "the file restarted written on web01 is never shown",
    ] {
        assert!(e.contains(w), "missing warning {w:?}: {e}");
    }
    let ja = std::fs::read_to_string(dir.join("out/answer.ja.md")).unwrap();
    // Only sections with something under them.
    assert_eq!(sections(&ja), ["調査の過程", "解決方法"], "{ja}");
    assert!(ja.contains("HTTP/1.1 502 Bad Gateway"));
    // Without --strict the same report exits 0.
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            j,
            "--format",
            "md",
            "--out",
            "out",
            "--lang",
            "ja",
        ],
    );
    assert!(o.status.success());
    // An answer with no shellsession block cannot be checked.
    std::fs::write(dir.join("plain.md"), "# 原因\n\nなにか\n").unwrap();
    let o = pm(dir, &["answer", "check", "plain.md", "--journal", j]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no shellsession block"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_team_answer_comes_from_the_members_merged_records() {
    // Two members on one problem: alice finds it, bob fixes and checks it. One answer, from
    // both journals in time order; the HTML names who recorded each command.
    let d = tempdir();
    let dir = d.path();
    std::fs::write(dir.join("app.env"), "PORT=8080\n").unwrap();
    let rec = |j: &str, args: &[&str]| {
        let mut a = vec!["record", "--journal", j, "--host", "web01", "--"];
        a.extend_from_slice(args);
        let o = pm(dir, &a);
        o.status.code()
    };
    let note = |j: &str, role: &str, text: &str| {
        assert!(pm(dir, &["note", "--journal", j, "--as", role, text])
            .status
            .success());
    };
    note(
        "alice.jsonl",
        "trouble",
        "app does not start: DB_HOST is missing",
    );
    assert_eq!(
        rec("alice.jsonl", &["grep", "-c", "DB_HOST", "app.env"]),
        Some(1)
    );
    note(
        "alice.jsonl",
        "cause",
        "app.env lost its DB_HOST line in the config change",
    );
    rec("bob.jsonl", &["sh", "-c", "echo DB_HOST=db01 >> app.env"]);
    assert_eq!(
        rec("bob.jsonl", &["grep", "-c", "DB_HOST", "app.env"]),
        Some(0)
    );
    note("bob.jsonl", "fix", "bob put the line back");
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            "alice.jsonl",
            "--journal",
            "bob.jsonl",
            "--style",
            "answer",
            "--format",
            "md,html",
            "--lang",
            "en",
            "--out",
            "out",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let en = std::fs::read_to_string(dir.join("out/answer.en.md")).unwrap();
    assert!(
        section(&en, "The cause").contains("lost its DB_HOST line"),
        "{en}"
    );
    assert!(
        section(&en, "The solution").contains("sh -c 'echo DB_HOST=db01 >> app.env'"),
        "{en}"
    );
    // alice's check before, bob's after: a pair across the two journals.
    let end = section(&en, "The end state, checked");
    assert!(end.contains("grep -c DB_HOST app.env\n1\n"), "{end}");
    assert!(
        section(&en, "How it was investigated").contains("grep -c DB_HOST app.env\n0\n"),
        "{en}"
    );
    let html = std::fs::read_to_string(dir.join("out/answer.en.html")).unwrap();
    assert!(html.contains("alice#3") && html.contains("bob#3"), "{html}");
    assert!(
        !en.contains("alice#"),
        "the Markdown a judge reads names no record"
    );
}

#[test]
fn a_run_that_reaches_no_host_writes_no_answer_and_says_why() {
    // Every host of the scenario at a loopback port where nothing listens.
    let d = tempdir();
    let dir = d.path();
    let port = sshd::free_port();
    std::fs::write(
        dir.join("cfg"),
        format!("Host *\n  HostName 127.0.0.1\n  Port {port}\n  User user\n"),
    )
    .unwrap();
    for args in [
        vec![
            "run",
            "--ssh-config",
            "cfg",
            "--journal",
            "j.jsonl",
            "--out",
            "out",
            "--no-sign",
        ],
        vec!["collect", "--ssh-config", "cfg", "--journal", "c.jsonl"],
    ] {
        let o = std::process::Command::new(bin())
            .current_dir(dir)
            .env("HOME", dir)
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{}: exits non-zero", args[0]);
        let e = stderr(&o);
        assert!(e.contains("no host could be reached"), "{e}");
        assert!(e.contains("the SSH configuration cfg"), "{e}");
        assert!(
            e.contains(&format!(
                "server01: cannot connect to 127.0.0.1:{port}: Connection refused"
            )),
            "{e}"
        );
    }
    assert!(!dir.join("out").exists(), "no answer written");
    // What was collected is kept.
    let j = std::fs::read_to_string(dir.join("j.jsonl")).unwrap();
    assert!(j.contains("\"kind\":\"evidence\"") && !j.contains("\"kind\":\"diagnosis\""));
}
