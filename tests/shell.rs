//! `postmortem shell`, driven through a real pseudo-terminal: bash and zsh here, bash over SSH
//! against OpenSSH's sshd, a shell without integration, a forged mark, a resized window, a
//! SIGKILL mid-session, and the asciicast export played by asciinema.

mod common;
#[path = "common/pty.rs"]
mod pty;
#[path = "common/sshd.rs"]
mod sshd;
use common::*;
use pty::Term;
use serde_json::Value;
use std::path::Path;

fn records(journal: &Path) -> Vec<Value> {
    std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn commands(recs: &[Value]) -> Vec<&Value> {
    recs.iter()
        .filter(|r| r["kind"] == "evidence" && r["session"].is_u64())
        .collect()
}

fn by_command<'a>(recs: &'a [Value], cmd: &str) -> &'a Value {
    commands(recs)
        .into_iter()
        .find(|r| r["command"] == cmd)
        .unwrap_or_else(|| {
            panic!(
                "no record of {cmd:?}; the commands: {:?}",
                commands(recs)
                    .iter()
                    .map(|r| r["command"].clone())
                    .collect::<Vec<_>>()
            )
        })
}

fn code(r: &Value) -> i64 {
    r["outcome"]["exited"]["code"]
        .as_i64()
        .expect("an exit code")
}

/// A home with a known prompt, so the test knows when the shell waits.
fn home(dir: &Path) -> std::path::PathBuf {
    let h = dir.join("home");
    std::fs::create_dir_all(&h).unwrap();
    std::fs::write(h.join(".bashrc"), "PS1='pm$ '\n").unwrap();
    std::fs::write(h.join(".zshrc"), "PS1='pm$ '\nunsetopt PROMPT_SP\n").unwrap();
    h
}

/// `postmortem shell` in a fresh terminal, started the way a background job of a script
/// starts it: with Ctrl-C (SIGINT) and SIGQUIT ignored. A terminal gives its shell the default
/// signals whatever it inherited, and so must the tool, or no command could be interrupted.
fn shell(dir: &Path, shell: &str, size: (u16, u16)) -> Term {
    let h = home(dir);
    let bin = bin();
    Term::spawn(
        Path::new("/bin/sh"),
        &[
            "-c",
            "trap '' INT QUIT; exec \"$0\" \"$@\"",
            bin.to_str().unwrap(),
            "shell",
            "--journal",
            "j.jsonl",
        ],
        &[
            ("SHELL", shell),
            ("HOME", h.to_str().unwrap()),
            ("TERM", "xterm-256color"),
            ("TMPDIR", dir.to_str().unwrap()),
        ],
        dir,
        size,
    )
}

