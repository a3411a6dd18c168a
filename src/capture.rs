//! Bounded capture of a command's output: the first and last `cap / 2` bytes are kept, the
//! middle is counted and dropped, so memory stays bounded whatever the command prints.
//!
//! What it cannot keep: the middle of a large output. The record says how many bytes went by
//! unkept, so a reader knows that something is missing and how much.

use crate::journal::redact::Redactor;
use crate::journal::Stream;
use std::collections::VecDeque;

/// Default cap per stream: 4 MiB (2 MiB head, 2 MiB tail).
pub const DEFAULT_CAP: usize = 4 * 1024 * 1024;

#[derive(Debug)]
pub struct Capture {
    half: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        let half = (cap / 2).max(1);
        Capture {
            half,
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
        }
    }

    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < self.half {
            let take = (self.half - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        if data.len() >= self.half {
            self.tail.clear();
            self.tail.extend(&data[data.len() - self.half..]);
            return;
        }
        let overflow = (self.tail.len() + data.len()).saturating_sub(self.half);
        self.tail.drain(..overflow);
        self.tail.extend(data);
    }

    /// The head is full: whatever comes now goes to the tail or is left out.
    pub fn head_full(&self) -> bool {
        self.head.len() >= self.half
    }

    /// How many bytes the tail keeps.
    pub fn half(&self) -> usize {
        self.half
    }

    /// Count `n` bytes that went by without being pushed, once the head is full: they, and
    /// what the tail held until now, are left out between head and tail.
    pub fn skip(&mut self, n: u64) {
        self.total += n;
        self.tail.clear();
    }

    /// The first bytes kept (up to half the cap).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Turn what was kept into a journal stream: decoded (invalid UTF-8 counted and shown as
    /// U+FFFD), redacted (head and tail each on their own), with a marker where bytes were left out.
    pub fn into_stream(self, redactor: &Redactor) -> Stream {
        let omitted = self.total - self.head.len() as u64 - self.tail.len() as u64;
        let (head_text, bad_head) = decode(&self.head);
        let (mut text, mut redactions) = redactor.redact(&head_text);
        let mut invalid = bad_head;
        if omitted > 0 || !self.tail.is_empty() {
            let tail: Vec<u8> = self.tail.into_iter().collect();
            let (tail_text, bad_tail) = decode(&tail);
            invalid += bad_tail;
            let (tail_red, n) = redactor.redact(&tail_text);
            redactions += n;
            if omitted > 0 {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&omission_marker(omitted));
                text.push('\n');
            }
            text.push_str(&tail_red);
        }
        Stream {
            text,
            bytes: self.total,
            omitted,
            invalid_utf8: invalid,
            redactions,
        }
    }
}

/// The line that stands where output was left out.
pub fn omission_marker(omitted: u64) -> String {
    format!("[postmortem: {omitted} bytes omitted here (output cap)]")
}

/// Decode bytes as UTF-8; each invalid sequence becomes U+FFFD and is counted in bytes.
pub fn decode(bytes: &[u8]) -> (String, u64) {
    let mut s = String::with_capacity(bytes.len());
    let mut bad = 0u64;
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            bad += chunk.invalid().len() as u64;
            s.push('\u{FFFD}');
        }
    }
    (s, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_cap() {
        let mut c = Capture::new(100);
        c.push(b"hello ");
        c.push(b"world");
        let s = c.into_stream(&Redactor::new());
        assert_eq!(s.text, "hello world");
        assert_eq!((s.bytes, s.omitted), (11, 0));
    }

    #[test]
    fn keeps_head_and_tail_over_the_cap() {
        let mut c = Capture::new(10);
        for chunk in [&b"abc"[..], b"defgh", b"ijklmnop", b"qrstuvwxyz"] {
            c.push(chunk);
        }
        let s = c.into_stream(&Redactor::new());
        assert_eq!(s.bytes, 26);
        assert_eq!(s.omitted, 16);
        assert_eq!(s.text, format!("abcde\n{}\nvwxyz", omission_marker(16)));
    }

    #[test]
    fn invalid_utf8_is_counted_not_dropped() {
        let (s, bad) = decode(b"a\xff\xfeb\x00");
        assert_eq!(s, "a\u{FFFD}\u{FFFD}b\0");
        assert_eq!(bad, 2);
    }
}
