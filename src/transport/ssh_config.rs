//! The operator's OpenSSH client configuration, resolved for a host as `ssh -G` resolves it.
//!
//! Supported: `Host` patterns (`*`, `?`, `!negation`), `Include` (globs; relative paths from
//! ~/.ssh), `HostName` (with `%h`), `User`, `Port`, `IdentityFile` (accumulates), `ProxyJump`
//! (chains), `UserKnownHostsFile`, `StrictHostKeyChecking`, `ConnectTimeout`, `IdentitiesOnly`.
//! As in OpenSSH the first value obtained for an option wins. Other options are ignored;
//! `Match` is refused with the file and line, since guessing its result could reach the wrong host.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Line {
    key: String,
    args: Vec<String>,
}

#[derive(Debug, Clone)]
enum Item {
    Host(Vec<String>),
    Opt(Line),
    /// An included file. Read only where the Include line applies; its own Host lines then
    /// decide as usual, and the including file's context comes back after it.
    Include(Vec<Item>),
}

/// A parsed configuration file, with its includes expanded in place.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    items: Vec<Item>,
    /// The file read (none when it did not exist), for messages.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// Refuse unknown hosts (also what OpenSSH's `ask` comes to when nobody can be asked).
    Yes,
    /// Accept and record unknown hosts; refuse changed keys.
    AcceptNew,
    /// Accept unknown hosts; still refuse changed keys (postmortem never bypasses a mismatch).
    No,
}

/// One host reached directly: `[user@]host[:port]`, resolved through the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Everything needed to connect to one host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The name the user gave.
    pub alias: String,
    pub hostname: String,
    pub user: String,
    pub port: u16,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    pub proxy_jump: Vec<JumpSpec>,
    pub known_hosts_files: Vec<PathBuf>,
    pub strict: StrictHostKeyChecking,
    pub connect_timeout: Option<Duration>,
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

pub fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}

/// OpenSSH's wildcard match: `*` any run, `?` any one character.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A Host line's patterns against a host: some positive pattern matches and no negated one does.
fn host_matches(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg, host) {
                return false;
            }
        } else if wildcard(p, host) {
            matched = true;
        }
    }
    matched
}

/// Split a configuration line into words: whitespace or one `=` separates key from arguments,
/// double quotes group.
fn words(line: &str) -> std::result::Result<Vec<String>, String> {
    let line = line.trim();
    let (key, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => (line, ""),
    };
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let mut out = vec![key.to_string()];
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut has = false;
    for c in rest.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                has = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    if has {
        out.push(cur);
    }
    Ok(out)
}

/// `~` and `~/...` to the home directory.
pub fn tilde(path: &str) -> PathBuf {
    if path == "~" {
        home()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home().join(rest)
    } else {
        PathBuf::from(path)
    }
}

fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let s = pattern.to_string_lossy();
    if !s.contains(['*', '?']) {
        return vec![pattern.to_path_buf()];
    }
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return vec![];
    };
    let name = name.to_string_lossy();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

impl SshConfig {
    /// Load a configuration file. A missing file is an empty configuration only when `optional`.
    pub fn load(path: &Path, optional: bool) -> Result<SshConfig> {
        let mut cfg = SshConfig::default();
        if optional && !path.exists() {
            return Ok(cfg);
        }
        cfg.items = read_items(path, 0)?;
        cfg.path = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// The user's default: ~/.ssh/config, when there is one.
    pub fn load_default() -> Result<SshConfig> {
        Self::load(&home().join(".ssh/config"), true)
    }

    /// Resolve the options that apply to `alias`, with OpenSSH's defaults for the rest.
    pub fn resolve(&self, alias: &str) -> Result<HostConfig> {
        let alias_lc = alias.to_ascii_lowercase();
        let mut found = Found::default();
        found.walk(&self.items, &alias_lc);
        let Found {
            first,
            identity_files,
            known,
        } = found;
        let get = |k: &str| first.get(k).and_then(|v| v.first()).cloned();
        let hostname = get("hostname")
            .map(|h| h.replace("%h", alias))
            .unwrap_or_else(|| alias.to_string());
        let user = get("user").unwrap_or_else(local_user);
        let port = match get("port") {
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("host {alias}: Port {p:?} is not a port number"))?,
            None => 22,
        };
        let expand = |s: &str| -> PathBuf {
            let s = s
                .replace("%d", &home().to_string_lossy())
                .replace("%u", &local_user())
                .replace("%h", &hostname)
                .replace("%r", &user)
                .replace("%p", &port.to_string())
                .replace("%%", "%");
            tilde(&s)
        };
        let identity_files = if identity_files.is_empty() {
            [
                "id_rsa",
                "id_ecdsa",
                "id_ecdsa_sk",
                "id_ed25519",
                "id_ed25519_sk",
            ]
            .iter()
            .map(|n| home().join(".ssh").join(n))
            .collect()
        } else {
            identity_files.iter().map(|f| expand(f)).collect()
        };
        let known_hosts_files = match known {
            Some(files) if files.iter().any(|f| f.eq_ignore_ascii_case("none")) => vec![],
            Some(files) => files.iter().map(|f| expand(f)).collect(),
            None => vec![
                home().join(".ssh/known_hosts"),
                home().join(".ssh/known_hosts2"),
            ],
        };
        let strict = match get("stricthostkeychecking")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("yes") | Some("ask") => StrictHostKeyChecking::Yes,
            Some("accept-new") => StrictHostKeyChecking::AcceptNew,
            Some("no") | Some("off") => StrictHostKeyChecking::No,
            Some(other) => bail!(
                "host {alias}: StrictHostKeyChecking {other:?} is not yes, no, ask or accept-new"
            ),
        };
        let connect_timeout = match get("connecttimeout") {
            Some(s) if s != "none" => Some(Duration::from_secs(s.parse().with_context(|| {
                format!("host {alias}: ConnectTimeout {s:?} is not a number of seconds")
            })?)),
            _ => None,
        };
        let proxy_jump = match first.get("proxyjump") {
            Some(v) if v[0].eq_ignore_ascii_case("none") => vec![],
            Some(v) => v
                .join(",")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(parse_jump)
                .collect::<Result<_>>()
                .with_context(|| format!("host {alias}: ProxyJump"))?,
            None => vec![],
        };
        Ok(HostConfig {
            alias: alias.to_string(),
            hostname,
            user,
            port,
            identity_files,
            identities_only: get("identitiesonly").is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            proxy_jump,
            known_hosts_files,
            strict,
            connect_timeout,
        })
    }
}