fn verify(dir: &Path) {
    let o = pm(dir, &["journal", "verify", "j.jsonl"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A job that says it runs, then runs for 30 s as itself (its output, not the echo of the line
/// typed, shows that it runs).
const JOB: &str = "sh -c 'echo st$((1+1))rt; exec sleep 30'";

/// Run `JOB`, type Ctrl-C once its own output shows, and wait for `prompt`.
fn interrupt(t: &mut Term, prompt: &str) {
    t.send(&format!("{JOB}\r"));
    t.expect("st2rt");
    std::thread::sleep(std::time::Duration::from_millis(100));
    t.send("\x03");
    t.expect(prompt);
}

#[test]
fn bash_each_command_is_a_record_and_input_never_is() {
    let d = tempdir();
    let dir = d.path();
    let mut t = shell(dir, "/bin/bash", (100, 30));
    t.expect("pm$ ");
    t.send("echo M$((6*7))\r");
    t.expect("M42");
    t.expect("pm$ ");
    t.send("cd /tmp && ls /nonexistent-dir\r");
    t.expect("pm$ ");
    t.send("#note: the mirror answers; the VMs do not\r");
    t.expect("pm$ ");
    // Ctrl-C once the job runs, whatever the machine's load. The tool was started with SIGINT
    // ignored (see `shell`): the job still gets it.
    interrupt(&mut t, "pm$ ");
    // A password typed with echo off.
    // The prompt is not the text typed: what is waited for is the prompt itself, shown once
    // `read -s` has turned echo off, not the echo of the command line.
    t.send("read -s -p \"$(echo Pass)word: \" pw; echo; echo got ${#pw}\r");
    t.expect("Password: ");
    t.send("hunter2-SECRET-xyz\r");
    t.expect("got 18");
    t.expect("pm$ ");
    // A full-screen program.
    t.send("less /etc/os-release\r");
    t.expect("\x1b[?1049h");
    t.send("q");
    t.expect("pm$ ");
    t.send("echo token=ghp_abcdefghijklmnopqrstuvwxyz0123456789\r");
    t.expect("pm$ ");
    t.send("exit 3\r");
    let (status, screen) = t.wait();
    assert_eq!(status.code(), Some(3), "the shell's status is the tool's");

    // What the user saw: the shell's output, none of the session's marks.
    assert!(screen.contains("M42"));
    assert!(
        !screen.contains("\x1b]133;") && !screen.contains("\x1b]633;"),
        "a mark reached the screen"
    );

    verify(dir);
    let journal = std::fs::read_to_string(dir.join("j.jsonl")).unwrap();
    assert!(
        !journal.contains("hunter2-SECRET-xyz"),
        "input typed with echo off was recorded"
    );
    let recs = records(&dir.join("j.jsonl"));
    let echo = by_command(&recs, "echo M$((6*7))");
    assert_eq!(echo["stdout"]["text"], "M42\n");
    assert_eq!(code(echo), 0);
    assert_eq!(echo["cwd"], dir.to_str().unwrap());
    assert!(echo["started_at"].as_str().unwrap() <= echo["ended_at"].as_str().unwrap());
    let ls = by_command(&recs, "cd /tmp && ls /nonexistent-dir");
    assert_eq!(code(ls), 2);
    assert!(ls["stdout"]["text"]
        .as_str()
        .unwrap()
        .contains("No such file or directory"));
    let note = recs.iter().find(|r| r["kind"] == "note").expect("a note");
    assert_eq!(note["text"], "the mirror answers; the VMs do not");
    assert_eq!(code(by_command(&recs, JOB)), 130, "Ctrl-C: 128+SIGINT");
    let read = by_command(
        &recs,
        "read -s -p \"$(echo Pass)word: \" pw; echo; echo got ${#pw}",
    );
    assert_eq!(
        read["stdout"]["text"], "Password:\ngot 18\n",
        "trailing blanks do not show"
    );
    let less = by_command(&recs, "less /etc/os-release");
    let less_out = less["stdout"]["text"].as_str().unwrap();
    assert!(less_out.contains("a full-screen program"), "{less_out}");
    assert!(!less_out.contains("PRETTY_NAME"), "the screen was kept");
    let tok = commands(&recs)
        .into_iter()
        .find(|r| r["command"].as_str().unwrap().starts_with("echo token="))
        .unwrap();
    assert!(!journal.contains("ghp_abcdefghijklmnopqrstuvwxyz0123456789"));
    assert!(tok["command"].as_str().unwrap().contains("[REDACTED"));
    assert_eq!(code(by_command(&recs, "exit 3")), 3);
    let ended = recs
        .iter()
        .find(|r| r["kind"] == "session" && r["stage"] == "ended")
        .unwrap();
    assert_eq!(ended["shell"], "bash");
    assert_eq!(ended["commands"], commands(&recs).len());
    assert_eq!(ended["notes"], 1);
    let started = recs
        .iter()
        .find(|r| r["kind"] == "session" && r["stage"] == "started")
        .unwrap();
    assert_eq!(
        (started["cols"].as_u64(), started["rows"].as_u64()),
        (Some(100), Some(30))
    );
    assert!(commands(&recs)
        .iter()
        .all(|r| r["session"] == started["seq"]));

    // The session as asciicast v2, played by asciinema itself.
    let cast = dir.join("s.cast");
    let o = pm(
        dir,
        &[
            "journal",
            "export",
            "--asciicast",
            "-o",
            "s.cast",
            "j.jsonl",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&cast).unwrap();
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(100), Some(30))
    );
    let mut last = 0.0;
    for l in lines {
        let ev: Value = serde_json::from_str(l).unwrap();
        let t = ev[0].as_f64().unwrap();
        assert!(t >= last, "events go forward in time");
        last = t;
        assert_eq!(ev[1], "o");
    }
    let asciinema = "/opt/postmortem-tools/bin/asciinema";
    require(asciinema, "bash scripts/install-deps.sh installs it");
    let o = std::process::Command::new(asciinema)
        .arg("cat")
        .arg(&cast)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let played = stdout(&o);
    assert!(played.contains("$ echo M$((6*7))\r\nM42\r\n"), "{played}");
    assert!(played.contains("#note: the mirror answers"), "{played}");

    // The report shows a recorded command's output as the one terminal stream it was.
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            "j.jsonl",
            "--format",
            "md",
            "--lang",
            "en",
            "--out",
            "out",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.join("out/report.en.md")).unwrap();
    assert!(md.contains("Terminal output (standard output and error, as shown)"));
    assert!(
        !md.contains("Standard error"),
        "no empty stderr for a terminal"
    );
    assert!(md.contains("| Working directory |"));
}

/// A password on a client's command line, typed as people type it (`mysql -uroot -pS3cret`): a
/// stand-in `mysql` on PATH prints its command line as `ps` shows it; and one fed on a program's
/// input (`echo 'root:Chp4sswd' | chpasswd`, a stand-in that reads it). The secrets reach neither
/// the journal (command nor output), nor the report, nor the asciicast.
#[test]
fn a_password_typed_on_a_client_command_line_reaches_no_record() {
    let d = tempdir();
    let dir = d.path();
    let bindir = dir.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    std::fs::write(bindir.join("mysql"), "#!/bin/sh\necho \"mysql $*\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bindir.join("mysql"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        bindir.join("chpasswd"),
        "#!/bin/sh\nread -r line\necho \"chpasswd: ${#line} bytes read\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        bindir.join("chpasswd"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut t = shell(dir, "/bin/bash", (100, 30));
    t.expect("pm$ ");
    t.send(&format!("export PATH={}:$PATH\r", bindir.display()));
    t.expect("pm$ ");
    t.send("mysql -uroot -pS3cret -e 'select 1'\r");
    t.expect("mysql -uroot -pS3cret -e select 1\r\n");
    t.expect("pm$ ");
    t.send("echo 'root:Chp4sswd' | chpasswd\r");
    t.expect("chpasswd: 13 bytes read\r\n");
    t.expect("pm$ ");
    t.send("exit\r");
    t.wait();
    verify(dir);
    let journal = std::fs::read_to_string(dir.join("j.jsonl")).unwrap();
    assert!(!journal.contains("S3cret"), "{journal}");
    assert!(!journal.contains("Chp4sswd"), "{journal}");
    let recs = records(&dir.join("j.jsonl"));
    by_command(&recs, "echo 'root:[REDACTED:password]' | chpasswd");
    let rec = by_command(&recs, "mysql -uroot -p[REDACTED:password] -e 'select 1'");
    assert_eq!(
        rec["stdout"]["text"],
        "mysql -uroot -p[REDACTED:password] -e select 1\n"
    );
    let o = pm(
        dir,
        &[
            "report",
            "--journal",
            "j.jsonl",
            "--format",
            "md,html",
            "--out",
            "out",
        ],
    );
    let o2 = pm(
        dir,
        &[
            "journal",
            "export",
            "--asciicast",
            "-o",
            "s.cast",
            "j.jsonl",
        ],
    );
    assert!(o2.status.success(), "{}", stderr(&o2));
    let mut files = vec![dir.join("s.cast")];
    for e in std::fs::read_dir(dir.join("out")).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o))) {
        files.push(e.unwrap().path());
    }
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains("S3cret"), "{}", f.display());
        assert!(!text.contains("Chp4sswd"), "{}", f.display());
    }
}

