//! Signatures over the journal's head, in OpenSSH's SSHSIG format (what `ssh-keygen -Y sign`
//! writes and `ssh-keygen -Y verify` checks), with the namespace `postmortem-journal`.
//!
//! The signed message is one line that names the head record and its hash
//! ([`head_message`]); since every record's hash covers the one before it, a signature over
//! the head covers every record up to it. A signature is kept twice: as a `signature` record in
//! the journal (so it travels with it) and as a detached pair `<journal>.head` (the message) and
//! `<journal>.head.sig` (the armored signature), which `ssh-keygen -Y verify` checks with no
//! help from this tool.
//!
//! What it proves: that the holder of the key saw this chain up to that head. What it cannot:
//! that nothing was appended after the last signed head (later records are unsigned until the
//! next signature), or who holds a key; that is the allowed-signers file's job, which names a
//! principal for each key the verifier trusts (`ssh-keygen`'s format; `allowed_signers` below
//! reads it because ssh-key has no reader for it).

use super::{Entry, SignatureRecord};
use anyhow::{anyhow, bail, Context, Result};
use russh::keys::ssh_key::{self, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::path::{Path, PathBuf};

/// The SSHSIG namespace of journal signatures (`ssh-keygen -n`).
pub const NAMESPACE: &str = "postmortem-journal";

/// The message a signature over head record `seq` signs.
pub fn head_message(seq: u64, hash: &str) -> String {
    format!("postmortem-journal head {seq} {hash}\n")
}

/// Where the detached message and signature of a journal go.
pub fn detached_paths(journal: &Path) -> (PathBuf, PathBuf) {
    let mut m = journal.as_os_str().to_owned();
    m.push(".head");
    let mut s = m.clone();
    s.push(".sig");
    (PathBuf::from(m), PathBuf::from(s))
}

/// A signer: a private key file, or an identity of the running ssh-agent.
pub enum Signer {
    File(Box<PrivateKey>),
    Agent(PublicKey),
}

impl Signer {
    pub fn public(&self) -> PublicKey {
        match self {
            Signer::File(k) => k.public_key().clone(),
            Signer::Agent(k) => k.clone(),
        }
    }
}

/// The operator's key: `--key FILE` (a private key, or a public key that the agent holds), else
/// the agent's first identity, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa (unencrypted). None
/// when there is no key at all; an error when the named one cannot be used.
pub async fn find_signer(key: Option<&Path>) -> Result<Option<Signer>> {
    if let Some(p) = key {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("key {}: cannot read", p.display()))?;
        if text.contains("PRIVATE KEY") {
            return load_private(p, &text).map(|k| Some(Signer::File(Box::new(k))));
        }
        let public = PublicKey::from_openssh(text.trim()).with_context(|| {
            format!(
                "key {}: neither a private nor a public OpenSSH key",
                p.display()
            )
        })?;
        let ids = agent_identities().await?;
        if !ids.iter().any(|k| k.key_data() == public.key_data()) {
            bail!(
                "key {}: the ssh-agent does not hold this key (ssh-add it, or give the private key)",
                p.display()
            );
        }
        return Ok(Some(Signer::Agent(public)));
    }
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        if let Ok(ids) = agent_identities().await {
            if let Some(k) = ids.into_iter().next() {
                return Ok(Some(Signer::Agent(k)));
            }
        }
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Ok(None);
    };
    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let p = Path::new(&home).join(".ssh").join(name);
        if let Ok(text) = std::fs::read_to_string(&p) {
            match load_private(&p, &text) {
                Ok(k) => return Ok(Some(Signer::File(Box::new(k)))),
                Err(_) => continue,
            }
        }
    }
    Ok(None)
}

fn load_private(p: &Path, text: &str) -> Result<PrivateKey> {
    let k = PrivateKey::from_openssh(text)
        .with_context(|| format!("key {}: not an OpenSSH private key", p.display()))?;
    if k.is_encrypted() {
        bail!(
            "key {}: it is encrypted; add it to ssh-agent (ssh-add {}) and sign through the agent",
            p.display(),
            p.display()
        );
    }
    Ok(k)
}

async fn agent_identities() -> Result<Vec<PublicKey>> {
    let mut agent = russh::keys::agent::client::AgentClient::connect_env()
        .await
        .map_err(|e| anyhow!("ssh-agent: cannot connect ({e})"))?;
    let ids = agent
        .request_identities()
        .await
        .map_err(|e| anyhow!("ssh-agent: cannot list keys ({e})"))?;
    Ok(ids
        .into_iter()
        .filter_map(|i| match i {
            russh::keys::agent::AgentIdentity::PublicKey { mut key, comment } => {
                key.set_comment(comment);
                Some(key)
            }
            _ => None,
        })
        .collect())
}

