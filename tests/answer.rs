//! The answer a judge reads, on the demo's output (as root: the demo builds the lab, runs, writes
//! the answers and replays each on a fresh lab). Checked: one answer per phase and language with
//! the h1 sections, each within 6,000 characters of Markdown in Japanese; rendered by the score
//! server's pipeline (remark-gfm, remark-breaks, remark-math) to exactly the text meant; no local
//! image; every quoted output line a line of its record; `answer check` passes (every command
//! shown as typed was recorded as typed, with the output lines shown); the solution's commands as typed; both
//! answers replayed to every end state, and an answer missing one command fails its replay naming
//! the end state that does not hold.

mod common;
use common::*;
use postmortem::journal::{redact::Redactor, Body, Journal};
use postmortem::report::{answers_of, Lang};
use std::path::Path;
use std::process::Command;

/// Headless Chromium (Debian's package) on `page`; the DOM it ends with, and its log.
fn chromium(page: &Path) -> (String, String) {
    require("chromium", "apt-get install chromium");
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--window-size=1300,1000",
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (stdout(&o), stderr(&o))
}

/// Load `file` (beside the harness) in a 1280 px wide frame and report, as JSON: the document's
/// scroll and client widths, every picture's rendered size, and the pairs of SVG text labels
/// whose boxes overlap.
const HARNESS: &str = r#"<!doctype html><html><body style="margin:0">
<iframe id="f" src="FILE" style="width:1280px;height:900px;border:0"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById('f').onload = () => {
  const d = document.getElementById('f').contentDocument;
  const r = {};
  r.scrollWidth = d.documentElement.scrollWidth;
  r.clientWidth = d.documentElement.clientWidth;
  r.images = [...(d.images || [])].map(i => [i.getBoundingClientRect().width, i.getBoundingClientRect().height]);
  const boxes = [...d.querySelectorAll('text')].map(t => [t.textContent, t.getBBox()]);
  r.texts = boxes.length;
  r.overlaps = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, A] = boxes[i], [b, B] = boxes[j];
    if (A.x < B.x + B.width && B.x < A.x + A.width && A.y < B.y + B.height && B.y < A.y + A.height) r.overlaps.push([a, b]);
  }
  document.getElementById('out').textContent = JSON.stringify(r);
};
</script></body></html>"#;

fn measure(dir: &Path, file: &str) -> serde_json::Value {
    let h = dir.join(format!("harness-{file}.html"));
    std::fs::write(&h, HARNESS.replace("FILE", file)).unwrap();
    let (dom, _) = chromium(&h);
    let json = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|r| r.split("</pre>").next())
        .unwrap_or_else(|| panic!("{file}: the harness reported nothing"));
    serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&")).unwrap()
}

const SECTIONS_JA: [&str; 7] = [
    "# トラブルの内容",
    "# 調査の過程",
    "# 原因",
    "# 解決方法",
    "# 解決する理由とセキュリティへの影響",
    "# 終了状態の確認",
    "# 問題文の制約",
];
const SECTIONS_EN: [&str; 7] = [
    "# The trouble",
    "# How it was investigated",
    "# The cause",
    "# The solution",
    "# Why it works, and what it changes in security",
    "# The end state, checked",
    "# The task's rules",
];

/// The text the score server's renderer shows for a Markdown file.
fn rendered_text(md: &Path) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remark");
    assert!(
        dir.join("node_modules/remark-math").exists(),
        "tests/remark has no node_modules: run scripts/install-deps.sh (npm ci in tests/remark)"
    );
    let o = Command::new("node")
        .arg(dir.join("render.mjs"))
        .arg("--text")
        .arg(md)
        .output()
        .expect("node runs");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// Text compared without white space and table bars (layout, not content).
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect()
}