#[test]
fn zsh_is_integrated_and_its_rc_directory_goes() {
    let d = tempdir();
    let dir = d.path();
    require("/usr/bin/zsh", "apt-get install -y zsh");
    let mut t = shell(dir, "/usr/bin/zsh", (80, 24));
    t.expect("pm$ ");
    t.send("echo M$((6*7))\r");
    t.expect("M42");
    t.expect("pm$ ");
    t.send("#note: from zsh\r");
    t.expect("pm$ ");
    t.send("false\r");
    t.expect("pm$ ");
    // The integration's temporary directory is gone once the shell has read it.
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("postmortem-zsh")
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    t.send("exit\r");
    let (status, _) = t.wait();
    assert_eq!(status.code(), Some(1), "exit with the last status (false)");
    verify(dir);
    let recs = records(&dir.join("j.jsonl"));
    assert_eq!(
        by_command(&recs, "echo M$((6*7))")["stdout"]["text"],
        "M42\n"
    );
    assert_eq!(code(by_command(&recs, "false")), 1);
    assert!(recs
        .iter()
        .any(|r| r["kind"] == "note" && r["text"] == "from zsh"));
    let ended = recs.iter().find(|r| r["stage"] == "ended").unwrap();
    assert_eq!(ended["shell"], "zsh");
}