/// Options gathered for one host, first value winning (IdentityFile accumulating).
#[derive(Default)]
struct Found {
    first: std::collections::HashMap<String, Vec<String>>,
    identity_files: Vec<String>,
    known: Option<Vec<String>>,
}

impl Found {
    fn walk(&mut self, items: &[Item], host: &str) {
        let mut active = true;
        for item in items {
            match item {
                Item::Host(p) => active = host_matches(p, host),
                Item::Include(inner) if active => self.walk(inner, host),
                Item::Include(_) => {}
                Item::Opt(l) if active => match l.key.as_str() {
                    "identityfile" => self.identity_files.extend(l.args.iter().cloned()),
                    "userknownhostsfile" => {
                        self.known.get_or_insert_with(|| l.args.clone());
                    }
                    _ => {
                        self.first
                            .entry(l.key.clone())
                            .or_insert_with(|| l.args.clone());
                    }
                },
                Item::Opt(_) => {}
            }
        }
    }
}

fn read_items(path: &Path, depth: usize) -> Result<Vec<Item>> {
    if depth > 16 {
        bail!("{}: Include nested too deeply (a loop?)", path.display());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("ssh config {}: cannot read", path.display()))?;
    let mut items = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = || format!("ssh config {}:{}", path.display(), i + 1);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let w = words(trimmed).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let key = w[0].to_ascii_lowercase();
        let args = w[1..].to_vec();
        match key.as_str() {
            "host" => {
                if args.is_empty() {
                    bail!("{}: Host needs at least one pattern", at());
                }
                items.push(Item::Host(args.iter().map(|a| a.to_ascii_lowercase()).collect()));
            }
            "match" => bail!(
                "{}: Match blocks are not supported by postmortem; use Host blocks (or pass --ssh-config with a file without Match)",
                at()
            ),
            "include" => {
                let mut inner = Vec::new();
                for arg in &args {
                    let p = tilde(arg);
                    let p = if p.is_absolute() { p } else { home().join(".ssh").join(p) };
                    for f in expand_glob(&p) {
                        if f.is_file() {
                            inner.extend(read_items(&f, depth + 1).with_context(at)?);
                            // Each file starts with every host matching.
                            inner.push(Item::Host(vec!["*".into()]));
                        }
                    }
                }
                items.push(Item::Include(inner));
            }
            _ => {
                if args.is_empty() {
                    bail!("{}: {} needs a value", at(), w[0]);
                }
                items.push(Item::Opt(Line { key, args }));
            }
        }
    }
    Ok(items)
}

/// `[user@]host[:port]` or `ssh://[user@]host[:port]`.
pub fn parse_jump(s: &str) -> Result<JumpSpec> {
    let s = s.trim();
    let s = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, rest) = match s.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, s),
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .with_context(|| format!("{s:?}: unclosed ["))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .with_context(|| format!("{s:?}: bad port {p:?}"))
        })
        .transpose()?;
    if host.is_empty() {
        bail!("{s:?}: no host");
    }
    Ok(JumpSpec { user, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("node*", "node1"));
        assert!(wildcard("n?de1", "node1"));
        assert!(!wildcard("node?", "node12"));
        assert!(wildcard("*", ""));
        assert!(host_matches(&["node*".into(), "!node3".into()], "node1"));
        assert!(!host_matches(&["node*".into(), "!node3".into()], "node3"));
    }

    #[test]
    fn words_and_jumps() {
        assert_eq!(
            words("HostName=10.0.0.1").unwrap(),
            vec!["HostName", "10.0.0.1"]
        );
        assert_eq!(
            words("IdentityFile \"/a b/c\"").unwrap(),
            vec!["IdentityFile", "/a b/c"]
        );
        assert_eq!(
            parse_jump("u@h:2222").unwrap(),
            JumpSpec {
                user: Some("u".into()),
                host: "h".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            parse_jump("ssh://h").unwrap(),
            JumpSpec {
                user: None,
                host: "h".into(),
                port: None
            }
        );
    }
}
