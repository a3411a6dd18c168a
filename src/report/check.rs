//! `answer check`: an answer, generated or edited by hand, read back against its journal. Every
//! command line of its `shellsession` blocks must have been recorded on the host (and as the
//! user, when the record names one) its prompt shows, in the answer's order within each block;
//! every output line shown under it (or in a plain code block right after its block)
//! must be a line of that record's output, after redaction.
//!
//! What it cannot prove: that the prose is true, or that a command was run in the state the
//! answer says. It proves only that what the answer shows as typed and printed was typed and
//! printed.

use super::classify::normal;
use crate::journal::redact::Redactor;
use crate::journal::{Body, Entry, Evidence};

/// A line of the answer that the journal does not bear out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the answer.
    pub line: usize,
    pub text: String,
}

/// A prompt line: (user, host, command). `user@host:~$ cmd`, `user@host:/etc# cmd`.
pub fn prompt(line: &str) -> Option<(&str, &str, &str)> {
    let (who, rest) = line.split_once(':')?;
    let (user, host) = who.split_once('@')?;
    if user.is_empty()
        || host.is_empty()
        || user.contains(char::is_whitespace)
        || host.contains(char::is_whitespace)
    {
        return None;
    }
    let end = rest.find(['$', '#'])?;
    let path = &rest[..end];
    if path.contains(char::is_whitespace) {
        return None;
    }
    let cmd = rest[end + 1..].strip_prefix(' ')?;
    Some((user, host, cmd))
}

struct Shown {
    /// The answer's line of the prompt.
    line: usize,
    /// The line its block opened on.
    block: usize,
    user: String,
    host: String,
    command: String,
    /// (answer line, text) of each output line shown.
    out: Vec<(usize, String)>,
}

/// Read the commands an answer shows, with their output lines, per h1 section.
fn read(md: &str) -> (Vec<Vec<Shown>>, bool) {
    let mut sections: Vec<Vec<Shown>> = vec![Vec::new()];
    let mut fence: Option<(String, bool)> = None;
    let mut any_session = false;
    // Blank lines since the last shellsession block ended (a plain block right after it is its
    // output).
    let mut after_session = false;
    let mut block = 0usize;
    for (i, line) in md.lines().enumerate() {
        let n = i + 1;
        if let Some((f, shell)) = &fence {
            if line.trim_end() == f {
                after_session = *shell;
                fence = None;
                continue;
            }
            let cur = sections.last_mut().unwrap();
            if *shell {
                if let Some((user, host, cmd)) = prompt(line) {
                    cur.push(Shown {
                        line: n,
                        block,
                        user: user.into(),
                        host: host.into(),
                        command: cmd.into(),
                        out: Vec::new(),
                    });
                    continue;
                }
            }
            if let Some(last) = cur.last_mut() {
                if !line.trim().is_empty() {
                    last.out.push((n, line.trim_end().to_string()));
                }
            }
            continue;
        }
        if line.starts_with("```") || line.starts_with("~~~") {
            let c = line.chars().next().unwrap();
            let ticks = line.chars().take_while(|&x| x == c).count();
            let info = line[ticks..].trim();
            let shell = matches!(info, "shellsession" | "console" | "shell-session");
            any_session |= shell;
            // A plain block not right after a session is not output of anything we check.
            if shell {
                block = n;
            }
            if !(shell || (after_session && info.is_empty())) {
                sections.last_mut().unwrap().push(Shown {
                    line: n,
                    block,
                    user: String::new(),
                    host: String::new(),
                    command: String::new(),
                    out: Vec::new(),
                });
            }
            fence = Some((c.to_string().repeat(ticks), shell));
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        after_session = false;
        if line.starts_with("# ") {
            sections.push(Vec::new());
        }
    }
    // Drop the placeholders that stood for plain blocks.
    for s in &mut sections {
        s.retain(|x| !x.command.is_empty());
    }
    (sections, any_session)
}

/// A recorded command line as a person types it: the tool's `sudo -n -- sh -c 'X'` (or, with a
/// sudo password, `sudo -S -p '' -- sh -c 'X'`) is `sudo X`, or `sudo sh -c '…'` when X is
/// several commands; any other line is itself.
pub fn typed(command: &str) -> String {
    let inner = ["sudo -n -- sh -c ", "sudo -S -p '' -- sh -c "]
        .iter()
        .find_map(|p| command.strip_prefix(p));
    match inner {
        Some(inner) if inner.contains([';', '&', '|', '\n']) => format!("sudo sh -c {inner}"),
        Some(inner) => {
            let unq = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .map(|s| s.replace("'\\''", "'"))
                .unwrap_or_else(|| inner.to_string());
            format!("sudo {unq}")
        }
        None => command.to_string(),
    }
}

/// One command line of the journal: a record's, or one line of a script recorded whole (a
/// step's commands, run in one shell).
struct Line<'a> {
    at: (u64, usize),
    ev: &'a Evidence,
    command: String,
}

