//! Command lines as the shell splits them, and each program's secret-bearing options: the
//! `[[program]]` tables of redact.toml applied to `record`'s argv, to the shell's command lines
//! and to command lines inside outputs (history, `ps`, Ansible's logged commands).
//!
//! Words are split as POSIX sh splits them (quotes, backslashes, `;`, `|`, `&`, `(`, `)`, `<`,
//! `>` end a word), and a quoted word that holds a command line (`sh -c 'mysql -pX'`) is split
//! again. Only the secret's characters are replaced; its quotes and what surrounds it stay.
//! Written here rather than with a crate: shell-words and shlex give words, not where each
//! character of a word came from, which is what replacing only the secret needs.
//!
//! What it cannot prove: that a program named in prose is not a command, or an option this table
//! does not list (a program's own aliases, a wrapper script's options); a value that the shell
//! would expand (`$VAR`, `$(…)`) is a reference and is kept.

use super::redact::marker;
use serde::Deserialize;

/// One program's secret-bearing arguments (redact.toml `[[program]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Command names (the word's last path component).
    pub names: Vec<String>,
    /// The marker's kind.
    pub kind: String,
    /// Options whose value is a secret: `-a VALUE`, `-aVALUE`, `--pass VALUE`, `--pass=VALUE`.
    #[serde(default)]
    pub value: Vec<String>,
    /// Options whose value is a secret as the next word, never glued (openssl's
    /// `-k SECRET`, where `-key` is another option).
    #[serde(default)]
    pub separate: Vec<String>,
    /// Short options whose value is a secret only glued to them (`-pSECRET`; a bare `-p` asks).
    #[serde(default)]
    pub glued: Vec<String>,
    /// Long options whose value is a secret only after `=` (`--password=SECRET`).
    #[serde(default)]
    pub eq: Vec<String>,
    /// Options whose value is `user%secret` or `user:secret`: the part after the first of
    /// `userpass_sep` is the secret.
    #[serde(default)]
    pub userpass: Vec<String>,
    #[serde(default)]
    pub userpass_sep: String,
    /// Options whose value is a secret only after this prefix (openssl's `pass:`; `env:`,
    /// `file:`, `fd:` and `stdin` name where the secret is, not the secret).
    #[serde(default)]
    pub prefixed: Vec<String>,
    #[serde(default)]
    pub prefix: String,
    /// Positional arguments that are secrets.
    #[serde(default)]
    pub positional: Vec<Positional>,
    /// Words that start with one of these hold a secret after it (xfreerdp's `/p:SECRET`).
    #[serde(default)]
    pub word_prefix: Vec<String>,
    /// The program reads a secret on its standard input when given one of these options (or
    /// always, for an empty string): the words of an `echo`/`printf` piped into it, or of a
    /// here-string (`<<< WORD`), are that secret (`echo 'u:S' | chpasswd`, after `stdin_sep`).
    #[serde(default)]
    pub stdin: Vec<String>,
    #[serde(default)]
    pub stdin_sep: String,
    /// Options that take no value although their name names a secret.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Options with a value that is not a secret (counted right, the positions stay right).
    #[serde(default)]
    pub takes_value: Vec<String>,
    /// The rules hold only when one of these words is an argument (`docker login`, not
    /// `docker run -p 8080:80`).
    #[serde(default)]
    pub only_with: Vec<String>,
    /// Options end at the first positional argument (sshpass -p X ssh -p 22 host: the second -p
    /// is ssh's).
    #[serde(default)]
    pub options_first: bool,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub counter: Vec<String>,
}

/// The `index`-th positional argument (from 1), counted after the word `after` when given, and
/// only when the short flags in `with` were all given and none in `without`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Positional {
    pub index: usize,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub with: String,
    #[serde(default)]
    pub without: String,
    /// The argument is `user/secret@db` (sqlplus, expdp): the secret is between the program's
    /// first `userpass_sep` and the last `@`.
    #[serde(default)]
    pub userpass: bool,
}

/// A secret inside word `word`, bytes `start..end` of its cooked text.
#[derive(Debug, PartialEq)]
pub struct Hit {
    pub word: usize,
    pub start: usize,
    pub end: usize,
    pub kind: String,
}