/// The Markdown outside code spans and blocks.
/// The ASCII words a Japanese answer may hold outside code: names of commands, hosts, groups,
/// files, protocols and products, and the task's own words.
const JA_NAMES: &[&str] = &[
    "kubespray",
    "kubernetes",
    "Kubernetes",
    "preinstall",
    "Update",
    "package",
    "management",
    "cache",
    "APT",
    "apt",
    "Failed",
    "update",
    "unknown",
    "reason",
    "Task",
    "Pod",
    "ping",
    "server01",
    "node1",
    "node2",
    "ubuntu",
    "user",
    "OpenStack",
    "microstack",
    "Calico",
    "BGP",
    "BIRD",
    "TCP",
    "UDP",
    "IPv4",
    "IP-in-IP",
    "VXLAN",
    "tunl0",
    "MTU",
    "DNS",
    "HTTP",
    "NAT",
    "masquerade",
    "nftables",
    "forward",
    "net.ipv4.ip_forward",
    "sysctl",
    "sysctl.d",
    "apt-get",
    "kubectl",
    "get",
    "nodes",
    "Ready",
    "natOutgoing",
    "master",
    "worker",
    "shell1",
    "SHA-256",
    "SHUTOFF",
    "ictsc-master",
    "ictsc-worker",
    "failed",
    "unreachable",
    "SSH",
    "etc",
    "run",
    "hostname",
    "myshell2",
    "myshell3",
    "busybox",
    "calicoctl",
    "node",
    "status",
    "ippool",
    "wide",
    "route",
    "show",
    "ip_forward",
    "ip-forward.conf",
    "tcp",
];

fn outside_code(md: &str) -> String {
    let mut out = String::new();
    let mut fence = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            match c {
                '`' => in_code = !in_code,
                c if !in_code => out.push(c),
                _ => {}
            }
        }
        out.push('\n');
    }
    out
}

/// Backslashes outside code spans and blocks.
fn backslashes(md: &str) -> usize {
    outside_code(md).matches('\\').count()
}