fn lines_of_journal<'a>(entries: &'a [Entry], red: &Redactor) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for e in entries {
        let Body::Evidence(ev) = &e.body else {
            continue;
        };
        let c = red.redact(&ev.command).0;
        out.push(Line {
            at: (e.seq, 0),
            ev,
            command: c.clone(),
        });
        if c.contains('\n') {
            let script = c.lines().map(str::trim).filter(|l| !l.is_empty());
            for (i, l) in script.enumerate() {
                out.push(Line {
                    at: (e.seq, i + 1),
                    ev,
                    command: l.to_string(),
                });
            }
        }
    }
    out
}

fn same_command(line: &Line, cmd: &str) -> bool {
    let t = typed(&line.command);
    [&line.command, &t]
        .iter()
        .any(|c| c.as_str() == cmd || normal(c) == normal(cmd))
}

/// The user a line ran as is the prompt's: as recorded, or root through the tool's sudo for a
/// command the answer shows with `sudo`.
fn same_user(line: &Line, user: &str, cmd: &str) -> bool {
    line.ev
        .user
        .as_deref()
        .is_none_or(|u| u == user || (u == "root" && cmd.starts_with("sudo ")))
}

/// Check `md` against the journal's entries. `Err` when the answer shows no command at all.
pub fn check(md: &str, entries: &[Entry], red: &Redactor) -> Result<Vec<Problem>, String> {
    let (sections, any) = read(md);
    if !any {
        return Err("it has no shellsession block, so it shows no command to check".to_string());
    }
    let journal = lines_of_journal(entries, red);
    let mut problems = Vec::new();
    for section in sections {
        let mut last = (0u64, 0usize);
        let mut block = 0usize;
        for s in section {
            // Order holds within a block: the end state shows a later check's before after an
            // earlier check's after.
            if s.block != block {
                block = s.block;
                last = (0, 0);
            }
            let cands: Vec<&Line> = journal
                .iter()
                .filter(|l| {
                    l.at > last
                        && l.ev.host == s.host
                        && same_user(l, &s.user, &s.command)
                        && same_command(l, &s.command)
                })
                .collect();
            if cands.is_empty() {
                let anywhere = journal
                    .iter()
                    .any(|l| l.ev.host == s.host && same_command(l, &s.command));
                problems.push(Problem {
                    line: s.line,
                    text: if anywhere {
                        format!(
                            "`{}` on {} as {} is recorded, but not as this user or not in this order",
                            s.command, s.host, s.user
                        )
                    } else {
                        format!("`{}` was never recorded on {}", s.command, s.host)
                    },
                });
                continue;
            }
            let lines_of = |ev: &Evidence| super::roles::lines_of(ev, red);
            let whole = cands.iter().find(|l| {
                let all = lines_of(l.ev);
                s.out
                    .iter()
                    .all(|(_, x)| all.iter().any(|a| a.trim_end() == x))
            });
            match whole {
                Some(l) => last = l.at,
                None => {
                    let l = cands[0];
                    let all = lines_of(l.ev);
                    for (n, x) in &s.out {
                        if !all.iter().any(|a| a.trim_end() == x) {
                            problems.push(Problem {
                                line: *n,
                                text: format!(
                                    "this line is not in the output of `{}` on {}",
                                    s.command, s.host
                                ),
                            });
                        }
                    }
                    last = l.at;
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_sudo_is_read_as_typed() {
        assert_eq!(
            typed("sudo -n -- sh -c 'calicoctl node status'"),
            "sudo calicoctl node status"
        );
        assert_eq!(typed("sudo -S -p '' -- sh -c 'ip link'"), "sudo ip link");
        assert_eq!(typed("sudo -n -- sh -c 'cat a'\\''b'"), "sudo cat a'b");
        assert_eq!(typed("sudo -n -- sh -c 'a; b'"), "sudo sh -c 'a; b'");
        assert_eq!(typed("ip route"), "ip route");
    }

    #[test]
    fn prompts_are_read() {
        assert_eq!(
            prompt("user@web01:~$ curl -sI http://localhost/"),
            Some(("user", "web01", "curl -sI http://localhost/"))
        );
        assert_eq!(
            prompt("root@web01:/etc# cat app/env"),
            Some(("root", "web01", "cat app/env"))
        );
        assert_eq!(prompt("HTTP/1.1 502 Bad Gateway"), None);
        assert_eq!(prompt("Date: Mon, 01 Jan"), None);
        assert_eq!(prompt("a@b.c: x$ y"), None);
    }
}
