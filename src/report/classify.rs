//! Is a recorded command a check (read-only) or a change, and which files does it write? Decided
//! from the command line alone, by the rules in `commands.toml` (data).
//!
//! What it cannot prove: what a command really did. A script, an alias or a program the table
//! does not name is a check unless it redirects into a file; the responder says otherwise with
//! `note --as fix --about N`. The command line is split as a POSIX shell splits it (quotes,
//! escapes, `;` `&&` `||` `|` `&`, redirections); expansions are not performed, and a line that
//! does not parse (an open quote) is taken word by word. The split is our own: the crates that
//! split words (shlex, shell-words) do not report operators and redirections.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

const RULES: &str = include_str!("commands.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    always: bool,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    subcommands: Vec<String>,
    #[serde(default)]
    words: Vec<String>,
    #[serde(default)]
    assignment: bool,
    #[serde(default)]
    unless_flags: Vec<String>,
    #[serde(default)]
    writes: Option<String>,
    #[serde(default)]
    ignore: bool,
}

fn rules() -> &'static HashMap<String, Rule> {
    static R: OnceLock<HashMap<String, Rule>> = OnceLock::new();
    R.get_or_init(|| toml::from_str(RULES).expect("src/report/commands.toml is valid"))
}

/// What a command line is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kind {
    pub change: bool,
    /// Every command of the line only moves the shell or its screen (`cd`, `clear`).
    pub ignore: bool,
    /// The files it writes (redirection targets and the files of `tee`, `cp`, ...), as typed.
    pub writes: Vec<String>,
    /// The files it reads with `cat` (for showing a written file): `cat F` alone.
    pub cats: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `;` `&&` `||` `|` `&` or a newline: the end of one simple command.
    Sep,
    /// `>` or `>>` (with an optional fd or `&`): the next word is a file written.
    Out,
    /// `<`, `<<`, `<<<` or `N>&M`: not a write.
    Other,
}

/// Split a command line into words and operators, as a POSIX shell does.
fn lex(line: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, toks: &mut Vec<Tok>| {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(&e) = chars.peek() {
                                if matches!(e, '"' | '\\' | '$' | '`') {
                                    word.push(e);
                                    chars.next();
                                    continue;
                                }
                            }
                            word.push('\\');
                        }
                        _ => word.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(d) = chars.next() {
                    if d != '\n' {
                        word.push(d);
                    }
                }
            }
            ' ' | '\t' => flush(&mut word, &mut in_word, &mut toks),
            '\n' | ';' | '|' | '&' => {
                // `2>&1` and `&>`: a redirection, not a separator.
                if c == '&' && chars.peek() == Some(&'>') {
                    flush(&mut word, &mut in_word, &mut toks);
                    chars.next();
                    if chars.peek() == Some(&'>') {
                        chars.next();
                    }
                    toks.push(Tok::Out);
                    continue;
                }
                flush(&mut word, &mut in_word, &mut toks);
                if matches!(chars.peek(), Some('&') | Some('|')) && c != '\n' && c != ';' {
                    chars.next();
                }
                toks.push(Tok::Sep);
            }
            '>' | '<' => {
                // A word of digits just before it is a file descriptor.
                let fd = in_word && word.chars().all(|d| d.is_ascii_digit());
                if fd {
                    word.clear();
                    in_word = false;
                } else {
                    flush(&mut word, &mut in_word, &mut toks);
                }
                if c == '<' {
                    while matches!(chars.peek(), Some('<')) {
                        chars.next();
                    }
                    toks.push(Tok::Other);
                    continue;
                }
                if chars.peek() == Some(&'>') {
                    chars.next();
                }
                if chars.peek() == Some(&'|') {
                    chars.next();
                }
                if chars.peek() == Some(&'&') {
                    // `>&2`: a duplication, not a file.
                    chars.next();
                    toks.push(Tok::Other);
                    while matches!(chars.peek(), Some(d) if d.is_ascii_digit() || *d == '-') {
                        chars.next();
                    }
                    continue;
                }
                toks.push(Tok::Out);
            }
            '#' if !in_word => break,
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut in_word, &mut toks);
    toks
}

