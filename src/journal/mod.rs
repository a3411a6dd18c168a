//! The journal: the single source of truth of a run.
//!
//! An append-only JSONL file. Each line is one record, written in canonical form (serde_json's
//! compact output with keys sorted) and fsync'd before `append` returns. Every record carries
//! `seq` (its 1-based line number), `prev` (the hash of the record before it, or 64 zeros) and
//! `hash` (the SHA-256 of the record's canonical form without its `hash` field). `verify` checks
//! all three on every line, so an edited byte, a deleted, inserted or moved line is caught at the
//! first line where the chain breaks.
//!
//! An interrupted write leaves an incomplete last line; appends refuse such a journal until
//! `journal repair` moves the torn bytes to a side file and records that it did (a `repair`
//! record with their SHA-256), so the chain goes on and `verify` lists every repair.
//!
//! What a hash chain cannot prove on its own: that nobody truncated the file or appended a
//! well-formed record computed with the same public algorithm. `journal sign` closes that gap up
//! to a head: an SSH signature over it (see [`sign`]), checked by `verify --allowed-signers`.
//! Records after the last signed head are only as good as the chain.

pub mod cmdline;
mod record;
pub mod redact;
pub mod sign;

pub use record::*;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the journal, as read back.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    pub at: String,
    pub body: Body,
}

/// A journal file. Cheap to construct; every operation opens the file itself.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// The hash a record must carry: SHA-256 over its canonical form without `hash`.
/// The map must not hold `hash` (the writer adds it after, the reader takes it out first).
fn record_hash(without_hash: &serde_json::Map<String, Value>) -> String {
    sha256_hex(
        serde_json::to_string(without_hash)
            .expect("a JSON map serialises")
            .as_bytes(),
    )
}

/// Why a journal failed verification: the first bad line and what is wrong with it.
#[derive(Debug)]
pub struct VerifyError {
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Parse and check one line against the chain so far.
fn check_line(line: &[u8], lineno: u64, prev: &str) -> std::result::Result<Entry, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not valid UTF-8".to_string())?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON record ({e})"))?;
    let Value::Object(mut obj) = value else {
        return Err("not a JSON object".into());
    };
    if serde_json::to_string(&obj).map_err(|e| e.to_string())? != text {
        return Err("not in canonical form (the line was edited)".into());
    }
    let hash = match obj.remove("hash") {
        Some(Value::String(h)) => h,
        _ => return Err("no \"hash\" field".into()),
    };
    let get = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let want = record_hash(&obj);
    if hash != want {
        return Err(format!("content does not match its hash (the record was edited): has {hash}, content gives {want}"));
    }
    let seq = obj
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("no \"seq\" field")?;
    if seq != lineno {
        return Err(format!(
            "sequence number {seq} where {lineno} was expected (a line was deleted, inserted or moved)"
        ));
    }
    let rprev = get("prev").ok_or("no \"prev\" field")?;
    if rprev != prev {
        return Err(format!(
            "\"prev\" is {rprev} but the record before it hashes to {prev} (a line was deleted, inserted or moved)"
        ));
    }
    let at = get("at").ok_or("no \"at\" field")?;
    let body: Body = serde_json::from_value(Value::Object(obj))
        .map_err(|e| format!("not a record postmortem knows ({e})"))?;
    Ok(Entry {
        seq,
        prev: rprev,
        hash,
        at,
        body,
    })
}