/// Not a value but a reference the shell expands, or a secret already hidden.
/// `$VAR`, `${VAR}`, `$(cmd)` and backticks are; a crypt hash (`$6$salt$…`) is not.
fn is_reference(v: &str) -> bool {
    let var = v.strip_prefix('$').is_some_and(|r| {
        r.starts_with(['{', '('])
            || (r.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    });
    v.is_empty() || v == "-" || var || v.starts_with('`') || v.contains("[REDACTED:")
}

/// The program a word runs, if the table knows it.
pub fn program<'a>(programs: &'a [Program], word: &str) -> Option<&'a Program> {
    let name = word.rsplit('/').next().unwrap_or(word);
    programs.iter().find(|p| p.names.iter().any(|n| n == name))
}

/// The secrets among `args` (the words after the program's name, up to the end of its simple
/// command). Word indices count from 0 at `args[0]`.
pub fn secrets(p: &Program, args: &[&str]) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut hit = |word: usize, start: usize, end: usize, v: &str| {
        if !is_reference(v) {
            hits.push(Hit {
                word,
                start,
                end,
                kind: p.kind.clone(),
            });
        }
    };
    if !p.only_with.is_empty() && !args.iter().any(|a| p.only_with.iter().any(|w| w == a)) {
        return hits;
    }
    let mut positionals: Vec<usize> = Vec::new();
    let mut short_flags = String::new();
    let mut options_end = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let next = args.get(i + 1).copied();
        i += 1;
        if let Some(o) = p
            .word_prefix
            .iter()
            .find(|o| a.len() > o.len() && a.starts_with(o.as_str()))
        {
            hit(i - 1, o.len(), a.len(), &a[o.len()..]);
            continue;
        }
        if options_end || !a.starts_with('-') || a == "-" {
            positionals.push(i - 1);
            options_end |= p.options_first;
            continue;
        }
        if a == "--" {
            options_end = true;
            continue;
        }
        if p.flags.iter().any(|f| f == a) {
            continue;
        }
        if p.takes_value.iter().any(|f| f == a) {
            i += 1;
            continue;
        }
        // The next word is this option's value unless it is an option itself (mongosh -p
        // --authenticationDatabase admin: -p asks).
        let next = next.filter(|n| !n.starts_with('-') || n.len() == 1);
        // An option's value: (word, offset of the value in it), when this option has one.
        let value_of = |opts: &[String], next_too: bool, glue: bool| -> Option<(usize, usize)> {
            for o in opts {
                if a == o && next_too {
                    return next.map(|_| (i, 0));
                }
                if o.starts_with("--") || o.len() > 2 {
                    if a.len() > o.len() + 1
                        && a.starts_with(o.as_str())
                        && a.as_bytes()[o.len()] == b'='
                    {
                        return Some((i - 1, o.len() + 1));
                    }
                } else if glue
                    && a.len() > o.len()
                    && a.starts_with(o.as_str())
                    && !a.starts_with("--")
                {
                    return Some((i - 1, o.len()));
                }
            }
            None
        };
        let word_at = |w: usize| if w == i - 1 { a } else { next.unwrap_or("") };
        // Where the secret starts in the option's value: all of it, after `user%`, after `pass:`.
        let whole = |_: &str, off: usize| Some(off);
        let after_user = |s: &str, off: usize| {
            s[off..]
                .find(|c| p.userpass_sep.contains(c))
                .map(|k| off + k + 1)
        };
        let after_prefix = |s: &str, off: usize| {
            s[off..]
                .strip_prefix(p.prefix.as_str())
                .map(|v| s.len() - v.len())
        };
        type Start<'f> = &'f dyn Fn(&str, usize) -> Option<usize>;
        let forms: [(&[String], bool, bool, Start); 6] = [
            (&p.value, true, true, &whole),
            (&p.separate, true, false, &whole),
            (&p.glued, false, true, &whole),
            (&p.eq, false, false, &whole),
            (&p.userpass, true, true, &after_user),
            (&p.prefixed, true, false, &after_prefix),
        ];
        let found = forms.iter().find_map(|(opts, next_too, glue, start)| {
            value_of(opts, *next_too, *glue).map(|v| (v, start))
        });
        if let Some(((w, off), start)) = found {
            let s = word_at(w);
            if let Some(at) = start(s, off) {
                hit(w, at, s.len(), &s[at..]);
            }
            if w == i {
                i += 1;
            }
            continue;
        }
        if !a.starts_with("--") && a[1..].chars().all(|c| c.is_ascii_alphabetic()) {
            short_flags.push_str(&a[1..]);
        }
    }
    for pos in &p.positional {
        if !pos.with.chars().all(|c| short_flags.contains(c))
            || pos.without.chars().any(|c| short_flags.contains(c))
        {
            continue;
        }
        let from = match &pos.after {
            Some(word) => match positionals.iter().position(|&w| args[w] == word) {
                Some(k) => k + 1,
                None => continue,
            },
            None => 0,
        };
        if let Some(&w) = positionals.get(from + pos.index - 1) {
            let a = args[w];
            if !pos.userpass {
                hit(w, 0, a.len(), a);
            } else if let Some(k) = a.find(|c| p.userpass_sep.contains(c)) {
                let end = a.rfind('@').filter(|&e| e > k).unwrap_or(a.len());
                hit(w, k + 1, end, &a[k + 1..end]);
            }
        }
    }
    hits
}

