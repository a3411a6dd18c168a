//! Redaction: secrets are replaced by `[REDACTED:kind]` before anything is written.
//!
//! Built-in rules cover private key blocks, password/secret/token fields in YAML, JSON, INI and
//! `KEY=value` form (which includes `OS_PASSWORD` and kubeconfig `client-key-data` / `token`),
//! bearer and basic authorization values, and `--password VALUE` style arguments. Users add
//! literal values and regexes (`--secret`, `--secret-regex`, `--secrets-file`).
//!
//! The rules err on the side of hiding: a line `token: 5` loses its `5`. Evidence that is
//! hidden can be collected again; a secret that reached a report cannot be taken back.

use anyhow::{Context, Result};
use regex::{Captures, Regex};
use std::path::Path;
use std::sync::OnceLock;

/// The marker that replaces a secret of the given kind.
pub fn marker(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

const MARKER_PREFIX: &str = "[REDACTED:";

/// Words that make a key a secret's key.
const SECRET_WORDS: &str = r"password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]key[_-]data|credentials?";

struct Builtins {
    private_key: Regex,
    private_key_tail: Regex,
    json_field: Regex,
    option_arg: Regex,
    key_value: Regex,
    auth_header: Regex,
    secret_option: Regex,
}

fn builtins() -> &'static Builtins {
    static B: OnceLock<Builtins> = OnceLock::new();
    B.get_or_init(|| {
        let key = format!(r"[A-Za-z0-9_.-]*(?:{SECRET_WORDS})[A-Za-z0-9_.-]*");
        Builtins {
            // A whole block, or a block whose end was cut off (output cap, truncated file).
            private_key: Regex::new(
                r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
            )
            .unwrap(),
            // The end of a block whose beginning was cut off.
            private_key_tail: Regex::new(
                r"(?s)\A[A-Za-z0-9+/=\s:,-]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----",
            )
            .unwrap(),
            // "password": "value"  (JSON)
            json_field: Regex::new(&format!(
                r#"(?i)("{key}"\s*:\s*)("(?:[^"\\]|\\.)*"|[^\s,}}\]]+)"#
            ))
            .unwrap(),
            // --password VALUE, --os-password=VALUE, -token VALUE
            option_arg: Regex::new(&r#"(?i)((?:^|\s)--?(?:[A-Za-z0-9-]*)(?:password|passwd|passphrase|secret|token)(?:[A-Za-z0-9-]*))(=|\s+)("[^"]*"|'[^']*'|\S+)"#.to_string())
            .unwrap(),
            // password: value (YAML), password = value (INI), PASSWORD=value (env)
            key_value: Regex::new(&format!(
                r#"(?im)((?:^|[^A-Za-z0-9_.-])["']?{key}["']?)([ \t]*[:=][ \t]*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\n]+)?"#
            ))
            .unwrap(),
            // Authorization: Bearer xxx / Basic xxx
            auth_header: Regex::new(r"(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})").unwrap(),
            secret_option: Regex::new(&format!(r"(?i)^--?[A-Za-z0-9-]*(?:{SECRET_WORDS})[A-Za-z0-9-]*$"))
                .unwrap(),
        }
    })
}

/// A file path (absolute, home- or dot-relative) with no white space in it.
fn is_path(v: &str) -> bool {
    ["/", "~/", "./", "../", "$HOME/"]
        .iter()
        .any(|p| v.starts_with(p))
        && !v.contains(char::is_whitespace)
        && v.len() > 2
}

fn kind_of_key(key: &str) -> &'static str {
    let k = key.to_ascii_lowercase().replace('_', "-");
    if k.contains("client-key-data") {
        "client-key-data"
    } else if k.contains("pass") {
        "password"
    } else if k.contains("token") {
        "token"
    } else if k.contains("key") {
        "key"
    } else {
        "secret"
    }
}

/// Redacts text with the built-in rules and the user's literals and regexes.
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
        let b = builtins();
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
        let extra = std::cell::Cell::new(0u64);
        let mut count = |s: &str, re: &Regex, f: &dyn Fn(&Captures) -> String| -> String {
            let mut hits = 0;
            let out = re
                .replace_all(s, |c: &Captures| {
                    let r = f(c);
                    if r != c[0] {
                        hits += 1;
                    }
                    r
                })
                .into_owned();
            n += hits;
            out
        };
        s = count(&s, &b.private_key, &|_| marker("private-key"));
        s = count(&s, &b.private_key_tail, &|_| marker("private-key"));
        let keep_marker = |c: &Captures, value: &str, kind: &str| -> String {
            if value
                .trim_matches(|ch| ch == '"' || ch == '\'')
                .starts_with(MARKER_PREFIX)
            {
                c[0].to_string()
            } else {
                marker(kind)
            }
        };
        s = count(&s, &b.json_field, &|c| {
            let v = keep_marker(c, &c[2], kind_of_key(&c[1]));
            if v == c[0] {
                return v;
            }
            format!("{}\"{}\"", &c[1], v)
        });
        s = count(&s, &b.option_arg, &|c| {
            let v = keep_marker(c, &c[3], kind_of_key(&c[1]));
            if v == c[0] {
                return v;
            }
            format!("{}{}{}", &c[1], &c[2], v)
        });
        s = count(&s, &b.key_value, &|c| match c.get(3) {
            None => c[0].to_string(),
            Some(v) if v.as_str().trim().is_empty() => c[0].to_string(),
            Some(v) => {
                // KEY=value (shell): the value ends at whitespace; YAML and INI values run to the
                // end of the line.
                let (value, rest) = match (c[2].trim() == "=" && c[2].len() == 1, v.as_str()) {
                    (true, v) if !v.starts_with(['"', '\'']) => {
                        v.split_at(v.find(char::is_whitespace).unwrap_or(v.len()))
                    }
                    (_, v) => (v, ""),
                };
                // What follows the value on a shell line is text of its own (another KEY=value).
                let (rest, k) = if rest.is_empty() {
                    (String::new(), 0)
                } else {
                    self.redact(rest)
                };
                extra.set(extra.get() + k);
                // A path names where a secret is kept (--private-key=~/.ssh/id_rsa), not the secret.
                let m = if is_path(value) {
                    value.to_string()
                } else {
                    keep_marker(c, value, kind_of_key(&c[1]))
                };
                if m == c[0] {
                    return m;
                }
                format!("{}{}{}{}", &c[1], &c[2], m, rest)
            }
        });
        s = count(&s, &b.auth_header, &|c| {
            format!("{}{}{}", &c[1], &c[2], marker("bearer-token"))
        });
        (s, n + extra.get())
    }

    /// Redact an argument vector: the value after a bare `--password`-style option is a secret,
    /// and every argument is redacted as text too.
    pub fn redact_argv(&self, argv: &[String]) -> (Vec<String>, u64) {
        let mut out = Vec::with_capacity(argv.len());
        let mut n = 0;
        let mut secret_next = false;
        for arg in argv {
            if secret_next {
                out.push(marker(kind_of_key(
                    out.last().map(String::as_str).unwrap_or(""),
                )));
                n += 1;
                secret_next = false;
                continue;
            }
            if builtins().secret_option.is_match(arg) {
                secret_next = true;
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
            "Authorization: Bearer [REDACTED:bearer-token]"
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