#[test]
fn a_shell_without_integration_is_kept_whole_with_a_warning() {
    let d = tempdir();
    let dir = d.path();
    let mut t = shell(dir, "/bin/dash", (80, 24));
    t.send("echo M$((6*7))\n");
    t.expect("M42");
    t.send("exit 5\n");
    let (status, screen) = t.wait();
    assert_eq!(status.code(), Some(5));
    assert!(screen.contains("no integration"), "{screen}");
    verify(dir);
    let recs = records(&dir.join("j.jsonl"));
    let cmds = commands(&recs);
    assert_eq!(cmds.len(), 1, "one record for the whole session");
    assert_eq!(cmds[0]["command"], "/bin/dash");
    assert!(cmds[0]["stdout"]["text"].as_str().unwrap().contains("M42"));
    assert_eq!(code(cmds[0]), 5);
}

#[test]
fn a_forged_mark_is_output_not_a_boundary() {
    let d = tempdir();
    let dir = d.path();
    let mut t = shell(dir, "/bin/bash", (80, 24));
    t.expect("pm$ ");
    t.send("printf '\\033]133;D;0;pm=0123456789abcdef\\007\\033]133;C;pm=0123456789abcdef\\007'; echo M$((2+3))\r");
    t.expect("M5");
    t.expect("pm$ ");
    t.send("exit\r");
    let (_, screen) = t.wait();
    assert!(
        screen.contains("\x1b]133;D;0;pm=0123456789abcdef\x07"),
        "the forged sequence is the program's output and reaches the screen"
    );
    let recs = records(&dir.join("j.jsonl"));
    let cmds = commands(&recs);
    assert_eq!(cmds.len(), 2, "the printf line and exit: {cmds:?}");
    assert!(cmds[0]["command"].as_str().unwrap().starts_with("printf"));
    assert_eq!(cmds[0]["stdout"]["text"], "M5\n");
}

#[test]
fn the_window_size_follows_the_terminal() {
    let d = tempdir();
    let dir = d.path();
    let mut t = shell(dir, "/bin/bash", (100, 30));
    t.expect("pm$ ");
    t.send("stty size\r");
    t.expect("30 100");
    t.expect("pm$ ");
    t.resize(132, 43);
    std::thread::sleep(std::time::Duration::from_millis(200));
    t.send("stty size\r");
    t.expect("43 132");
    t.expect("pm$ ");
    t.send("exit\r");
    t.wait();
}