/// The words of a simple command after its wrappers (sudo and its options, env, VAR=value,
/// time, nohup, command, exec, nice, stdbuf, timeout and their options).
fn unwrap(words: &[String]) -> &[String] {
    let mut w = words;
    loop {
        let Some(first) = w.first() else { return w };
        let base = first.rsplit('/').next().unwrap_or(first);
        if is_assignment(first) {
            w = &w[1..];
            continue;
        }
        // sudo's options that take a value.
        let takes_value: &[&str] = match base {
            "sudo" => &[
                "-u", "-g", "-h", "-p", "-C", "-D", "-R", "-T", "-U", "-r", "-t",
            ],
            "env" => &["-u", "-C", "-S"],
            "nice" => &["-n"],
            "timeout" => &["-s", "-k"],
            "stdbuf" => &["-i", "-o", "-e"],
            "time" | "nohup" | "command" | "exec" => &[],
            _ => return w,
        };
        w = &w[1..];
        while let Some(a) = w.first() {
            if a == "--" {
                w = &w[1..];
                break;
            }
            if a.starts_with('-') && a.len() > 1 {
                w = &w[1..];
                if takes_value.contains(&a.as_str()) {
                    w = w.get(1..).unwrap_or(&[]);
                }
                continue;
            }
            if base == "env" && is_assignment(a) {
                w = &w[1..];
                continue;
            }
            break;
        }
        // timeout's duration.
        if base == "timeout" && !w.is_empty() {
            w = &w[1..];
        }
    }
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((k, _)) => {
            !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !k.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn flag_matches(arg: &str, flag: &str) -> bool {
    if arg == flag {
        return true;
    }
    if let Some(long) = flag.strip_prefix("--") {
        return arg
            .strip_prefix("--")
            .and_then(|a| a.strip_prefix(long))
            .is_some_and(|rest| rest.starts_with('='));
    }
    // A short flag glued to its value (`-i.bak`), or among grouped flags (`-ni`).
    if let Some(short) = flag.strip_prefix('-') {
        if short.len() == 1 && arg.starts_with('-') && !arg.starts_with("--") {
            let a = &arg[1..];
            return a.starts_with(short) || (a.len() <= 4 && a.contains(short));
        }
    }
    false
}

/// Classify one simple command (its words after the wrappers).
fn simple(words: &[String], kind: &mut Kind) {
    let words = unwrap(words);
    let Some(prog) = words.first() else { return };
    let base = prog.rsplit('/').next().unwrap_or(prog);
    let args = &words[1..];
    // A shell's `-c` script is classified as the commands it holds.
    if matches!(base, "sh" | "bash" | "dash" | "zsh" | "ksh") {
        kind.ignore = false;
        if let Some(i) = args.iter().position(|a| a == "-c") {
            if let Some(script) = args.get(i + 1) {
                let k = classify(script);
                kind.change |= k.change;
                kind.writes.extend(k.writes);
                kind.cats.extend(k.cats);
            }
        }
        return;
    }
    if base == "cat" {
        kind.ignore = false;
        let files: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        kind.cats.extend(files.into_iter().cloned());
        return;
    }
    let Some(rule) = rules().get(base) else {
        kind.ignore = false;
        return;
    };
    if !rule.ignore {
        kind.ignore = false;
    }
    let (flags, plain): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| a.starts_with('-') && a.len() > 1);
    if rule
        .unless_flags
        .iter()
        .any(|u| flags.iter().any(|f| flag_matches(f, u)))
    {
        return;
    }
    let change = rule.always
        || rule
            .flags
            .iter()
            .any(|u| flags.iter().any(|f| flag_matches(f, u)))
        || plain
            .first()
            .is_some_and(|p| rule.subcommands.iter().any(|s| s == *p))
        || plain.iter().any(|p| rule.words.iter().any(|s| s == *p))
        || (rule.assignment && plain.iter().any(|p| p.contains('=')));
    if !change {
        return;
    }
    kind.change = true;
    match rule.writes.as_deref() {
        Some("args") => kind.writes.extend(plain.into_iter().cloned()),
        Some("last") => kind.writes.extend(plain.last().map(|s| s.to_string())),
        _ => {}
    }
}

/// What a command line is: a change (it writes or changes state) or a check.
pub fn classify(line: &str) -> Kind {
    let mut kind = Kind {
        ignore: true,
        ..Default::default()
    };
    let mut words: Vec<String> = Vec::new();
    let mut toks = lex(line).into_iter().peekable();
    while let Some(t) = toks.next() {
        match t {
            Tok::Word(w) => words.push(w),
            Tok::Sep => simple(&std::mem::take(&mut words), &mut kind),
            Tok::Out => {
                if let Some(Tok::Word(f)) = toks.next() {
                    if f != "/dev/null" && f != "/dev/stderr" && f != "/dev/stdout" {
                        kind.change = true;
                        kind.writes.push(f);
                    }
                }
            }
            Tok::Other => {
                // `< file`: skip the file name.
                if let Some(Tok::Word(_)) = toks.peek() {
                    toks.next();
                }
            }
        }
    }
    simple(&words, &mut kind);
    kind.writes.dedup();
    kind.ignore &= !kind.change;
    kind
}

/// The command line with its leading `sudo` (and options) taken off: how two runs of the same
/// check are compared (`sudo apt-get update` and `apt-get update` see the same thing only as
/// root, so they are kept apart: this only folds `sudo -n --` into `sudo`).
pub fn normal(line: &str) -> String {
    let line = line.trim();
    match line.strip_prefix("sudo -n -- ") {
        Some(rest) => format!("sudo {rest}"),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_change(s: &str) -> bool {
        classify(s).change
    }

    #[test]
    fn checks_and_changes_follow_the_table() {
        for c in [
            "curl -sI http://localhost/",
            "systemctl status app",
            "sysctl net.ipv4.ip_forward",
            "cat /etc/app/env",
            "ip route",
            "ip -o link show",
            "openstack security group rule list master",
            "kubectl get nodes",
            "sudo apt-get update",
            "ansible-playbook --check site.yml",
            "grep -r x /etc 2>/dev/null",
            "journalctl -u app 2>&1 | tail",
            "sed -n 1,5p /etc/hosts",
            "echo hi >&2",
            "bash -c 'grep -n AllowUsers sshd_config'",
        ] {
            assert!(!is_change(c), "{c} is a check");
        }
        for c in [
            "sudo systemctl restart app",
            "sudo sysctl -w net.ipv4.ip_forward=1",
            "sysctl net.ipv4.ip_forward=1",
            "sudo sysctl -p",
            "echo net.ipv4.ip_forward=1 | sudo tee /etc/sysctl.d/99-ip-forward.conf",
            "echo x > /etc/app/env",
            "printf 'A=1\\n' >> /etc/app/env",
            "sudo sed -i 's/a/b/' /etc/x",
            "sed -i.bak s/a/b/ /etc/x",
            "sudo cp /root/env.bak /etc/app/env",
            "sudo -u app env A=1 chmod 600 /etc/app/env",
            "sudo apt-get install -y nginx",
            "ip route add default via 10.0.0.1",
            "ip link set ens3 mtu 1450",
            "sudo nft add rule inet filter input tcp dport 179 accept",
            "iptables -A INPUT -p tcp --dport 22 -j ACCEPT",
            "openstack security group rule create --protocol tcp --dst-port 179 master",
            "openstack server start ictsc-master",
            "kubectl apply -f pod.yaml",
            "calicoctl patch ippool default-pool -p '{}'",
            "ansible-playbook -i hosts cluster.yml",
            "A=1 B=2 rm -f /tmp/x",
            "nohup systemctl reload nginx",
            "bash -c 'sed -i s/a/b/ sshd_config'",
            "sudo sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'",
        ] {
            assert!(is_change(c), "{c} is a change");
        }
    }

    #[test]
    fn written_files_and_cats_are_found() {
        assert_eq!(
            classify("echo net.ipv4.ip_forward=1 | sudo tee -a /etc/sysctl.d/99-ip-forward.conf")
                .writes,
            vec!["/etc/sysctl.d/99-ip-forward.conf"]
        );
        assert_eq!(
            classify("echo 'a > b' > '/etc/my app.conf' 2>&1").writes,
            vec!["/etc/my app.conf"]
        );
        assert_eq!(
            classify("sudo cp a.bak /etc/app/env").writes,
            vec!["/etc/app/env"]
        );
        assert_eq!(classify("sudo cat /etc/app/env").cats, vec!["/etc/app/env"]);
        assert!(classify("ls > /dev/null").writes.is_empty());
    }

    #[test]
    fn moving_the_shell_is_neither() {
        assert!(classify("cd /etc/ssh").ignore);
        assert!(classify("clear").ignore);
        assert!(!classify("cd /etc && cat hosts").ignore);
        assert!(!classify("ls").ignore);
    }

    #[test]
    fn quotes_hide_operators() {
        assert!(!is_change("grep 'a > b; rm x' file"));
        assert!(!is_change("echo \"x | tee y\""));
        assert!(is_change("echo \"a\" | tee y"));
    }
}
