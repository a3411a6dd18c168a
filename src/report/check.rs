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
            if !shell && !(after_session && info.is_empty()) {
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

fn same_command(ev: &Evidence, red: &Redactor, cmd: &str) -> bool {
    let c = red.redact(&ev.command).0;
    c == cmd || normal(&c) == cmd || normal(cmd) == normal(&c)
}

/// Check `md` against the journal's entries. `Err` when the answer shows no command at all.
pub fn check(md: &str, entries: &[Entry], red: &Redactor) -> Result<Vec<Problem>, String> {
    let (sections, any) = read(md);
    if !any {
        return Err("it has no shellsession block, so it shows no command to check".to_string());
    }
    let evidence: Vec<(u64, &Evidence)> = entries
        .iter()
        .filter_map(|e| match &e.body {
            Body::Evidence(ev) => Some((e.seq, ev)),
            _ => None,
        })
        .collect();
    let mut problems = Vec::new();
    for section in sections {
        let mut last = 0u64;
        let mut block = 0usize;
        for s in section {
            // Order holds within a block: the end state shows a later check's before after an
            // earlier check's after.
            if s.block != block {
                block = s.block;
                last = 0;
            }
            let cands: Vec<(u64, &Evidence)> = evidence
                .iter()
                .filter(|(seq, ev)| {
                    *seq > last
                        && ev.host == s.host
                        && ev.user.as_deref().is_none_or(|u| u == s.user)
                        && same_command(ev, red, &s.command)
                })
                .copied()
                .collect();
            if cands.is_empty() {
                let anywhere = evidence
                    .iter()
                    .any(|(_, ev)| ev.host == s.host && same_command(ev, red, &s.command));
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
            let whole = cands.iter().find(|(_, ev)| {
                let all = lines_of(ev);
                s.out
                    .iter()
                    .all(|(_, l)| all.iter().any(|a| a.trim_end() == l))
            });
            match whole {
                Some((seq, _)) => last = *seq,
                None => {
                    let (seq, ev) = cands[0];
                    let all = lines_of(ev);
                    for (n, l) in &s.out {
                        if !all.iter().any(|a| a.trim_end() == l) {
                            problems.push(Problem {
                                line: *n,
                                text: format!(
                                    "this line is not in the output of `{}` on {}",
                                    s.command, s.host
                                ),
                            });
                        }
                    }
                    last = seq;
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