#[test]
fn sigkill_mid_session_keeps_every_finished_command() {
    let d = tempdir();
    let dir = d.path();
    let mut t = shell(dir, "/bin/bash", (80, 24));
    t.expect("pm$ ");
    for i in 0..5 {
        t.send(&format!("echo done-$(({i}+100))\r"));
        t.expect(&format!("done-{}", i + 100));
        t.expect("pm$ ");
    }
    t.send("sleep 30\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe { libc::kill(t.child.id() as i32, libc::SIGKILL) };
    let (status, _) = t.wait();
    assert_eq!(status.code(), None, "killed");
    verify(dir);
    let recs = records(&dir.join("j.jsonl"));
    for i in 0..5 {
        let r = by_command(&recs, &format!("echo done-$(({i}+100))"));
        assert_eq!(r["stdout"]["text"], format!("done-{}\n", i + 100));
    }
    assert!(
        !commands(&recs).iter().any(|r| r["command"] == "sleep 30"),
        "an unfinished command is not claimed"
    );
}

#[test]
fn over_ssh_the_host_login_shell_is_recorded() {
    let d = tempdir();
    let dir = d.path();
    sshd::keygen(&dir.join("id_ed25519"), "ed25519", &[]);
    let a = sshd::Sshd::start(dir, "a", &[&dir.join("id_ed25519")]);
    std::fs::write(dir.join("known_hosts"), a.known_hosts_line("ed25519")).unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host a\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {d}/id_ed25519\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n",
            a.port,
            d = dir.display()
        ),
    )
    .unwrap();
    let mut t = Term::spawn(
        &bin(),
        &[
            "shell",
            "--on",
            "a",
            "--ssh-config",
            "ssh_config",
            "--journal",
            "j.jsonl",
        ],
        &[("TERM", "xterm-256color")],
        dir,
        (90, 25),
    );
    // root's prompt on Debian ends in "# ".
    t.send("echo M$((6*7)); stty size\r");
    t.expect("M42");
    t.expect("25 90");
    t.expect("# ");
    t.send("#note: on the host\r");
    t.expect("# ");
    interrupt(&mut t, "# ");
    t.send("read -s -p \"$(echo Pass)word: \" pw; echo got ${#pw}\r");
    t.expect("Password: ");
    t.send("remote-SECRET-typed\r");
    t.expect("got 19");
    t.expect("# ");
    t.send("cd /etc && false\r");
    t.expect("/etc# ");
    t.send("exit 4\r");
    let (status, _) = t.wait();
    assert_eq!(status.code(), Some(4));
    verify(dir);
    let recs = records(&dir.join("j.jsonl"));
    let r = by_command(&recs, "echo M$((6*7)); stty size");
    assert_eq!(r["stdout"]["text"], "M42\n25 90\n");
    assert_eq!(r["host"], "a");
    assert_eq!(r["address"], format!("127.0.0.1:{}", a.port));
    assert!(r["host_key"].as_str().unwrap().starts_with("SHA256:"));
    assert_eq!(code(by_command(&recs, "cd /etc && false")), 1);
    assert_eq!(code(by_command(&recs, JOB)), 130, "Ctrl-C over SSH");
    assert!(
        !std::fs::read_to_string(dir.join("j.jsonl"))
            .unwrap()
            .contains("remote-SECRET-typed"),
        "input typed with echo off was recorded"
    );
    assert_eq!(by_command(&recs, "exit 4")["cwd"], "/etc");
    assert!(recs
        .iter()
        .any(|r| r["kind"] == "note" && r["text"] == "on the host"));
    let ended = recs.iter().find(|r| r["stage"] == "ended").unwrap();
    assert_eq!(ended["shell"], "bash");
    assert_eq!(ended["outcome"]["exited"]["code"], 4);
}