/// Sign `msg` in the SSHSIG format (SHA-512, as ssh-keygen does).
pub async fn sign(signer: &Signer, msg: &[u8]) -> Result<SshSig> {
    match signer {
        Signer::File(k) => k
            .sign(NAMESPACE, HashAlg::Sha512, msg)
            .map_err(|e| anyhow!("cannot sign: {e}")),
        Signer::Agent(k) => {
            let data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, msg)
                .map_err(|e| anyhow!("cannot sign: {e}"))?;
            let mut agent = russh::keys::agent::client::AgentClient::connect_env()
                .await
                .map_err(|e| anyhow!("ssh-agent: cannot connect ({e})"))?;
            let rsa = matches!(k.algorithm(), ssh_key::Algorithm::Rsa { .. });
            let sig = agent
                .sign_request_signature(k, rsa.then_some(HashAlg::Sha512), &data)
                .await
                .map_err(|e| anyhow!("ssh-agent: the agent did not sign ({e})"))?;
            SshSig::new(k.key_data().clone(), NAMESPACE, HashAlg::Sha512, sig)
                .map_err(|e| anyhow!("cannot sign: {e}"))
        }
    }
}

/// The record of a signature over `head`.
pub fn record(
    head: &Entry,
    sig: &SshSig,
    public: &PublicKey,
    how: &str,
) -> Result<SignatureRecord> {
    let mut public = public.clone();
    let comment = public.comment().to_string();
    public.set_comment("");
    Ok(SignatureRecord {
        head_seq: head.seq,
        head_hash: head.hash.clone(),
        namespace: NAMESPACE.into(),
        public_key: public.to_openssh().map_err(|e| anyhow!("{e}"))?,
        fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
        comment,
        signature: sig.to_pem(LineEnding::LF).map_err(|e| anyhow!("{e}"))?,
        how: how.into(),
    })
}

/// Check a signature record against the chain it names: the head it names is a record of this
/// journal with that hash, and the signature is valid for the head's message and the key the
/// record names. Returns the key.
pub fn check(rec: &SignatureRecord, entries: &[Entry]) -> std::result::Result<PublicKey, String> {
    let head = entries
        .get((rec.head_seq as usize).wrapping_sub(1))
        .ok_or_else(|| format!("signs head #{} which is not in the journal", rec.head_seq))?;
    if head.hash != rec.head_hash {
        return Err(format!(
            "signs head #{} with hash {} but that record hashes to {}",
            rec.head_seq, rec.head_hash, head.hash
        ));
    }
    let sig =
        SshSig::from_pem(&rec.signature).map_err(|e| format!("signature is not SSHSIG ({e})"))?;
    let public =
        PublicKey::from_openssh(&rec.public_key).map_err(|e| format!("public key: {e}"))?;
    if sig.public_key() != public.key_data() {
        return Err("the signature was made with another key than the one the record names".into());
    }
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "namespace {:?}, not {NAMESPACE:?}",
            sig.namespace()
        ));
    }
    public
        .verify(
            NAMESPACE,
            head_message(head.seq, &head.hash).as_bytes(),
            &sig,
        )
        .map_err(|e| format!("signature does not verify ({e})"))?;
    Ok(public)
}

/// An armored SSHSIG (made by ssh-keygen -Y sign over a head message) matched to the head it
/// signs. Returns that head and the signature.
pub fn import<'a>(armored: &str, entries: &'a [Entry]) -> Result<(&'a Entry, SshSig, PublicKey)> {
    let sig = SshSig::from_pem(armored).map_err(|e| anyhow!("not an SSH signature ({e})"))?;
    if sig.namespace() != NAMESPACE {
        bail!(
            "the signature's namespace is {:?}; sign with ssh-keygen -Y sign -n {NAMESPACE}",
            sig.namespace()
        );
    }
    let public = PublicKey::from(sig.public_key().clone());
    for e in entries.iter().rev() {
        if public
            .verify(NAMESPACE, head_message(e.seq, &e.hash).as_bytes(), &sig)
            .is_ok()
        {
            return Ok((e, sig, public));
        }
    }
    bail!("the signature signs no head of this journal (sign the output of `postmortem journal head`)")
}

