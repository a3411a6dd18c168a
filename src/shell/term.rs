//! A recorded shell's terminal output, read twice in one pass: for the session's own marks, and
//! for the text a screen shows.
//!
//! [`Marks`] finds the shell-integration marks this session's shell prints: OSC 133 (prompt,
//! input, output, done: the convention terminals and editors share) and OSC 633 (the command
//! line and the working directory, as VS Code spells them). Only marks that end in this
//! session's nonce (`;pm=NONCE`) count, and they are taken out of what the user sees; any other
//! escape sequence, including a forged mark printed by `cat` of a file, passes through as output.
//!
//! [`Screen`] turns output into lines the way a terminal shows them: CR returns to the start of
//! the line, BS steps back, erase-to-end-of-line cuts, escape sequences are dropped, and a
//! full-screen program (the alternate screen) is counted, not kept.
//!
//! What it cannot do: it is not a terminal emulator. Cursor movement other than CR, BS and
//! erase-line is ignored, so a program that redraws the normal screen in place may leave text
//! that differs from what was shown in the end.

use crate::capture::Capture;

/// One of the session's marks.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// 133;A: the prompt starts.
    Prompt,
    /// 133;B: the prompt ends; the user types the command line.
    Input,
    /// 133;C: the command line was accepted and runs; its output follows.
    Output,
    /// 133;D;STATUS: the command ended with this status.
    Done(i32),
    /// 633;E: the command line as the shell read it (empty when the shell could not tell).
    Line(String),
    /// 633;P;Cwd=: the shell's working directory.
    Cwd(String),
    /// 633;P;Shell=: which integration runs (bash, zsh), or `none`.
    Shell(String),
}

/// What `Marks::feed` hands on: output bytes, or a mark between them.
pub enum Piece<'a> {
    Text(&'a [u8]),
    Mark(Mark),
}

/// Longest escape sequence kept while looking for its end; longer ones are output.
const OSC_MAX: usize = 1 << 20;

/// Finds this session's marks in the output stream.
pub struct Marks {
    suffix: Vec<u8>,
    /// Inside an OSC: its bytes so far, from the ESC.
    osc: Option<Vec<u8>>,
    /// The last byte seen was an ESC (outside an OSC, or inside one).
    esc: bool,
}

impl Marks {
    pub fn new(nonce: &str) -> Self {
        Marks {
            suffix: format!(";pm={nonce}").into_bytes(),
            osc: None,
            esc: false,
        }
    }

    /// Read `data`; `out` receives the output and the marks, in order.
    pub fn feed(&mut self, data: &[u8], out: &mut impl FnMut(Piece)) {
        let mut i = 0;
        while i < data.len() {
            if let Some(buf) = self.osc.as_mut() {
                // Inside an OSC: up to BEL or ESC \.
                let mut end = None;
                for (k, &b) in data[i..].iter().enumerate() {
                    if self.esc {
                        self.esc = false;
                        if b == b'\\' {
                            end = Some(k);
                            break;
                        }
                    }
                    if b == 0x07 {
                        end = Some(k);
                        break;
                    }
                    if b == 0x1b {
                        self.esc = true;
                    }
                }
                let take = end.map(|k| k + 1).unwrap_or(data.len() - i);
                buf.extend_from_slice(&data[i..i + take]);
                i += take;
                if end.is_some() {
                    let buf = self.osc.take().expect("inside an OSC");
                    match self.ours(&buf) {
                        Some(m) => out(Piece::Mark(m)),
                        None => out(Piece::Text(&buf)),
                    }
                } else if buf.len() > OSC_MAX {
                    let buf = self.osc.take().expect("inside an OSC");
                    self.esc = false;
                    out(Piece::Text(&buf));
                }
                continue;
            }
            if self.esc {
                self.esc = false;
                if data[i] == b']' {
                    self.osc = Some(b"\x1b]".to_vec());
                    i += 1;
                    continue;
                }
                out(Piece::Text(b"\x1b"));
            }
            let rest = &data[i..];
            match memchr::memchr(0x1b, rest) {
                None => {
                    out(Piece::Text(rest));
                    i = data.len();
                }
                Some(p) => {
                    if p > 0 {
                        out(Piece::Text(&rest[..p]));
                    }
                    match rest.get(p + 1) {
                        Some(b']') => {
                            self.osc = Some(b"\x1b]".to_vec());
                            i += p + 2;
                        }
                        Some(_) => {
                            out(Piece::Text(&rest[p..p + 1]));
                            i += p + 1;
                        }
                        None => {
                            self.esc = true;
                            i = data.len();
                        }
                    }
                }
            }
        }
    }