impl Journal {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Journal { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read and verify every record. Any defect is an error naming the file and line.
    pub fn read_all(&self) -> Result<Vec<Entry>> {
        let file = File::open(&self.path)
            .with_context(|| format!("journal {}: cannot open", self.path.display()))?;
        let mut out = Vec::new();
        let mut prev = GENESIS.to_string();
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut lineno = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("journal {}: cannot read", self.path.display()))?;
            if n == 0 {
                break;
            }
            lineno += 1;
            let complete = buf.last() == Some(&b'\n');
            if complete {
                buf.pop();
            } else {
                bail!(
                    "journal {}: line {lineno}: incomplete record (no newline at the end; an interrupted write?)",
                    self.path.display()
                );
            }
            let entry = check_line(&buf, lineno, &prev).map_err(|reason| {
                anyhow::anyhow!(
                    "journal {}: {}",
                    self.path.display(),
                    VerifyError {
                        line: lineno,
                        reason
                    }
                )
            })?;
            prev = entry.hash.clone();
            out.push(entry);
        }
        Ok(out)
    }

    /// Verify the chain; on success return (records, head hash).
    pub fn verify(&self) -> Result<(u64, String)> {
        let entries = self.read_all()?;
        let head = entries
            .last()
            .map(|e| e.hash.clone())
            .unwrap_or_else(|| GENESIS.into());
        Ok((entries.len() as u64, head))
    }

    /// `append` without the rescue: the journal stays as it was on failure, and that is all.
    fn append_in_place(&self, at: &str, body: &Body) -> Result<Entry> {
        let created = !self.path.exists() || std::fs::metadata(&self.path)?.len() == 0;
        let mut file = self.open_locked()?;
        let (mut seq, mut prev) = self.tail_state(&mut file)?;
        // A write that fails (full disk, I/O error) is cut off again, so the journal stays
        // byte-for-byte what it was and still verifies.
        let len = file.metadata()?.len();
        let cut_back = |file: &mut File, e: anyhow::Error| {
            let _ = file.set_len(len);
            let _ = file.sync_all();
            e.context(format!("journal {}: cannot write", self.path.display()))
        };
        if seq == 0 && !matches!(body, Body::Run(_)) {
            let run = Body::Run(RunMeta::here(None));
            let e = write_record(&mut file, seq + 1, &prev, at, &run)
                .map_err(|e| cut_back(&mut file, e))?;
            seq = e.seq;
            prev = e.hash;
        }
        let entry = write_record(&mut file, seq + 1, &prev, at, body)
            .map_err(|e| cut_back(&mut file, e))?;
        if created {
            if let Some(dir) = self.path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(entry)
    }

    /// Cut an incomplete last line (an interrupted write) off the journal: its bytes go to a side
    /// file beside the journal, and a `repair` record (the bytes' count and SHA-256) goes on with
    /// the chain. Anything else wrong is not a torn tail and is refused. None: nothing to repair.
    pub fn repair(&self) -> Result<Option<RepairRecord>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .with_context(|| format!("journal {}: cannot open", self.path.display()))?;
        self.lock(&file)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let keep = data
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        if keep == data.len() {
            self.read_all()?;
            return Ok(None);
        }
        // Everything before the tail must verify; a damaged record is not a torn tail.
        let whole = Journal::new(self.path.with_extension("repair-check"));
        std::fs::write(whole.path(), &data[..keep])?;
        let checked = whole.read_all();
        let _ = std::fs::remove_file(whole.path());
        checked.with_context(|| {
            format!(
                "journal {}: damaged before its last line; repair only moves an incomplete last line",
                self.path.display()
            )
        })?;
        let tail = &data[keep..];
        let sha = sha256_hex(tail);
        let side = self.path.with_file_name(format!(
            "{}.torn-{}.bin",
            self.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            &sha[..16]
        ));
        write_synced(&side, tail)
            .or_else(|e| if side.exists() { Ok(()) } else { Err(e) })
            .with_context(|| format!("cannot keep the cut bytes in {}", side.display()))?;
        file.set_len(keep as u64)?;
        file.sync_all()?;
        drop(file);
        let rec = RepairRecord {
            bytes: tail.len() as u64,
            sha256: sha,
            side_file: side
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        self.append(&now(), &Body::Repair(rec.clone()))?;
        Ok(Some(rec))
    }

    /// Open the journal for appending (its directory and the file created when missing) and
    /// take its lock.
    fn open_locked(&self) -> Result<File> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "journal {}: cannot create its directory",
                    self.path.display()
                )
            })?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .with_context(|| {
                format!("journal {}: cannot open for appending", self.path.display())
            })?;
        self.lock(&file)?;
        Ok(file)
    }

    /// Take the journal's lock, waiting at most `POSTMORTEM_LOCK_WAIT` seconds (default 10) for
    /// another writer; then a clear error, never a hang.
    fn lock(&self, file: &File) -> Result<()> {
        let wait = std::env::var("POSTMORTEM_LOCK_WAIT")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(10.0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(()),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                Err(std::fs::TryLockError::WouldBlock) => bail!(
                    "journal {}: another process holds its lock and kept it for {wait} s; nothing was written",
                    self.path.display()
                ),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("journal {}: cannot lock", self.path.display()))
                }
            }
        }
    }

    /// Check, before anything is run, that a record of up to `room` bytes can be appended: the
    /// directory and file can be created and opened for writing, the lock can be had, the last
    /// line is whole, and the file system has the room.
    pub fn ready(&self, room: u64) -> Result<()> {
        let mut file = self.open_locked()?;
        self.tail_state(&mut file)?;
        let free = free_bytes(&self.path)?;
        if free < room {
            bail!(
                "journal {}: its file system has {free} bytes free, and a record may take {room}; nothing was run",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Append one record: chain it, write it as one line, fsync. Creates the journal (with a
    /// `run` record first) when it does not exist yet. Returns the written entry. When the
    /// journal cannot take the record, it stays as it was and the record goes to a rescue file
    /// (next to the journal, else in the temporary directory): the error names where it went.
    pub fn append(&self, at: &str, body: &Body) -> Result<Entry> {
        match self.append_in_place(at, body) {
            Ok(e) => Ok(e),
            Err(e) => {
                let line = serde_json::json!({ "at": at, "record": body }).to_string() + "\n";
                let name = format!(
                    "{}.rescue-{}.json",
                    self.path
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                );
                let beside = self.path.with_file_name(&name);
                let tmp = std::env::temp_dir().join(&name);
                for place in [beside, tmp] {
                    if write_synced(&place, line.as_bytes()).is_ok() {
                        return Err(e.context(format!(
                            "the record was kept in {} (the journal itself is unchanged)",
                            place.display()
                        )));
                    }
                    let _ = std::fs::remove_file(&place);
                }
                Err(e.context(
                    "the record could not be kept anywhere (no rescue file could be written)",
                ))
            }
        }
    }

    /// The last record's seq and hash, read from the end of the file without reading it all.
    fn tail_state(&self, file: &mut File) -> Result<(u64, String)> {
        let len = file.seek(SeekFrom::End(0))?;
        if len == 0 {
            return Ok((0, GENESIS.to_string()));
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            bail!(
                "journal {}: the last line is incomplete (an interrupted write?); nothing was appended. \
                 Run `postmortem journal verify {}` to see where",
                self.path.display(),
                self.path.display()
            );
        }
        // Walk back in chunks to the newline before the last line.
        let end = len - 1;
        let mut start = end;
        let mut chunk = vec![0u8; 64 * 1024];
        'outer: while start > 0 {
            let n = chunk.len().min(start as usize);
            file.seek(SeekFrom::Start(start - n as u64))?;
            file.read_exact(&mut chunk[..n])?;
            for i in (0..n).rev() {
                if chunk[i] == b'\n' {
                    start = start - n as u64 + i as u64 + 1;
                    break 'outer;
                }
            }
            start -= n as u64;
        }
        let mut line = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut line)?;
        let value: Value = serde_json::from_slice(&line).with_context(|| {
            format!(
                "journal {}: the last line is not a JSON record; nothing was appended. Run `postmortem journal verify`",
                self.path.display()
            )
        })?;
        let seq = value.get("seq").and_then(Value::as_u64);
        let hash = value.get("hash").and_then(Value::as_str);
        match (seq, hash) {
            (Some(s), Some(h)) => Ok((s, h.to_string())),
            _ => bail!(
                "journal {}: the last line has no seq or hash; nothing was appended",
                self.path.display()
            ),
        }
    }
}

fn write_record(file: &mut File, seq: u64, prev: &str, at: &str, body: &Body) -> Result<Entry> {
    let Value::Object(mut obj) = serde_json::to_value(body)? else {
        bail!("a record must serialise to a JSON object");
    };
    for k in ["seq", "prev", "at", "hash"] {
        if obj.contains_key(k) {
            bail!("a record has a field named {k}, which the journal reserves");
        }
    }
    obj.insert("seq".into(), Value::from(seq));
    obj.insert("prev".into(), Value::from(prev));
    obj.insert("at".into(), Value::from(at));
    // Never write a line that could not be read back as the same record.
    let back: Body = serde_json::from_value(Value::Object(obj.clone()))
        .context("a record that would not read back")?;
    if back != *body {
        bail!("a record that would not read back as written");
    }
    let hash = record_hash(&obj);
    obj.insert("hash".into(), Value::from(hash.clone()));
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_data()?;
    Ok(Entry {
        seq,
        prev: prev.to_string(),
        hash,
        at: at.to_string(),
        body: body.clone(),
    })
}

fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Free bytes for an unprivileged writer on the file system that holds `path` (statvfs).
fn free_bytes(path: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).context("statvfs");
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Now, local time with its UTC offset, as the journal stores times.
pub fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}