/// One line of an allowed-signers file.
#[derive(Debug)]
pub struct Allowed {
    pub principals: Vec<String>,
    pub namespaces: Option<Vec<String>>,
    pub key: PublicKey,
}

/// Read an allowed-signers file (ssh-keygen(1), ALLOWED SIGNERS): `principals [options] key`.
/// Certificate authorities are refused with the line named, since certificates are not
/// checked here.
pub fn allowed_signers(path: &Path) -> Result<Vec<Allowed>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("allowed signers {}: cannot read", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("allowed signers {}:{}", path.display(), i + 1);
        let (principals, rest) = split_field(line);
        let mut rest = rest.trim_start();
        let mut namespaces = None;
        // Options come before the key type; a key type starts with ssh-, ecdsa- or sk-.
        if !is_key_type(rest) {
            let (opts, r) = split_field(rest);
            for o in split_options(&opts) {
                let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
                match k.to_ascii_lowercase().as_str() {
                    "namespaces" => {
                        namespaces =
                            Some(v.trim_matches('"').split(',').map(str::to_string).collect())
                    }
                    "cert-authority" => bail!(
                        "{}: cert-authority keys are not supported; list the signer's own key",
                        at()
                    ),
                    "valid-after" | "valid-before" => {}
                    other => bail!("{}: unknown option {other:?}", at()),
                }
            }
            rest = r.trim_start();
        }
        let key = PublicKey::from_openssh(rest)
            .map_err(|e| anyhow!("{}: not a public key ({e})", at()))?;
        out.push(Allowed {
            principals: principals
                .trim_matches('"')
                .split(',')
                .map(str::to_string)
                .collect(),
            namespaces,
            key,
        });
    }
    Ok(out)
}

fn is_key_type(s: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-"].iter().any(|p| s.starts_with(p))
}

/// The first white-space separated field (a double-quoted field may hold spaces), and the rest.
fn split_field(s: &str) -> (String, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (s[..i].to_string(), &s[i..]),
            _ => {}
        }
    }
    (s.to_string(), "")
}

fn split_options(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.last_mut().unwrap().push(c);
            }
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// The principals the allowed-signers list gives for this key and namespace (empty: not allowed).
pub fn principals(allowed: &[Allowed], key: &PublicKey) -> Vec<String> {
    allowed
        .iter()
        .filter(|a| a.key.key_data() == key.key_data())
        .filter(|a| {
            a.namespaces
                .as_ref()
                .is_none_or(|ns| ns.iter().any(|n| glob(n, NAMESPACE)))
        })
        .flat_map(|a| a.principals.clone())
        .collect()
}

/// ssh's pattern matching: `*` and `?`.
fn glob(p: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(p.as_bytes(), s.as_bytes())
}

/// Sign the current head: append the signature record and write the detached pair.
pub async fn sign_head(journal: &super::Journal, signer: &Signer) -> Result<SignatureRecord> {
    let entries = journal.read_all()?;
    let head = entries.last().ok_or_else(|| {
        anyhow!(
            "journal {}: empty, nothing to sign",
            journal.path().display()
        )
    })?;
    let msg = head_message(head.seq, &head.hash);
    let sig = sign(signer, msg.as_bytes()).await?;
    let how = match signer {
        Signer::File(_) => "key file",
        Signer::Agent(_) => "ssh-agent",
    };
    let rec = record(head, &sig, &signer.public(), how)?;
    keep(journal, head, rec)
}

/// Record a signature made with ssh-keygen over one of the journal's heads.
pub fn import_file(journal: &super::Journal, sig: &Path) -> Result<SignatureRecord> {
    let armored = std::fs::read_to_string(sig)
        .with_context(|| format!("signature {}: cannot read", sig.display()))?;
    let entries = journal.read_all()?;
    let (head, s, public) =
        import(&armored, &entries).with_context(|| format!("signature {}", sig.display()))?;
    let rec = record(head, &s, &public, "imported (ssh-keygen -Y sign)")?;
    let head = head.clone();
    keep(journal, &head, rec)
}

fn keep(journal: &super::Journal, head: &Entry, rec: SignatureRecord) -> Result<SignatureRecord> {
    journal.append(&super::now(), &super::Body::Signature(rec.clone()))?;
    let (m, s) = detached_paths(journal.path());
    std::fs::write(&m, head_message(head.seq, &head.hash))
        .with_context(|| format!("{}: cannot write", m.display()))?;
    std::fs::write(&s, &rec.signature).with_context(|| format!("{}: cannot write", s.display()))?;
    Ok(rec)
}
