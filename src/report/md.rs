//! The Markdown the score server renders (remark-gfm, remark-breaks, remark-math, no raw HTML),
//! written by one escaper and one document builder for every answer, whoever fills it.
//!
//! `Doc` builds the Markdown and, beside it, the text a reader should see; the tests compare that
//! text with what remark makes of the Markdown. What it cannot prove: that another Markdown
//! renderer (a different GFM extension set) shows the same text.

/// Escape what the score server's renderer would otherwise change, and nothing else.
pub fn esc(s: &str) -> String {
    esc_at(s, true)
}

/// As `esc`, for text that does not start a line (inside emphasis, after other text).
pub fn esc_at(s: &str, mut line_start: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 { chars[i - 1] } else { ' ' };
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        let needs = match c {
            '\\' | '`' | '*' | '<' | '>' | '$' | '|' | '~' => true,
            // Brackets make a link only before a destination or a label, or as a definition at
            // a line's start; [vm名] alone is text.
            '[' => line_start,
            ']' => matches!(next, '(' | '[' | ':'),
            // Intraword underscores are plain text in GFM (ip_forward); at a word's edge they
            // can open or close emphasis.
            '_' => !(prev.is_alphanumeric() && next.is_alphanumeric()),
            '#' | '+' | '-' | '=' if line_start => true,
            '!' => next == '[',
            '&' => next.is_alphanumeric() || next == '#',
            _ => false,
        };
        // "1. " at a line's start would become a list.
        if line_start && c.is_ascii_digit() {
            let rest: String = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            let after = chars.get(i + rest.len()).copied();
            if matches!(after, Some('.') | Some(')')) {
                out.push_str(&rest);
                out.push('\\');
                // The digits are pushed; skip them below by marking.
                let skip = rest.len();
                let tail: String = chars[i + skip..].iter().collect();
                out.push_str(&esc_at(&tail, false));
                return out;
            }
        }
        if needs {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n' || (line_start && c == ' ');
    }
    out
}

/// Marks what only the HTML and the PDF carry (record numbers, the journal's hash, the tool's
/// name): a judge reading the Markdown in the score server cannot open them. Private-use
/// characters, which no renderer shows and `for_score_server` takes out with what they enclose.
pub const ONLY_LINKED: (char, char) = ('\u{E000}', '\u{E001}');

pub fn linked_only(s: &str) -> String {
    format!("{}{s}{}", ONLY_LINKED.0, ONLY_LINKED.1)
}

/// Record references (`#12, #13`, or `alice#12` in a team's journal), for the HTML and PDF
/// only.
pub fn refs_of<S: AsRef<str>>(ids: &[S]) -> String {
    linked_only(
        &ids.iter()
            .map(|s| {
                let s = s.as_ref();
                if s.contains('#') {
                    s.to_string()
                } else {
                    format!("#{s}")
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The answer as the score server shows it: no record numbers, hash or tool name, and no
/// parentheses or paragraph left empty by their going.
pub fn for_score_server(md: &str) -> String {
    static RE: std::sync::OnceLock<[regex::Regex; 3]> = std::sync::OnceLock::new();
    let [wrapped, listed, bare] = RE.get_or_init(|| {
        [
            regex::Regex::new(" ?\\(\u{E000}[^\u{E001}]*\u{E001}\\)").unwrap(),
            regex::Regex::new(", \u{E000}[^\u{E001}]*\u{E001}").unwrap(),
            regex::Regex::new("\u{E000}[^\u{E001}]*\u{E001}").unwrap(),
        ]
    });
    let s = wrapped.replace_all(md, "");
    let s = listed.replace_all(&s, "");
    let s = bare.replace_all(&s, "");
    let mut out = String::with_capacity(s.len());
    for l in s.split_inclusive('\n') {
        // A paragraph that held only what went, and a line's trailing blank.
        if l.trim().is_empty() && out.ends_with("\n\n") {
            continue;
        }
        let t = l.trim_end_matches(['\n', ' ']);
        out.push_str(t);
        if l.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The answer as the HTML and the PDF show it: everything, the marks taken out.
pub fn with_links(md: &str) -> String {
    md.replace([ONLY_LINKED.0, ONLY_LINKED.1], "")
}

/// A code span holding `s` literally.
pub fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = s.starts_with('`') || s.ends_with('`') || (s.starts_with(' ') && s.ends_with(' '));
    if pad {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// Inline content: text, code, or bold text.
pub enum In<'a> {
    T(&'a str),
    C(&'a str),
    B(&'a str),
}

/// A document built as Markdown and as the text a reader sees, side by side.
#[derive(Default)]
pub struct Doc {
    pub md: String,
    pub text: String,
}

impl Doc {
    pub fn line(&mut self, parts: &[In]) -> &mut Self {
        for p in parts {
            match p {
                In::T(s) => {
                    self.md.push_str(&esc(s));
                    self.text.push_str(s);
                }
                In::C(s) => {
                    self.md.push_str(&code(s));
                    self.text.push_str(s);
                }
                In::B(s) => {
                    self.md.push_str(&format!("**{}**", esc_at(s, false)));
                    self.text.push_str(s);
                }
            }
        }
        self.md.push('\n');
        self.text.push('\n');
        self
    }
    pub fn para(&mut self, parts: &[In]) -> &mut Self {
        self.line(parts);
        self.md.push('\n');
        self
    }
    pub fn h1(&mut self, title: &str) -> &mut Self {
        self.md.push_str(&format!("# {}\n\n", esc(title)));
        self.text.push_str(title);
        self.text.push('\n');
        self
    }
    pub fn h2(&mut self, title: &str) -> &mut Self {
        self.md.push_str(&format!("## {}\n\n", esc(title)));
        self.text.push_str(title);
        self.text.push('\n');
        self
    }
    pub fn item(&mut self, parts: &[In]) -> &mut Self {
        self.md.push_str("- ");
        self.line(parts)
    }
    pub fn end_list(&mut self) -> &mut Self {
        self.md.push('\n');
        self
    }
    /// A fenced block (its fence longer than any backtick run inside).
    pub fn block(&mut self, lang: &str, lines: &[String]) -> &mut Self {
        let longest = lines
            .iter()
            .flat_map(|l| l.split(|c| c != '`').map(str::len))
            .max()
            .unwrap_or(0);
        let fence = "`".repeat((longest + 1).max(3));
        self.md.push_str(&format!("{fence}{lang}\n"));
        for l in lines {
            self.md.push_str(l);
            self.md.push('\n');
            self.text.push_str(l);
            self.text.push('\n');
        }
        self.md.push_str(&format!("{fence}\n\n"));
        self
    }
    pub fn table(&mut self, head: &[&str], rows: &[Vec<String>]) -> &mut Self {
        let cell = |s: &str| esc(s).replace('\n', " ");
        self.md.push_str(&format!(
            "| {} |\n|{}\n",
            head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "),
            " --- |".repeat(head.len())
        ));
        self.text.push_str(&head.join(" "));
        self.text.push('\n');
        for r in rows {
            self.md.push_str(&format!(
                "| {} |\n",
                r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            ));
            self.text.push_str(&r.join(" "));
            self.text.push('\n');
        }
        self.md.push('\n');
        self
    }
}