    /// The mark in a whole OSC (`ESC ] ... BEL` or `ESC ] ... ESC \`), when it is this session's.
    fn ours(&self, osc: &[u8]) -> Option<Mark> {
        let body = osc.strip_prefix(b"\x1b]")?;
        let body = body
            .strip_suffix(b"\x07")
            .or_else(|| body.strip_suffix(b"\x1b\\"))?;
        let body = body.strip_suffix(self.suffix.as_slice())?;
        let body = std::str::from_utf8(body).ok()?;
        let (code, rest) = body.split_once(';')?;
        match (code, rest) {
            ("133", "A") => Some(Mark::Prompt),
            ("133", "B") => Some(Mark::Input),
            ("133", "C") => Some(Mark::Output),
            ("133", d) => d.strip_prefix("D;")?.parse().ok().map(Mark::Done),
            ("633", e) if e.starts_with("E;") => Some(Mark::Line(unescape(&e[2..]))),
            ("633", "E") => Some(Mark::Line(String::new())),
            ("633", p) => {
                let p = p.strip_prefix("P;")?;
                if let Some(cwd) = p.strip_prefix("Cwd=") {
                    Some(Mark::Cwd(unescape(cwd)))
                } else {
                    p.strip_prefix("Shell=").map(|s| Mark::Shell(unescape(s)))
                }
            }
            _ => None,
        }
    }
}

/// Undo the marks' escaping: `\\` is a backslash, `\xHH` a byte.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'x') {
                if let Some(v) = s
                    .get(i + 2..i + 4)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A line longer than this is cut there, as if it had wrapped.
const LINE_MAX: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum State {
    Ground,
    Esc,
    /// ESC followed by an intermediate byte ( `(`, `)`, `#` ...): one more byte ends it.
    EscMore,
    Csi,
    Osc,
    OscEsc,
}

/// The text a terminal shows, line by line, kept in a bounded [`Capture`].
pub struct Screen {
    kept: Capture,
    line: Vec<u8>,
    col: usize,
    state: State,
    params: Vec<u8>,
    alt: bool,
    /// Bytes written while a full-screen program had the alternate screen.
    pub full_screen_bytes: u64,
    /// Once the head of what is kept is full, output is only skimmed: its last raw bytes (as
    /// many as the tail keeps) wait here and are read as a screen at the end. `skipped`: the
    /// raw bytes that went by before them.
    raw: Option<std::collections::VecDeque<u8>>,
    skipped: u64,
    may_skim: bool,
    /// The last bytes skimmed, for a switch split between two reads.
    carry: Vec<u8>,
}

/// The alternate screen's switches: (sequence, on).
const ALT_SWITCHES: [(&[u8], bool); 6] = [
    (b"\x1b[?1049h", true),
    (b"\x1b[?1049l", false),
    (b"\x1b[?1047h", true),
    (b"\x1b[?1047l", false),
    (b"\x1b[?47h", true),
    (b"\x1b[?47l", false),
];

/// The alternate screen's switches in `data`, in order.
fn alt_switches(data: &[u8]) -> impl Iterator<Item = bool> + '_ {
    memchr::memchr_iter(0x1b, data).filter_map(move |at| {
        ALT_SWITCHES
            .iter()
            .find(|(seq, _)| data[at..].starts_with(seq))
            .map(|(_, on)| *on)
    })
}

impl Screen {
    pub fn new(cap: usize) -> Self {
        Screen {
            kept: Capture::new(cap),
            line: Vec::new(),
            col: 0,
            state: State::Ground,
            params: Vec::new(),
            alt: false,
            full_screen_bytes: 0,
            raw: None,
            skipped: 0,
            may_skim: true,
            carry: Vec::new(),
        }
    }

    /// Output while skimming: follow the alternate screen, keep the last raw bytes.
    fn skim(&mut self, data: &[u8]) {
        let mut any = self.alt;
        // A switch that began in the bytes before: look across the seam first.
        let mut seam = std::mem::take(&mut self.carry);
        let n = seam.len();
        seam.extend_from_slice(&data[..data.len().min(8)]);
        for at in memchr::memchr_iter(0x1b, &seam).filter(|&at| at < n) {
            if let Some((_, on)) = ALT_SWITCHES.iter().find(|(q, _)| seam[at..].starts_with(q)) {
                self.alt = *on;
                any |= *on;
            }
        }
        for on in alt_switches(data) {
            self.alt = on;
            any |= on;
        }
        self.carry = data[data.len().saturating_sub(7)..].to_vec();
        if any {
            self.full_screen_bytes += data.len() as u64;
        }
        let half = self.kept.half();
        let raw = self.raw.get_or_insert_with(Default::default);
        if data.len() >= half {
            self.skipped += (raw.len() + data.len() - half) as u64;
            raw.clear();
            raw.extend(&data[data.len() - half..]);
        } else {
            let over = (raw.len() + data.len()).saturating_sub(half);
            raw.drain(..over);
            self.skipped += over as u64;
            raw.extend(data);
        }
    }

