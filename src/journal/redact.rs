//! Redaction: secrets are replaced by `[REDACTED:kind]` before anything is written.
//!
//! What a secret looks like is data (`redact.toml`, embedded): patterns for secrets with a shape
//! of their own (provider tokens, key blocks, URL passwords, Authorization headers, JWTs), and
//! the names that make a value a secret (`KEY=value`, `key: value`, JSON fields, `--password X`,
//! inside quoted `sh -c` strings too). The mechanism is here: a pattern replaces only its secret
//! group; a named value is parsed as a shell word, a quoted string or a YAML/INI value, so the
//! separators around it (`;`, `&&`, quotes) stay, and values that are names or references
//! (`$VAR`, `var.x`, `{Placeholder}`, a path, a command substitution) are kept. Users add literal
//! values and regexes (`--secret`, `--secret-regex`, `--secrets-file`).
//!
//! What it cannot promise: a secret with no shape and no name (a bare password on a line of its
//! own) is invisible to it; the user's literals are the only defence there. It is measured on a
//! public scanner's test examples (`cargo bench --bench redact_corpus`).

use anyhow::{Context, Result};
use regex::Regex;
use serde::Deserialize;
use std::path::Path;
use std::sync::OnceLock;

/// The marker that replaces a secret of the given kind.
pub fn marker(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

const MARKER_PREFIX: &str = "[REDACTED:";

/// The rules as written in redact.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub pattern: Vec<PatternRule>,
    pub assign: AssignRule,
    /// Programs and their secret-bearing options (src/journal/cmdline.rs).
    #[serde(default)]
    pub program: Vec<super::cmdline::Program>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    pub id: String,
    pub kind: String,
    pub regex: String,
    #[serde(default)]
    pub entropy: f64,
    #[serde(default)]
    pub unless: Option<String>,
    /// An opening line (`-----BEGIN CERTIFICATE-----`) whose block, still open before a match,
    /// makes the match part of it and not a secret.
    #[serde(default)]
    pub not_inside: Option<String>,
    /// Literals of which a text must hold one for the rule to match at all: a fast check before
    /// the regex scans the text (for rules with no literal of their own at their start).
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub counter: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRule {
    pub hints: Vec<String>,
    pub password_words: Vec<String>,
    pub token_words: Vec<String>,
    pub token_entropy: f64,
    pub after_words: Vec<String>,
    pub not_values: Vec<String>,
    /// Options that take no value although their name names a secret (`--ask-password`).
    #[serde(default)]
    pub flag_options: Vec<String>,
    /// Keys of `key value` configuration lines whose value is a password (requirepass).
    #[serde(default)]
    pub space_keys: Vec<String>,
    /// Commands that set `NAME value` (Dockerfile's ENV): a secret NAME's value is a secret.
    #[serde(default)]
    pub space_commands: Vec<String>,
    /// Words that end with a password word and are not one (bypass, compass).
    #[serde(default)]
    pub not_password_words: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub counter: Vec<String>,
}

/// `\\b` and `\\w` as ASCII (rules are about ASCII tokens, and the Unicode forms keep the regex
/// engine off its fast path).
fn ascii(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 16);
    let mut in_class = false;
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('b') if !in_class => out.push_str("(?-u:\\b)"),
                Some('w') if in_class => out.push_str("[:word:]"),
                Some('w') => out.push_str("[[:word:]]"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A ] right after [ or [^ is a literal.
                let rest = chars.as_str();
                for lit in ["^]", "]"] {
                    if let Some(after) = rest.strip_prefix(lit) {
                        out.push_str(lit);
                        chars = after.chars();
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The embedded rule file, parsed (its examples are checked by tests/redact.rs).
pub fn rule_file() -> &'static RuleFile {
    static R: OnceLock<RuleFile> = OnceLock::new();
    R.get_or_init(|| {
        toml::from_str(include_str!("redact.toml")).expect("redact.toml is valid (tested)")
    })
}

struct Pattern {
    kind: String,
    re: Regex,
    entropy: f64,
    unless: Option<Regex>,
    not_inside: Option<Regex>,
    needs: Vec<String>,
}

struct Rules {
    patterns: Vec<Pattern>,
    /// `key` + operator; the value is parsed by hand after it.
    assign: Regex,
    /// A `--password`-style argument whose value is the next argument.
    option: Regex,
    /// `key="Password" value="..."` (XML attribute pairs).
    attr_pair: Regex,
    reference: Regex,
    /// Any program of the `[[program]]` tables named as a word: a fast first filter.
    programs: Regex,
    /// `<key>value</key>` (XML elements), and their closing name checked by hand.
    element: Regex,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        let f = rule_file();
        let patterns: Vec<Pattern> = f
            .pattern
            .iter()
            .map(|p| Pattern {
                kind: p.kind.clone(),
                re: Regex::new(&ascii(&p.regex)).unwrap_or_else(|e| panic!("redact.toml {}: {e}", p.id)),
                entropy: p.entropy,
                unless: p.unless.as_ref().map(|u| Regex::new(u).unwrap()),
                not_inside: p.not_inside.as_ref().map(|u| Regex::new(u).unwrap()),
                needs: p.needs.clone(),
            })
            .collect();
        let hints = f.assign.hints.join("|");
        Rules {
            patterns,
            assign: Regex::new(&format!(
                r#"(?i)(?:^|[^A-Za-z0-9_.\\-])(?P<q>\\?["']?)(?P<key>-{{0,2}}[A-Za-z0-9_.-]*(?:{hints})[A-Za-z0-9_.-]*)(?P<q2>\\?["']?)(?:\[\]|\])?(?P<op>[ \t]*(?:=>|[!=]==?|[:?]{{0,3}}=|:|\()[ \t]*|[ \t]*,[ \t]*|[ \t]+)"#
            ))
            .unwrap(),
            option: Regex::new(&format!(r"(?i)^--?[\w-]*(?:{hints})[\w-]*$")).unwrap(),
            attr_pair: Regex::new(r#"(?i)\b(?:key|name)\s*=\s*"(?P<key>[^"]+)"(?:\s+value\s*=\s*"(?P<s>[^"]*)"|\s*>(?P<s2>[^<>\n]+)<)|\bname\s*:\s*["']?(?P<ykey>[\w.-]+)["']?[ \t]*(?:,|\r?\n[ \t]*-?)[ \t]*value\s*:[ \t]*(?:"(?P<s3>[^"\n]*)"|'(?P<s4>[^'\n]*)'|(?P<s5>[^\s"',}][^,}\n]*))"#)
                .unwrap(),
            programs: Regex::new(&format!(
                r"(?:^|[\s/;|&(`'\x22])(?:{})(?:$|[\s'\x22;|&)])",
                f.program
                    .iter()
                    .flat_map(|p| p.names.iter())
                    .map(|n| regex::escape(n))
                    .collect::<Vec<_>>()
                    .join("|")
            ))
            .unwrap(),
            element: Regex::new(&format!(
                r"(?i)<(?P<key>[A-Za-z0-9_.:-]*(?:{hints})[A-Za-z0-9_.:-]*)(?:\s[^<>]*)?>(?P<s>[^<>\n]+)</(?P<close>[A-Za-z0-9_.:-]+)>"
            ))
            .unwrap(),
            reference: Regex::new(
                r"^(?:\$|\{.*\}$|<.*>$|%.*%$|%\([\w.]+\)[sdr]$|`|\(|[A-Za-z_]\w+(?:\.[A-Za-z_]*\d{0,3}[A-Za-z_]*)+(?:\(\))?$|[\w.]+\(.*\)$|[A-Za-z_][\w.]*\[[^\]]*\]$|\[[A-Za-z_][\w.]* [^\]]*\]$|arn:[a-z-]+:|&lt;.*&gt;?$|#[A-Za-z][\w-]*$)",
            )
            .unwrap(),
        }
    })
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// A file path (absolute, home- or dot-relative) with no white space in it.
fn is_path(v: &str) -> bool {
    ["/", "~/", "./", "../", "$HOME/"]
        .iter()
        .any(|p| v.starts_with(p))
        && !v.contains(char::is_whitespace)
        && v.len() > 2
}

/// The words of a key, lower-case: `OS_PASSWORD` → [os, password], `clientSecret` → [client,
/// secret], `--os-password` → [os, password].
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = if i > 0 { chars[i - 1] } else { ' ' };
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        // camelCase (aB) and an acronym before a word (ETSYToken: Y|To).
        let boundary = c.is_ascii_uppercase()
            && ((prev.is_ascii_lowercase() || prev.is_ascii_digit())
                || (prev.is_ascii_uppercase() && next.is_ascii_lowercase()));
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    // Trailing numbers (token1, some_api_token_123) do not change what a key names.
    for w in out.iter_mut() {
        let t = w.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        *w = t;
    }
    out.retain(|w| !w.is_empty());
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Class {
    Password,
    Token,
}

/// What a key names: its last secret word decides, unless a word after it makes the key name
/// something about the secret (access_token_url, secret_length); client-key-data is a key.
fn classify(key: &str) -> Option<(Class, &'static str)> {
    let w = words(key);
    let a = &rule_file().assign;
    let is = |list: &[String], s: &str| list.iter().any(|x| x == s);
    if w.len() >= 2 && w[w.len() - 2] == "key" && w[w.len() - 1] == "data" {
        return Some((Class::Token, "client-key-data"));
    }
    // A word that ends with a secret word is one too (PGPASSWORD, dbpass, tlspassword,
    // authtoken), unless it is listed as a plain word (bypass, compass, oldpwd).
    let glued = |x: &str, suffixes: &[&str]| {
        !is(&a.not_password_words, x)
            && suffixes
                .iter()
                .any(|s| x.len() > s.len() + 1 && x.ends_with(s))
    };
    let pw = |x: &str| {
        is(&a.password_words, x)
            || glued(
                x,
                &["password", "passwd", "passphrase", "pass", "pwd", "secret"],
            )
    };
    let tok = |x: &str| is(&a.token_words, x) || glued(x, &["token", "apikey"]);
    let i = w.iter().rposition(|x| pw(x) || tok(x))?;
    if w[i + 1..].iter().any(|x| is(&a.after_words, x)) {
        return None;
    }
    let last = w[i].as_str();
    if pw(last) {
        let last = ["password", "passwd", "passphrase", "pass", "pwd", "secret"]
            .into_iter()
            .find(|s| last.ends_with(s) && !is(&a.password_words, last))
            .unwrap_or(last);
        let kind = if last.starts_with("pass") || last == "pwd" {
            "password"
        } else {
            "secret"
        };
        Some((Class::Password, kind))
    } else {
        Some((Class::Token, if last == "token" { "token" } else { "key" }))
    }
}

/// A key whose secret word is a plain `key` (bucket_key, schemaKey), not an API, access or
/// private key: such a key names many things that are not secrets.
fn bare_key(key: &str) -> bool {
    let w = words(key);
    let strong = [
        "api",
        "access",
        "secret",
        "private",
        "client",
        "signing",
        "encryption",
        "master",
        "license",
        "auth",
        "app",
        "ssh",
    ];
    match w.iter().rposition(|x| x == "key") {
        Some(i) => i == 0 || !strong.contains(&w[i - 1].as_str()),
        None => false,
    }
}

/// A value made of words and numbers (SalesResults-1.2, Doc_Vector_5_32): a name, not a token.
fn name_like(v: &str) -> bool {
    let parts: Vec<&str> = v.split(['-', '_', '.']).collect();
    let word = |p: &str| {
        let c: Vec<char> = p.chars().collect();
        !c.is_empty()
            && c.iter().all(|x| x.is_ascii_alphabetic())
            && (c.iter().all(|x| x.is_ascii_uppercase())
                || c[1..]
                    .iter()
                    .zip(&c[..c.len() - 1])
                    .all(|(x, prev)| x.is_ascii_lowercase() || prev.is_ascii_lowercase()))
    };
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| word(p) || (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
        && parts.iter().any(|p| word(p))
}

/// Whether the value of a key of this class is a secret (and not a name, a reference or a word).
fn is_secret_value(key: &str, class: Class, v: &str) -> bool {
    secret_value(key, class, v, true)
}

/// `names`: whether a value that reads as a name (ClearTextPassword) is taken as one; not where
/// the value's position leaves no doubt (XML `value="..."`).
fn secret_value(key: &str, class: Class, v: &str, names: bool) -> bool {
    let r = rules();
    let a = &rule_file().assign;
    let v = v.trim();
    if v.is_empty()
        || v.contains(MARKER_PREFIX)
        || is_path(v)
        || r.reference.is_match(v.trim_end_matches([';', ',']))
    {
        return false;
    }
    if a.not_values.iter().any(|n| n.eq_ignore_ascii_case(v)) {
        return false;
    }
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    if norm(v) == norm(key) {
        return false;
    }
    // A name that contains a secret word (ACCESS_TOKEN, MY-API-KEY, ClearTextPassword) names a
    // secret; an alphabet (abcdefghij...) is not one.
    let camel = v.chars().all(|c| c.is_ascii_alphabetic())
        && v.starts_with(|c: char| c.is_ascii_uppercase());
    let upper = v
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if names && (camel || upper) && classify(v).is_some() {
        return false;
    }
    let run = v.as_bytes().windows(2).fold((1, 1), |(best, cur), w| {
        let cur = if w[1] == w[0].wrapping_add(1) {
            cur + 1
        } else {
            1
        };
        (best.max(cur), cur)
    });
    if run.0 >= 10 {
        return false;
    }
    match class {
        Class::Password => v.chars().count() >= 4,
        Class::Token => {
            // node-role.kubernetes.io/master: a host name's last label is a word.
            let host = v.split('/').next().unwrap_or("");
            let labels: Vec<&str> = host.split('.').collect();
            let host_like = labels.len() >= 2
                && labels.iter().all(|l| {
                    !l.is_empty()
                        && l.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                && labels
                    .last()
                    .unwrap()
                    .chars()
                    .all(|c| c.is_ascii_lowercase());
            if v.len() >= 16 && v.chars().all(|c| c.is_ascii_digit()) {
                return true;
            }
            // `key` names many things that are not secrets; `token` hardly anything else.
            let a_name = name_like(v) && bare_key(key);
            let shaped = !v.contains(char::is_whitespace) && !host_like && !v.contains("://");
            v.len() >= 8 && !a_name && shaped && entropy(v) >= a.token_entropy
        }
    }
}

/// A quoted string at `text[at..]`, followed by `;` (nginx's and HCL-like directives).
fn quoted_then_semicolon(text: &str, at: usize) -> bool {
    let rest = &text[at..];
    let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return false;
    };
    rest[1..]
        .find([q, '\n'])
        .is_some_and(|k| rest[1..][k..].starts_with(q) && rest[1 + k + 1..].starts_with(';'))
}

/// Where a value that starts at `text[at..]` ends, and the span of its content (without quotes).
/// `yaml`: an unquoted value runs to the end of the line (or to `stop`, a quote that encloses the
/// whole assignment); otherwise it is a shell word.
fn value_span(text: &str, at: usize, yaml: bool, stop: Option<char>) -> (usize, usize, usize) {
    let rest = &text[at..];
    let (q, open) = if rest.starts_with("\\\"") {
        ("\\\"", 2)
    } else if rest.starts_with("@\"") {
        ("\"", 2)
    } else if rest.starts_with('"') {
        ("\"", 1)
    } else if rest.starts_with('\'') {
        ("'", 1)
    } else if rest.starts_with('`') {
        ("`", 1)
    } else {
        ("", 0)
    };
    if !q.is_empty() {
        let body = &rest[open..];
        let mut i = 0;
        let bytes = body.as_bytes();
        while i < body.len() {
            if body[i..].starts_with(q)
                && (q != "\"" || i == 0 || bytes[i - 1] != b'\\' || q == "\\\"")
            {
                return (at + open, at + open + i, at + open + i + q.len());
            }
            if body[i..].starts_with('\n') {
                break;
            }
            i += body[i..].chars().next().map_or(1, char::len_utf8);
        }
        return (at + open, at + open + i, at + open + i);
    }
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            c == '\n'
                || c == '\r'
                || Some(c) == stop
                || (!yaml
                    && (c.is_whitespace()
                        || matches!(c, ';' | '&' | '|' | ')' | '<' | '>' | ',' | '}' | ']')))
        })
        .map_or(rest.len(), |(i, _)| i);
    let content = rest[..end].trim_end();
    (at, at + content.len(), at + content.len())
}

/// Redacts text with the rules of redact.toml and the user's literals and regexes.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    literals: Vec<String>,
    patterns: Vec<Regex>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_literal(&mut self, value: impl Into<String>) {
        let v = value.into();
        if !v.is_empty() {
            self.literals.push(v);
            // Longest first, so a secret that contains another is replaced whole.
            self.literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn add_regex(&mut self, pattern: &str) -> Result<()> {
        let re = Regex::new(pattern)
            .with_context(|| format!("secret regex {pattern:?} is not valid"))?;
        self.patterns.push(re);
        Ok(())
    }

    /// Load a secrets file: one secret per line; `regex:` starts a regex, `literal:` (or nothing)
    /// a literal value; empty lines and lines starting with `#` are skipped.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("secrets file {}: cannot read", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(re) = line.strip_prefix("regex:") {
                self.add_regex(re)
                    .with_context(|| format!("secrets file {}: line {}", path.display(), i + 1))?;
            } else {
                self.add_literal(line.strip_prefix("literal:").unwrap_or(line));
            }
        }
        Ok(())
    }

    /// Replace every secret in `text`; returns the text and how many secrets were replaced.
    pub fn redact(&self, text: &str) -> (String, u64) {
        let mut n = 0u64;
        let mut s = text.to_string();
        for lit in &self.literals {
            let c = s.matches(lit.as_str()).count() as u64;
            if c > 0 {
                s = s.replace(lit.as_str(), &marker("user-secret"));
                n += c;
            }
        }
        for re in &self.patterns {
            let c = re.find_iter(&s).count() as u64;
            if c > 0 {
                s = re
                    .replace_all(&s, marker("user-pattern").as_str())
                    .into_owned();
                n += c;
            }
        }
        let r = rules();
        for p in &r.patterns {
            if !p.needs.is_empty() && !p.needs.iter().any(|l| s.contains(l.as_str())) {
                continue;
            }
            if !p.re.is_match(&s) {
                continue;
            }
            let (out, k) = apply_pattern(p, &s);
            s = out;
            n += k;
        }
        if r.programs.is_match(&s) {
            let (out, k) = super::cmdline::redact_text(&rule_file().program, &s);
            s = out;
            n += k;
        }
        let (out, k) = redact_pairs(&s);
        n += k;
        let (out, k) = redact_elements(&out);
        n += k;
        let (out, k) = redact_named(&out);
        (out, n + k)
    }

    /// Redact an argument vector: the value after a bare `--password`-style option is a secret,
    /// and every argument is redacted as text too (a `sh -c` string included).
    pub fn redact_argv(&self, argv: &[String]) -> (Vec<String>, u64) {
        // The program's own secret-bearing options and positions first (mysql -pX, htpasswd -b).
        let (argv, mut n) = super::cmdline::redact_argv(&rule_file().program, argv);
        let mut out = Vec::with_capacity(argv.len());
        let mut secret_next: Option<(Class, &str, String)> = None;
        for arg in &argv {
            if let Some((class, kind, key)) = secret_next.take() {
                if is_secret_value(&key, class, arg) {
                    out.push(marker(kind));
                    n += 1;
                    continue;
                }
            }
            if rules().option.is_match(arg)
                && !rule_file().assign.flag_options.iter().any(|f| f == arg)
            {
                if let Some((class, kind)) = classify(arg) {
                    secret_next = Some((class, kind, arg.clone()));
                }
                out.push(arg.clone());
                continue;
            }
            let (r, c) = self.redact(arg);
            n += c;
            out.push(r);
        }
        (out, n)
    }
}

/// One pattern rule of redact.toml alone, by id (for its tests); None for an unknown id.
pub fn apply_rule(id: &str, text: &str) -> Option<String> {
    let i = rule_file().pattern.iter().position(|p| p.id == id)?;
    Some(apply_pattern(&rules().patterns[i], text).0)
}

/// Replace the secret group of every match of one pattern.
fn apply_pattern(p: &Pattern, s: &str) -> (String, u64) {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut n = 0;
    let names: Vec<&str> =
        p.re.capture_names()
            .flatten()
            .filter(|g| g.starts_with('s'))
            .collect();
    for c in p.re.captures_iter(s) {
        let m = names
            .iter()
            .find_map(|g| c.name(g))
            .unwrap_or_else(|| c.get(0).unwrap());
        let secret = m.as_str();
        if secret.contains(MARKER_PREFIX)
            || (p.entropy > 0.0 && entropy(secret) < p.entropy)
            || p.unless.as_ref().is_some_and(|u| u.is_match(secret))
            || m.start() < last
            || p.not_inside
                .as_ref()
                .is_some_and(|o| inside(o, &s[..m.start()]))
        {
            continue;
        }
        out.push_str(&s[last..m.start()]);
        out.push_str(&marker(&p.kind));
        last = m.end();
        n += 1;
    }
    out.push_str(&s[last..]);
    (out, n)
}

/// Whether `before` ends inside a block that `opening` opens and no `-----END` line has closed.
fn inside(opening: &Regex, before: &str) -> bool {
    opening
        .find_iter(before)
        .last()
        .is_some_and(|m| !before[m.end()..].contains("-----END"))
}

/// `key="Password" value="..."`: the value of an attribute pair whose key names a secret.
fn redact_pairs(s: &str) -> (String, u64) {
    redact_keyed(s, &rules().attr_pair, |c| {
        Some((
            c.name("key").or_else(|| c.name("ykey"))?.as_str(),
            ["s", "s2", "s3", "s4", "s5"]
                .iter()
                .find_map(|g| c.name(g))?,
        ))
    })
}

/// `<password>value</password>`: the text of an XML element whose name names a secret.
fn redact_elements(s: &str) -> (String, u64) {
    if !s.contains("</") {
        return (s.to_string(), 0);
    }
    redact_keyed(s, &rules().element, |c| {
        let key = c.name("key")?.as_str();
        key.eq_ignore_ascii_case(&c["close"])
            .then(|| Some((key, c.name("s")?)))
            .flatten()
    })
}

/// Each match of `re` that `pick` turns into (key, value): the value replaced when the key names
/// a secret and the value is one (its position leaves no doubt that it is a value).
fn redact_keyed<'s>(
    s: &'s str,
    re: &Regex,
    pick: impl Fn(&regex::Captures<'s>) -> Option<(&'s str, regex::Match<'s>)>,
) -> (String, u64) {
    if !re.is_match(s) {
        return (s.to_string(), 0);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut n = 0;
    for c in re.captures_iter(s) {
        let Some((key, v)) = pick(&c) else { continue };
        if let Some((class, kind)) = classify(key) {
            if secret_value(key, class, v.as_str(), false) {
                out.push_str(&s[last..v.start()]);
                out.push_str(&marker(kind));
                last = v.end();
                n += 1;
            }
        }
    }
    out.push_str(&s[last..]);
    (out, n)
}

/// Values named by their key: `KEY=value`, `key: value`, `"key": "value"`, `--key value`,
/// `("key", "value")`.
fn redact_named(s: &str) -> (String, u64) {
    let r = rules();
    let a = &rule_file().assign;
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut pos = 0;
    let mut n = 0;
    while let Some(c) = r.assign.captures_at(s, pos) {
        let m0 = c.get(0).unwrap();
        let key = c.name("key").unwrap();
        let op = c.name("op").unwrap();
        let quoted_key = !c["q"].is_empty() && c["q"] == c["q2"];
        let opt = op.as_str().trim();
        pos = op.end().max(m0.start() + 1);
        // A configuration's own `key value` lines (redis.conf's requirepass, masterauth).
        let space_key = a
            .space_keys
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key.as_str()))
            && s[..key.start()]
                .rsplit('\n')
                .next()
                .is_some_and(|b| b.trim().is_empty());
        let Some((class, kind)) =
            classify(key.as_str()).or(space_key.then_some((Class::Password, "password")))
        else {
            continue;
        };
        // `ENV DB_PASSWORD value` (a Dockerfile), `setenv DB_PASSWORD value` (csh).
        let set_command = s[..key.start()]
            .rsplit('\n')
            .next()
            .is_some_and(|b| a.space_commands.iter().any(|c| b.trim() == c.as_str()));
        let next = s[op.end()..].chars().next();
        // `key, value` only between quoted strings; `--key value` only for options; `key:` must
        // be followed by a blank, a quote or the end (io.jsonwebtoken:jjwt is not a key).
        let ok = match opt {
            "," => quoted_key && matches!(next, Some('"' | '\'')),
            // A method given the secret (setPassword("x"), .password("x")), not a prompt.
            "(" => matches!(next, Some('"' | '\'')) && !quoted_key,
            // A comparison with a literal (password == "x"), as in code that checks it.
            "==" | "!=" | "===" | "!==" => matches!(next, Some('"' | '\'' | '@')),
            "" => {
                space_key
                    || set_command
                    || key.as_str().starts_with('-')
                        && !rule_file()
                            .assign
                            .flag_options
                            .iter()
                            .any(|f| f.eq_ignore_ascii_case(key.as_str()))
                    // `private_key "value";` (a directive with a quoted value and a `;`).
                    || quoted_then_semicolon(s, op.end())
            }
            ":" => {
                quoted_key
                    || op.as_str().len() > 1
                    || next.is_none_or(|c| c == '"' || c == '\'' || c == '\n')
            }
            _ => true,
        };
        if !ok || next.is_none_or(|c| c == '\n') {
            continue;
        }
        // A key preceded by a quote that its value does not close sits inside a quoted string
        // (sh -c 'echo "password: X"'): the value ends at that quote.
        let before = s[..key.start()].chars().next_back();
        let stop = match (quoted_key, before) {
            (false, Some(q @ ('"' | '\''))) => Some(q),
            _ => c["q"].chars().last().filter(|_| !quoted_key),
        };
        // The quote that encloses the key closes right after it: the key is a prompt's text
        // (read -p 'Password: ' pw), with no value of its own.
        if stop.is_some() && next == stop {
            continue;
        }
        let yaml =
            opt == ":" || (opt.ends_with('=') && op.as_str().len() > opt.len() && !quoted_key);
        let (vs, ve, end) = value_span(s, op.end(), yaml && !key.as_str().starts_with('-'), stop);
        pos = end.max(pos);
        // A value that runs into a secret already hidden (a user's literal) ends before it.
        let ve = match s[vs..ve].find(MARKER_PREFIX) {
            Some(0) | None => ve,
            Some(i) => vs + s[vs..vs + i].trim_end().len(),
        };
        let value = &s[vs..ve];
        if opt == "(" && value.trim_end().ends_with([':', '?', '>']) {
            continue;
        }
        // A quoted value of a key that names an API, access or secret key is that key, whatever
        // its entropy ('value with quotes and spaces').
        let quoted = vs > op.end() && matches!(s.as_bytes()[vs - 1], b'"' | b'\'');
        let class = if quoted && class == Class::Token && !bare_key(key.as_str()) {
            Class::Password
        } else {
            class
        };
        if !is_secret_value(key.as_str(), class, value) {
            continue;
        }
        out.push_str(&s[last..vs]);
        out.push_str(&marker(kind));
        last = ve;
        n += 1;
    }
    out.push_str(&s[last..]);
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        Redactor::new().redact(s).0
    }

    #[test]
    fn a_path_to_a_key_is_not_a_secret_and_what_follows_is_still_redacted() {
        let r = |t: &str| Redactor::new().redact(t).0;
        assert_eq!(
            r("ansible-playbook cluster.yml -u ubuntu --private-key=~/.ssh/ictsc_rsa"),
            "ansible-playbook cluster.yml -u ubuntu --private-key=~/.ssh/ictsc_rsa"
        );
        assert_eq!(r("api_key=/etc/keys/a.key"), "api_key=/etc/keys/a.key");
        let out = r("PRIVATE_KEY=~/.ssh/id OS_PASSWORD=hunter2secret");
        assert!(out.starts_with("PRIVATE_KEY=~/.ssh/id "), "{out}");
        assert!(!out.contains("hunter2secret"), "{out}");
    }

    #[test]
    fn a_prompt_text_in_quotes_has_no_value() {
        let line = "read -s -p 'Password: ' pw; echo; echo got ${#pw}";
        assert_eq!(r(line), line);
        assert_eq!(r("read -p \"password: \" x"), "read -p \"password: \" x");
        assert_eq!(
            r("sh -c 'echo \"password: hunter2x\"'"),
            "sh -c 'echo \"password: [REDACTED:password]\"'"
        );
    }

    #[test]
    fn key_value_forms() {
        assert_eq!(r("password: hunter2"), "password: [REDACTED:password]");
        assert_eq!(
            r("  db_password = hunter2"),
            "  db_password = [REDACTED:password]"
        );
        assert_eq!(
            r("export OS_PASSWORD=hunter2"),
            "export OS_PASSWORD=[REDACTED:password]"
        );
        assert_eq!(
            r("OS_PASSWORD=hunter2 openstack server list"),
            "OS_PASSWORD=[REDACTED:password] openstack server list"
        );
        assert_eq!(r("password: two words"), "password: [REDACTED:password]");
        assert_eq!(
            r(r#"{"token": "abc\"def", "x": 1}"#),
            r#"{"token": "[REDACTED:token]", "x": 1}"#
        );
        assert_eq!(
            r("    client-key-data: LS0tLS1CRUdJTg=="),
            "    client-key-data: [REDACTED:client-key-data]"
        );
        assert_eq!(r("net.ipv4.ip_forward = 0"), "net.ipv4.ip_forward = 0");
    }

    #[test]
    fn options_and_headers() {
        assert_eq!(
            r("mysql --password hunter2 -h db"),
            "mysql --password [REDACTED:password] -h db"
        );
        assert_eq!(
            r("openstack --os-password=hunter2 server list"),
            "openstack --os-password=[REDACTED:password] server list"
        );
        assert_eq!(
            r("Authorization: Bearer abcdefgh12345"),
            "Authorization: Bearer [REDACTED:authorization]"
        );
        let (argv, n) =
            Redactor::new().redact_argv(&["x".into(), "--password".into(), "hunter2".into()]);
        assert_eq!(argv, vec!["x", "--password", "[REDACTED:password]"]);
        assert_eq!(n, 1);
    }

    #[test]
    fn key_blocks_whole_and_cut() {
        let k = "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\nb";
        assert_eq!(r(k), "a\n[REDACTED:private-key]\nb");
        assert_eq!(
            r("x\n-----BEGIN RSA PRIVATE KEY-----\nAAAA"),
            "x\n[REDACTED:private-key]"
        );
        assert_eq!(
            r("AAAA\nBBBB\n-----END RSA PRIVATE KEY-----\nafter"),
            "[REDACTED:private-key]\nafter"
        );
    }

    #[test]
    fn user_values_and_idempotence() {
        let mut red = Redactor::new();
        red.add_literal("s3cr3t-value");
        red.add_regex("tok-[0-9]+").unwrap();
        let (out, n) = red.redact("a s3cr3t-value b tok-123");
        assert_eq!(out, "a [REDACTED:user-secret] b [REDACTED:user-pattern]");
        assert_eq!(n, 2);
        let (again, n2) = red.redact("password: [REDACTED:password]");
        assert_eq!(again, "password: [REDACTED:password]");
        assert_eq!(n2, 0);
    }
}
