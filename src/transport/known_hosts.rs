//! known_hosts, read as OpenSSH reads it: plain, hashed (`|1|salt|hash`), wildcard and negated
//! host patterns, `[host]:port` for other ports, `@revoked` keys, comments. `@cert-authority`
//! lines are skipped (host certificates are not accepted).

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ssh_config::wildcard;

/// The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise.
pub fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    data_encoding::BASE64.decode(s.as_bytes()).ok()
}

fn entry_matches(pattern: &str, name: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("|1|") {
        let mut parts = rest.split('|');
        let (Some(salt), Some(hash)) = (
            parts.next().and_then(b64_decode),
            parts.next().and_then(b64_decode),
        ) else {
            return false;
        };
        let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
            return false;
        };
        return mac
            .chain_update(name.as_bytes())
            .verify_slice(&hash)
            .is_ok();
    }
    // Patterns match the whole `[host]:port` form, or the bare host on port 22.
    let mut matched = false;
    for p in pattern.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(&neg.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                return false;
            }
        } else if wildcard(&p.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
            matched = true;
        }
    }
    matched
}

/// A key known for a host.
#[derive(Debug, Clone)]
pub struct Known {
    pub file: PathBuf,
    pub line: usize,
    pub key: PublicKey,
    pub revoked: bool,
}

/// Every key the files hold for `host:port`.
pub fn lookup(files: &[PathBuf], host: &str, port: u16) -> Vec<Known> {
    let name = host_port(host, port);
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or("");
            let mut revoked = false;
            if first.starts_with('@') {
                match first {
                    "@revoked" => revoked = true,
                    _ => continue,
                }
                first = fields.next().unwrap_or("");
            }
            let (Some(_algo), Some(b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !entry_matches(first, &name) {
                continue;
            }
            if let Ok(key) = russh::keys::parse_public_key_base64(b64) {
                out.push(Known {
                    file: file.clone(),
                    line: i + 1,
                    key,
                    revoked,
                });
            }
        }
    }
    out
}

/// The verdict on a server's key.
#[derive(Debug, Clone)]
pub enum Verdict {
    Match,
    /// Not known; no key of that type is recorded either.
    Unknown,
    /// A different key of the same type is recorded: possibly someone in the middle.
    Mismatch {
        file: PathBuf,
        line: usize,
    },
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let known = lookup(files, host, port);
    if let Some(k) = known
        .iter()
        .find(|k| k.revoked && k.key.key_data() == key.key_data())
    {
        return Verdict::Revoked {
            file: k.file.clone(),
            line: k.line,
        };
    }
    if known
        .iter()
        .any(|k| !k.revoked && k.key.key_data() == key.key_data())
    {
        return Verdict::Match;
    }
    if let Some(k) = known
        .iter()
        .find(|k| !k.revoked && k.key.algorithm() == key.algorithm())
    {
        return Verdict::Mismatch {
            file: k.file.clone(),
            line: k.line,
        };
    }
    Verdict::Unknown
}

/// Record a newly accepted key.
pub fn learn(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let line = format!(
        "{} {}\n",
        host_port(host, port),
        key.to_openssh()
            .map_err(|e| std::io::Error::other(e.to_string()))?
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// Host-key algorithms in the order to offer them: the types known_hosts holds for this host
/// first (as OpenSSH orders them), then the rest. SHA-1 `ssh-rsa` is never offered.
pub fn preferred_algorithms(files: &[PathBuf], host: &str, port: u16) -> Vec<Algorithm> {
    let defaults = vec![
        Algorithm::Ed25519,
        Algorithm::Ecdsa {
            curve: russh::keys::EcdsaCurve::NistP256,
        },
        Algorithm::Ecdsa {
            curve: russh::keys::EcdsaCurve::NistP384,
        },
        Algorithm::Ecdsa {
            curve: russh::keys::EcdsaCurve::NistP521,
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha256),
        },
    ];
    let mut first: Vec<Algorithm> = Vec::new();
    for k in lookup(files, host, port).into_iter().filter(|k| !k.revoked) {
        let algs = match k.key.algorithm() {
            Algorithm::Rsa { .. } => {
                vec![
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha256),
                    },
                ]
            }
            other => vec![other],
        };
        for a in algs {
            if !first.contains(&a) {
                first.push(a);
            }
        }
    }
    let rest: Vec<Algorithm> = defaults
        .into_iter()
        .filter(|a| !first.contains(a))
        .collect();
    first.extend(rest);
    first
}

/// `SHA256:...` as OpenSSH prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}