/// A word of a command line: its cooked text and, for each cooked byte, where it came from.
#[derive(Debug)]
struct Word {
    text: String,
    /// Raw byte offset of each byte of `text` (one more entry: the raw end).
    map: Vec<usize>,
    /// `;`, `|`, `&`, `(`, `)`, `<`, `>` or a new line: ends a simple command.
    op: bool,
    /// The word was quoted as a whole: it may hold a command line of its own.
    quoted: bool,
}

/// Split one line as sh splits it.
fn split(line: &str) -> Vec<Word> {
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b' ' || c == b'\t' {
            i += 1;
            continue;
        }
        if matches!(
            c,
            b';' | b'|' | b'&' | b'(' | b')' | b'<' | b'>' | b'\n' | b'`'
        ) {
            words.push(Word {
                text: (c as char).to_string(),
                map: vec![i, i + 1],
                op: true,
                quoted: false,
            });
            i += 1;
            continue;
        }
        let start = i;
        let mut w = Word {
            text: String::new(),
            map: Vec::new(),
            op: false,
            quoted: false,
        };
        let push = |w: &mut Word, from: usize, to: usize| {
            w.text.push_str(&line[from..to]);
            w.map.extend(from..to);
        };
        while i < b.len() {
            let c = b[i];
            if matches!(
                c,
                b' ' | b'\t' | b';' | b'|' | b'&' | b'(' | b')' | b'<' | b'>' | b'\n' | b'`'
            ) {
                break;
            }
            let ch = line[i..].chars().next().map_or(1, char::len_utf8);
            match c {
                b'\'' => {
                    let end = line[i + 1..].find('\'').map_or(b.len(), |k| i + 1 + k);
                    push(&mut w, i + 1, end);
                    i = (end + 1).min(b.len());
                }
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\'
                            && i + 1 < b.len()
                            && matches!(b[i + 1], b'"' | b'\\' | b'$' | b'`')
                        {
                            i += 1;
                        }
                        let n = line[i..].chars().next().map_or(1, char::len_utf8);
                        push(&mut w, i, i + n);
                        i += n;
                    }
                    i = (i + 1).min(b.len());
                }
                b'\\' if i + 1 < b.len() => {
                    let n = line[i + 1..].chars().next().map_or(1, char::len_utf8);
                    push(&mut w, i + 1, i + 1 + n);
                    i += 1 + n;
                }
                _ => {
                    push(&mut w, i, i + ch);
                    i += ch;
                }
            }
        }
        w.map.push(i);
        // Quoted as a whole ('…' or "…", one piece): it may hold a command line of its own.
        let raw = &line[start..i];
        w.quoted = raw.len() >= 2
            && [b'\'', b'"'].iter().any(|&q| {
                raw.as_bytes()[0] == q
                    && raw.as_bytes()[raw.len() - 1] == q
                    && !raw[1..raw.len() - 1].contains(q as char)
            });
        words.push(w);
    }
    words
}

/// Raw byte spans of `line` that hold a program's secret, with their kinds.
fn spans_in(programs: &[Program], line: &str, depth: u8, out: &mut Vec<(usize, usize, String)>) {
    let words = split(line);
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if w.op {
            i += 1;
            continue;
        }
        // A quoted word that is itself a command line (sh -c '…', ssh host "…").
        if w.quoted && depth < 2 && w.text.contains(' ') {
            let mut inner = Vec::new();
            spans_in(programs, &w.text, depth + 1, &mut inner);
            for (s, e, k) in inner {
                out.push((w.map[s], w.map[e - 1] + 1, k));
            }
        }
        if let Some(p) = program(programs, &w.text) {
            let end = words[i + 1..]
                .iter()
                .position(|x| x.op)
                .map_or(words.len(), |k| i + 1 + k);
            let args: Vec<&str> = words[i + 1..end].iter().map(|x| x.text.as_str()).collect();
            for h in secrets(p, &args) {
                let word = &words[i + 1 + h.word];
                if h.end > h.start {
                    out.push((word.map[h.start], word.map[h.end - 1] + 1, h.kind));
                }
            }
            if reads_stdin(p, &args) {
                for word in fed(&words, i, end) {
                    let t = word.text.as_str();
                    let at = match p.stdin_sep.is_empty() {
                        true => Some(0),
                        false => t.find(|c| p.stdin_sep.contains(c)).map(|k| k + 1),
                    };
                    if let Some(at) = at.filter(|&at| at < t.len() && !is_reference(&t[at..])) {
                        out.push((word.map[at], word.map[t.len() - 1] + 1, p.kind.clone()));
                    }
                }
            }
        }
        // Any other word: a wrapper (sudo, env X=1, timeout 5) or an argument; a program named
        // after it still starts its own command.
        i += 1;
    }
}