#[test]
fn the_demos_answers_stand_alone_render_as_meant_and_replay() {
    let _g = lab_lock();
    let d = tempdir();
    let out = d.path().join("demo");
    // The operator's key, in an agent: the demo signs its journal at the end.
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "team@demo", "-f"])
        .arg(d.path().join("id"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let agent = SshAgent::holding(d.path(), &d.path().join("id"));
    let o = Command::new(bin())
        .args(["demo", "--out"])
        .arg(&out)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let journal = Journal::new(out.join("journal.jsonl"));
    let entries = journal.read_all().unwrap();
    let Body::Signature(sig) = &entries.last().unwrap().body else {
        panic!("the journal does not end with its signature")
    };
    assert_eq!(
        sig.head_seq as usize,
        entries.len() - 1,
        "the signature covers every record before it"
    );
    assert_eq!(sig.comment, "team@demo");

    // The small defects: no `sysctl --system` anywhere, no timeline line ending in an empty
    // field, no probe pod in the topology, and the post-mortem style shows the rounds.
    for e in &entries {
        if let Body::Evidence(ev) = &e.body {
            assert!(
                !ev.command.contains("sysctl --system"),
                "#{}: {}",
                e.seq,
                ev.command
            );
        }
    }
    for lang in ["ja", "en"] {
        let md = std::fs::read_to_string(out.join(format!("report.{lang}.md"))).unwrap();
        assert!(
            !md.lines()
                .any(|l| l.starts_with("| ") && l.contains("\\: |")),
            "report.{lang}.md"
        );
    }
    let topo = std::fs::read_to_string(out.join("report.topology.svg")).unwrap();
    assert!(!topo.contains("pm-probe-"), "{topo}");
    let o = Command::new(bin())
        .args([
            "report",
            "--style",
            "postmortem",
            "--format",
            "md",
            "--lang",
            "en",
            "--journal",
        ])
        .arg(out.join("journal.jsonl"))
        .arg("--out")
        .arg(d.path().join("pm"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pm = std::fs::read_to_string(d.path().join("pm/report.en.md")).unwrap();
    let rounds = pm
        .split("\n## ")
        .find(|s| s.starts_with("Rounds"))
        .expect("a rounds section");
    let rows = rounds
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert!(rows >= 2, "every round of the run, in order: {rounds}");
    let red = Redactor::new();
    let refs = regex::Regex::new(r"#\d").unwrap();
    let names = regex::Regex::new(r"[A-Za-z][A-Za-z0-9_.\-]{2,}").unwrap();

    for (lang, sections) in [(Lang::Ja, SECTIONS_JA), (Lang::En, SECTIONS_EN)] {
        let answers = answers_of(&entries, lang, None, &red);
        assert_eq!(answers.len(), 2, "one answer per phase");
        for a in &answers {
            let path = out.join(format!("answer.phase{}.{}.md", a.phase, lang.code()));
            let md = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                md,
                postmortem::report::md::for_score_server(&a.md),
                "{} is what the journal gives",
                path.display()
            );
            let size = md.chars().count();
            eprintln!(
                "{}: {size} characters, {} backslashes outside code",
                path.display(),
                backslashes(&md)
            );
            // Short: the score server's answer box, read by a judge.
            let max = if lang == Lang::Ja { 3000 } else { 4000 };
            assert!(size <= max, "{}: {size} characters", path.display());
            // Every command shown is one a person types: one line, no wrapper, loop or
            // machine format; no output line shown is a machine format's.
            let mut fence = false;
            for l in md.lines() {
                if l.starts_with("```") {
                    fence = !fence;
                    continue;
                }
                if !fence {
                    continue;
                }
                if let Some((_, _, cmd)) = postmortem::report::check::prompt(l) {
                    for bad in [
                        "sh -c",
                        "for ",
                        ";",
                        "-f json",
                        "-o json",
                        "echo '###'",
                        "mktemp",
                    ] {
                        assert!(!cmd.contains(bad), "{}: {bad:?} in `{cmd}`", path.display());
                    }
                } else {
                    assert!(
                        !l.starts_with('"') && !l.starts_with('{'),
                        "{}: a machine format's line {l:?}",
                        path.display()
                    );
                }
            }
            // Japanese throughout: an ASCII word outside code is a name (of a command, host,
            // group, file, protocol or product) or an abbreviation, never a machine string.
            if lang == Lang::Ja {
                let prose = outside_code(&md);
                let unknown: Vec<&str> = names
                    .find_iter(&prose)
                    .map(|m| m.as_str())
                    .filter(|w| !JA_NAMES.contains(&w.trim_end_matches('.')))
                    .collect();
                assert!(
                    unknown.is_empty(),
                    "{}: English outside code: {unknown:?}",
                    path.display()
                );
            }
            let mut at = 0;
            for s in sections {
                let i = md[at..]
                    .find(&format!("\n{s}\n"))
                    .unwrap_or_else(|| panic!("{}: no {s:?} (in order)", path.display()));
                at += i + 1;
            }
            assert!(md.lines().next().unwrap().contains(if lang == Lang::Ja {
                "お世話になっております"
            } else {
                "Hello"
            }));
            // Pictures only as URLs a judge can reach: none here.
            assert!(!md.contains("]("), "{}: a link or picture", path.display());
            let prose = outside_code(&md);
            assert!(
                !prose.replace("\\<", "").contains('<'),
                "{}: raw HTML outside code",
                path.display()
            );
            // What the score server shows is what was meant.
            let shown = rendered_text(&path);
            assert_eq!(
                squeeze(&shown),
                squeeze(&a.text),
                "{}: rendered text differs:\n{shown}",
                path.display()
            );
            // Every quoted output line is a line of the record it names.
            assert!(!a.quotes.is_empty());
            for (seq, line) in &a.quotes {
                let Body::Evidence(ev) = &entries[*seq as usize - 1].body else {
                    panic!("#{seq} is not evidence")
                };
                let text = format!(
                    "{}\n{}",
                    red.redact(&ev.stdout.text).0,
                    red.redact(&ev.stderr.text).0
                );
                assert!(
                    text.lines().any(|l| l.trim_end() == line),
                    "#{seq} has no line {line:?}"
                );
            }
            // The commands are the operator's, never the tool's wrapper.
            for (user, host, cmd) in &a.commands {
                assert!(
                    !cmd.contains("sudo -n") && !cmd.contains("-f json"),
                    "{cmd}"
                );
                assert!(md.contains(&format!("{user}@{host}:~$ {cmd}\n")));
            }
            // A node is reached as the task reaches it: the answer's first command on a node,
            // and the solution's (which a replay follows alone), come after `ssh -i
            // ~/.ssh/ictsc_rsa ubuntu@ADDRESS` typed on server01.
            let solution = md
                .split("\n# ")
                .find(|s| s.starts_with(sections[3].trim_start_matches("# ")))
                .unwrap_or("");
            for section in [md.as_str(), solution] {
                let mut logged_in = false;
                for l in section.lines() {
                    if l.starts_with("user@server01:~$ ssh -i ~/.ssh/ictsc_rsa ubuntu@") {
                        logged_in = true;
                    }
                    if l.starts_with("ubuntu@node") {
                        assert!(logged_in, "{}: {l:?} before any ssh to it", path.display());
                        break;
                    }
                }
            }
            // The VMs started are shown ACTIVE before kubespray runs on them.
            if a.phase == 1 {
                let list = md
                    .find("user@server01:~$ openstack server list -c Name -c Status -f value\n")
                    .expect("the servers' list after starting them");
                let deploy = md.find("ansible-playbook").expect("the deployment");
                let rows = &md[list..deploy];
                assert!(
                    rows.contains("ictsc-master ACTIVE") && rows.contains("ictsc-worker ACTIVE"),
                    "{}: {rows}",
                    path.display()
                );
            }
            // Each phase on its own topic: phase 1 says nothing of BGP's port or VXLAN's.
            if a.phase == 1 {
                for other in ["TCP/179", "tcp/179", "4789"] {
                    assert!(!md.contains(other), "{}: {other}", path.display());
                }
            }
            // The task's patterns with its own commands: under each `kubectl run myshellN` that
            // placed a pinging pod, busybox's summary; A lost and B answered before the fix (in
            // the investigation), both answered after (the end state).
            if a.phase == 2 {
                let lines: Vec<&str> = md.lines().collect();
                let runs: Vec<(String, String)> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.starts_with("ubuntu@node1:~$ kubectl run myshell"))
                    .map(|(i, l)| {
                        let pod = l.split_whitespace().nth(3).unwrap_or("").to_string();
                        let sum = lines[i + 1..]
                            .iter()
                            .find(|x| x.contains("packets transmitted"))
                            .map(|x| x.to_string())
                            .unwrap_or_default();
                        (pod, sum)
                    })
                    .collect();
                let want = [
                    (
                        "myshell2",
                        "3 packets transmitted, 0 packets received, 100% packet loss",
                    ),
                    (
                        "myshell3",
                        "3 packets transmitted, 3 packets received, 0% packet loss",
                    ),
                    (
                        "myshell2",
                        "3 packets transmitted, 3 packets received, 0% packet loss",
                    ),
                    (
                        "myshell3",
                        "3 packets transmitted, 3 packets received, 0% packet loss",
                    ),
                ];
                assert_eq!(
                    runs.iter()
                        .map(|(p, s)| (p.as_str(), s.as_str()))
                        .collect::<Vec<_>>(),
                    want,
                    "{}",
                    path.display()
                );
                assert!(md.contains("ubuntu@node1:~$ kubectl exec shell1 -- hostname -i\n10.233."));
            }
            // What it shows as typed and printed was typed and printed: `answer check`.
            let o = Command::new(bin())
                .args(["answer", "check"])
                .arg(&path)
                .arg("--journal")
                .arg(out.join("journal.jsonl"))
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{}: {}{}",
                path.display(),
                stdout(&o),
                stderr(&o)
            );
            // Replayed, and it says so in plain words.
            assert!(
                md.contains(if lang == Lang::Ja {
                    "初期状態から上記の手順だけで再現できることを確認しました"
                } else {
                    "the steps above alone reproduce the fix"
                }),
                "{}: not marked as replayed",
                path.display()
            );
            // Nothing a judge cannot open: no record numbers, no journal hash, no tool name.
            assert!(
                !refs.is_match(&prose),
                "{}: a record number",
                path.display()
            );
            assert!(
                !md.contains("postmortem"),
                "{}: the tool's name",
                path.display()
            );
            assert!(
                !entries.iter().any(|e| md.contains(&e.hash)),
                "{}: a hash of the journal",
                path.display()
            );
            let html = std::fs::read_to_string(path.with_extension("html")).unwrap();
            assert!(
                refs.is_match(&html),
                "{}: the HTML keeps the record numbers",
                path.display()
            );
        }
    }
    let replays: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Replay(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(replays.len(), 2, "{replays:?}");
    assert!(replays.iter().all(|r| r.ok), "{replays:?}");
    assert!(out.join("evidence.ja.md").exists() && out.join("answer.phase1.ja.pdf").exists());
    // An answer's PDF is the answer and the records it cites, not the whole journal.
    for f in [
        "answer.phase1.ja.pdf",
        "answer.phase2.ja.pdf",
        "answer.phase1.en.pdf",
        "answer.phase2.en.pdf",
    ] {
        let o = Command::new("pdfinfo").arg(out.join(f)).output().unwrap();
        let pages: u32 = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{f}: pdfinfo: {}", stderr(&o)));
        eprintln!("{f}: {pages} pages");
        // The answer (three or four pages with its pictures) and the records it shows, cut to
        // their first lines and the lines quoted: 7 and 8 pages measured.
        assert!(pages <= 12, "{f}: {pages} pages");
    }

    // In a real browser: no console message, every picture drawn, nothing wider than the page,
    // and no label of a picture over another.
    for file in [
        "answer.phase1.ja.html",
        "answer.phase2.ja.html",
        "answer.phase1.en.html",
        "answer.phase2.en.html",
        "evidence.ja.html",
        "evidence.en.html",
    ] {
        let (_, log) = chromium(&out.join(file));
        let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "{file}: {console:?}");
        let m = measure(&out, file);
        assert_eq!(
            m["scrollWidth"], m["clientWidth"],
            "{file}: wider than the page: {m}"
        );
        let images = m["images"].as_array().unwrap();
        if file.starts_with("answer") {
            assert!(!images.is_empty(), "{file}: no picture");
        }
        for i in images {
            assert!(
                i[0].as_f64().unwrap() > 0.0 && i[1].as_f64().unwrap() > 0.0,
                "{file}: a picture of no size: {m}"
            );
        }
    }
    for svg in [
        "report.topology.svg",
        "report.pings-before.svg",
        "report.pings-after.svg",
    ] {
        let m = measure(&out, svg);
        assert!(m["texts"].as_u64().unwrap() > 0, "{svg}: {m}");
        assert_eq!(
            m["overlaps"],
            serde_json::json!([]),
            "{svg}: labels overlap"
        );
    }

    // One command fewer (the task's `sudo cp` of the kubeconfig): the replay fails and names
    // the end state that does not hold.
    let a1 = std::fs::read_to_string(out.join("answer.phase1.ja.md")).unwrap();
    let line = a1
        .lines()
        .find(|l| l.contains(":~$ sudo cp /etc/kubernetes/admin.conf"))
        .unwrap()
        .to_string();
    let cut = d.path().join("answer.phase1.ja.md");
    std::fs::write(&cut, a1.replacen(&format!("{line}\n"), "", 1)).unwrap();
    let o = Command::new(bin())
        .args(["replay", "--target", "lab"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("end states that do not hold: kubectl-get-nodes (not_observed)"),
        "{}",
        stdout(&o)
    );
}