    fn put(&mut self, b: u8) {
        if self.col < self.line.len() {
            self.line[self.col] = b;
        } else {
            self.line.push(b);
        }
        self.col += 1;
        if self.line.len() >= LINE_MAX {
            self.commit();
        }
    }

    /// Trailing blanks do not show on a screen.
    fn trim(&mut self) {
        while matches!(self.line.last(), Some(b' ' | b'\t')) {
            self.line.pop();
        }
    }

    fn commit(&mut self) {
        self.trim();
        self.line.push(b'\n');
        self.kept.push(&self.line);
        self.line.clear();
        self.col = 0;
    }

    fn csi(&mut self, fin: u8) {
        match (fin, self.params.as_slice()) {
            (b'K', b"" | b"0") => self.line.truncate(self.col),
            (b'K', b"2") => {
                self.line.clear();
                self.col = 0
            }
            (b'h', b"?1049" | b"?1047" | b"?47") => self.alt = true,
            (b'l', b"?1049" | b"?1047" | b"?47") => self.alt = false,
            _ => {}
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.may_skim
                && (self.raw.is_some()
                    || (self.kept.head_full()
                        && self.line.is_empty()
                        && self.state == State::Ground
                        && !self.alt))
            {
                self.skim(&data[i..]);
                return;
            }
            // Most output is runs of printable bytes appended to the line: take them whole.
            if self.state == State::Ground && !self.alt && self.col == self.line.len() {
                let run = data[i..]
                    .iter()
                    .position(|&b| b < 0x20 || b == 0x7f)
                    .unwrap_or(data.len() - i);
                if run > 0 {
                    let take = run.min(LINE_MAX - self.line.len());
                    self.line.extend_from_slice(&data[i..i + take]);
                    self.col = self.line.len();
                    i += take;
                    if self.line.len() >= LINE_MAX {
                        self.commit();
                    }
                    continue;
                }
            }
            let b = data[i];
            i += 1;
            if self.alt {
                self.full_screen_bytes += 1;
            }
            match self.state {
                State::Ground => match b {
                    0x1b => self.state = State::Esc,
                    b'\n' => {
                        if !self.alt {
                            self.commit()
                        }
                    }
                    b'\r' => self.col = 0,
                    0x08 => self.col = self.col.saturating_sub(1),
                    b'\t' => {
                        if !self.alt {
                            self.put(b'\t')
                        }
                    }
                    0..=0x1f | 0x7f => {}
                    _ => {
                        if !self.alt {
                            self.put(b)
                        }
                    }
                },
                State::Esc => {
                    self.state = match b {
                        b'[' => {
                            self.params.clear();
                            State::Csi
                        }
                        b']' => State::Osc,
                        0x20..=0x2f => State::EscMore,
                        _ => State::Ground,
                    }
                }
                State::EscMore => self.state = State::Ground,
                State::Csi => match b {
                    0x30..=0x3f => {
                        if self.params.len() < 32 {
                            self.params.push(b)
                        }
                    }
                    0x20..=0x2f => {}
                    0x40..=0x7e => {
                        self.csi(b);
                        self.state = State::Ground;
                    }
                    _ => self.state = State::Ground,
                },
                State::Osc => match b {
                    0x07 => self.state = State::Ground,
                    0x1b => self.state = State::OscEsc,
                    _ => {}
                },
                State::OscEsc => {
                    self.state = if b == b'\\' {
                        State::Ground
                    } else {
                        State::Osc
                    }
                }
            }
        }
    }

    /// The line being written, as it shows now.
    pub fn current_line(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }

    /// Everything kept, the last line included even without its newline.
    pub fn finish(mut self) -> Capture {
        if let Some(raw) = self.raw.take() {
            let raw: Vec<u8> = raw.into();
            // The bytes kept begin in the middle of a line when some went by: from the next on.
            let start = if self.skipped > 0 {
                memchr::memchr(b'\n', &raw).map_or(raw.len(), |nl| nl + 1)
            } else {
                0
            };
            self.kept.skip(self.skipped + start as u64);
            let rest = &raw[start..];
            // The alternate screen as it was where `rest` begins: before its first switch.
            self.alt = alt_switches(rest).next().map_or(self.alt, |on| !on);
            self.may_skim = false;
            // What was skimmed counted full-screen bytes already; the tail, read again, may too.
            let full = self.full_screen_bytes;
            self.full_screen_bytes = 0;
            self.feed(rest);
            self.full_screen_bytes = self.full_screen_bytes.max(full);
        }
        self.trim();
        if !self.line.is_empty() {
            self.kept.push(&self.line);
        }
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(nonce: &str, chunks: &[&[u8]]) -> (Vec<u8>, Vec<Mark>) {
        let mut m = Marks::new(nonce);
        let mut text = Vec::new();
        let mut marks = Vec::new();
        for c in chunks {
            m.feed(c, &mut |p| match p {
                Piece::Text(t) => text.extend_from_slice(t),
                Piece::Mark(k) => marks.push(k),
            });
        }
        (text, marks)
    }

    #[test]
    fn own_marks_are_taken_out_others_pass() {
        let s = b"a\x1b]133;C;pm=n1\x07out\x1b[1mB\x1b]0;title\x07\x1b]133;D;2;pm=n1\x1b\\\x1b]133;D;0;pm=other\x07z";
        let (text, marks) = run("n1", &[s]);
        assert_eq!(marks, vec![Mark::Output, Mark::Done(2)]);
        assert_eq!(
            text,
            b"aout\x1b[1mB\x1b]0;title\x07\x1b]133;D;0;pm=other\x07z".to_vec()
        );
    }

    #[test]
    fn marks_split_across_reads_every_way() {
        let s: &[u8] = b"x\x1b]633;E;ls \\x3b echo a\\\\b;pm=k\x07\x1b]133;D;0;pm=k\x07y\x1b";
        let whole = run("k", &[s]);
        for cut in 0..s.len() {
            let (a, b) = s.split_at(cut);
            assert_eq!(run("k", &[a, b]), whole, "cut at {cut}");
        }
        assert_eq!(
            whole.1,
            vec![Mark::Line("ls ; echo a\\b".into()), Mark::Done(0)]
        );
        assert_eq!(whole.0, b"xy".to_vec(), "a lone ESC at the end waits");
    }

    #[test]
    fn screen_shows_what_a_terminal_shows() {
        let mut s = Screen::new(1 << 20);
        s.feed(b"\x1b[32mgreen\x1b[0m\r\n10%\r50%\r100%\r\n");
        s.feed(b"abcdef\rxy\x1b[K\r\nab\x08c\n");
        s.feed(b"\x1b[?1049hFULL SCREEN\r\n\x1b[?1049lafter\n");
        assert_eq!(
            String::from_utf8(s.finish().head().to_vec()).unwrap(),
            "green\n100%\nxy\nac\nafter\n"
        );
        let mut s = Screen::new(1 << 20);
        s.feed(b"\x1b[?1049hxyz\x1b[?1049l");
        assert!(s.full_screen_bytes >= 3);
    }

    /// Past the head, output is skimmed and its tail read at the end: the same text as reading
    /// it all, with the middle counted as left out.
    #[test]
    fn a_long_output_keeps_head_and_tail_as_shown() {
        let mut all = Vec::new();
        for i in 0..20_000 {
            all.extend_from_slice(
                format!("\x1b[1mline {i}\x1b[0m 10%\rline {i} 100%\n").as_bytes(),
            );
        }
        all.extend_from_slice(b"\x1b[?1049hSCREEN\x1b[?1049llast");
        for chunk in [7usize, 4096, 1 << 20] {
            let mut s = Screen::new(64 * 1024);
            for c in all.chunks(chunk) {
                s.feed(c);
            }
            let full = s.full_screen_bytes;
            let st = s
                .finish()
                .into_stream(&crate::journal::redact::Redactor::new());
            assert!(
                st.text.starts_with("line 0 100%\nline 1 100%\n"),
                "chunks of {chunk}"
            );
            assert!(
                st.text.ends_with("line 19999 100%\nlast"),
                "chunks of {chunk}: {:?}",
                &st.text[st.text.len() - 80..]
            );
            assert!(!st.text.contains("SCREEN") && full > 0, "chunks of {chunk}");
            assert!(st.omitted > 0);
            assert!(
                st.text.contains("bytes left out") || st.text.contains("omitted"),
                "{}",
                &st.text[..200]
            );
        }
    }
}