/// Whether the program, with these arguments, reads a secret on its standard input.
fn reads_stdin(p: &Program, args: &[&str]) -> bool {
    p.stdin
        .iter()
        .any(|f| f.is_empty() || args.iter().any(|a| a == f))
}

/// The words fed to the simple command `words[at..end]` on its standard input: the arguments of
/// an `echo` or `printf` right before it in a pipeline (not their options, nor printf's format
/// when it has arguments), or the word of a here-string after it.
fn fed(words: &[Word], at: usize, end: usize) -> Vec<&Word> {
    let mut fed = Vec::new();
    // `… <<< WORD`: three `<` operators where the command's words end, then the word.
    if let Some([a, b, c, w]) = words.get(end..end + 4) {
        if [a, b, c].iter().all(|o| o.op && o.text == "<") && !w.op {
            fed.push(w);
        }
    }
    // `echo … | program`: the `|` right before the program, and the simple command before it.
    if at >= 1 && words[at - 1].op && words[at - 1].text == "|" {
        let start = words[..at - 1]
            .iter()
            .rposition(|w| w.op)
            .map_or(0, |k| k + 1);
        let cmd = &words[start..at - 1];
        if let Some(first) = cmd.first() {
            let name = first.text.rsplit('/').next().unwrap_or("");
            if name == "echo" || name == "printf" {
                let args: Vec<&Word> = cmd[1..]
                    .iter()
                    .filter(|w| !(w.text.starts_with('-') && w.text.len() <= 3))
                    .collect();
                let skip = (name == "printf" && args.len() > 1) as usize;
                fed.extend(args.into_iter().skip(skip));
            }
        }
    }
    fed
}

/// A line's words as sh splits them (operators left out): for tests and callers that need argv.
pub fn words(line: &str) -> Vec<String> {
    split(line)
        .into_iter()
        .filter(|w| !w.op)
        .map(|w| w.text)
        .collect()
}

/// Replace every program's secret in `text`, line by line; how many were replaced.
pub fn redact_text(programs: &[Program], text: &str) -> (String, u64) {
    let mut spans = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let mut here = Vec::new();
        spans_in(programs, line.trim_end_matches('\n'), 0, &mut here);
        spans.extend(
            here.into_iter()
                .map(|(s, e, k)| (offset + s, offset + e, k)),
        );
        offset += line.len();
    }
    if spans.is_empty() {
        return (text.to_string(), 0);
    }
    spans.sort();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut n = 0;
    for (s, e, k) in spans {
        if s < last {
            continue;
        }
        out.push_str(&text[last..s]);
        out.push_str(&marker(&k));
        last = e;
        n += 1;
    }
    out.push_str(&text[last..]);
    (out, n)
}

/// Replace a program's secrets in an argument vector (record's argv): the first word the table
/// knows, after wrappers and environment assignments, is the program.
pub fn redact_argv(programs: &[Program], argv: &[String]) -> (Vec<String>, u64) {
    // Every word that names a program starts one (docker exec db mysql -pX: docker's and mysql's).
    let mut spans: Vec<(usize, usize, usize, String)> = Vec::new();
    for (at, a) in argv.iter().enumerate() {
        if let Some(p) = program(programs, a) {
            let args: Vec<&str> = argv[at + 1..].iter().map(String::as_str).collect();
            spans.extend(
                secrets(p, &args)
                    .into_iter()
                    .map(|h| (at + 1 + h.word, h.start, h.end, h.kind)),
            );
        }
    }
    spans.sort();
    spans.dedup_by(|b, a| a.0 == b.0 && b.1 < a.2);
    let mut out: Vec<String> = argv.to_vec();
    let n = spans.len() as u64;
    // From the end of each word, so earlier offsets stay right.
    for (w, start, end, kind) in spans.into_iter().rev() {
        out[w].replace_range(start..end, &marker(&kind));
    }
    (out, n)
}
