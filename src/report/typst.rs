//! PDF: the report's Markdown turned into Typst markup by walking pulldown-cmark's events, then
//! compiled by the external `typst` CLI.
//!
//! Every piece of text becomes escaped markup or a string literal, so evidence cannot become Typst
//! code (`#read(..)`, `#import`, math, labels, references). Compilation runs with `--root` set
//! to an empty directory, so even a mistake here could not read the machine's files.

use super::html::gfm_options;
use super::text::is_cjk;
use anyhow::{bail, Context, Result};
use pulldown_cmark::{Alignment, Event, HeadingLevel, Parser, Tag, TagEnd};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fonts the PDF uses. All must exist: typst warns (and falls back to tofu) otherwise.
pub const FONT: &str = "Noto Sans CJK JP";
pub const MONO_FONT: &str = "Noto Sans Mono CJK JP";

/// How to get typst and the fonts, said whenever one is missing.
pub const INSTALL_HINT: &str = "install it with: bash scripts/install-deps.sh (the compiler prebuilt on PyPI, the typst wheel 0.15.0, as a `typst` command), or apt-get install -y pkg-config libssl-dev fonts-noto-cjk && cargo install --locked typst-cli --version 0.15.0 (and make sure ~/.cargo/bin is on PATH, or set POSTMORTEM_TYPST to the typst binary)";

/// Escape text for Typst markup: every ASCII punctuation character and symbol gets a backslash.
fn escape_markup(s: &str, out: &mut String) {
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A Typst string literal.
fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Writer {
    out: String,
    /// A soft break waits here until the next text says whether it is a space or nothing.
    pending_soft_break: bool,
    lists: Vec<Option<u64>>,
    code: Option<String>,
    table_cells: Vec<String>,
    cell: Option<String>,
    in_table_head: bool,
    in_image: bool,
}

impl Writer {
    fn target(&mut self) -> &mut String {
        self.cell.as_mut().unwrap_or(&mut self.out)
    }

    fn text(&mut self, t: &str) {
        if self.pending_soft_break {
            self.pending_soft_break = false;
            let before = self.target().chars().last();
            let after = t.chars().next();
            // Typst shows a line break in the source as a space; Japanese has no spaces there.
            let join = matches!((before, after), (Some(b), Some(a)) if is_cjk(b) && is_cjk(a));
            if !join {
                self.target().push(' ');
            }
        }
        let mut escaped = String::with_capacity(t.len() + 8);
        escape_markup(t, &mut escaped);
        self.target().push_str(&escaped);
    }

    fn raw(&mut self, s: &str) {
        if self.pending_soft_break {
            self.pending_soft_break = false;
            self.target().push(' ');
        }
        self.target().push_str(s);
    }
}

/// Convert the report's Markdown to a Typst document (body only; see `document`).
pub fn markup(markdown: &str) -> String {
    markup_with(markdown, &[])
}

/// Markup where images the report made itself (`images`, by file name) become `#image(..)`.
pub fn markup_with(markdown: &str, images: &[(String, String)]) -> String {
    let mut w = Writer {
        out: String::with_capacity(markdown.len() * 2),
        pending_soft_break: false,
        lists: Vec::new(),
        code: None,
        table_cells: Vec::new(),
        cell: None,
        in_table_head: false,
        in_image: false,
    };
    for ev in Parser::new_ext(markdown, gfm_options()) {
        if let Some(code) = w.code.as_mut() {
            match ev {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let body = w.code.take().unwrap();
                    let body = body.strip_suffix('\n').unwrap_or(&body);
                    w.out.push_str(&format!("#block(fill: luma(246), inset: 6pt, radius: 2pt, width: 100%, raw(block: true, {}));\n\n", string_literal(body)));
                }
                _ => {}
            }
            continue;
        }
        match ev {
            Event::Start(Tag::Heading { level, .. }) => {
                let n = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    HeadingLevel::H5 => 5,
                    HeadingLevel::H6 => 6,
                };
                w.out.push_str(&format!("{} ", "=".repeat(n)));
            }
            Event::End(TagEnd::Heading(_)) => w.out.push_str("\n\n"),
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                w.pending_soft_break = false;
                let sep = if w.cell.is_some() { " " } else { "\n\n" };
                w.target().push_str(sep);
            }
            Event::Start(Tag::CodeBlock(_)) => w.code = Some(String::new()),
            Event::Start(Tag::List(start)) => {
                w.lists.push(start);
                w.out.push('\n');
            }
            Event::End(TagEnd::List(_)) => {
                w.lists.pop();
                w.out.push('\n');
            }
            Event::Start(Tag::Item) => {
                let depth = w.lists.len().saturating_sub(1);
                let marker = if matches!(w.lists.last(), Some(Some(_))) {
                    "+ "
                } else {
                    "- "
                };
                w.out.push_str(&format!("{}{}", "  ".repeat(depth), marker));
            }
            Event::End(TagEnd::Item) => w.out.push('\n'),
            Event::Start(Tag::Table(aligns)) => {
                w.table_cells.clear();
                let cols: Vec<&str> = aligns
                    .iter()
                    .map(|a| match a {
                        Alignment::Right => "right",
                        Alignment::Center => "center",
                        _ => "left",
                    })
                    .collect();
                w.out.push_str(&format!(
                    "#table(columns: {}, align: ({}), stroke: 0.5pt + luma(200), inset: 4pt,\n",
                    aligns.len(),
                    cols.join(", ") + if cols.len() == 1 { "," } else { "" }
                ));
            }
            Event::Start(Tag::TableHead) => w.in_table_head = true,
            Event::End(TagEnd::TableHead) => {
                let cells: Vec<String> = w.table_cells.drain(..).collect();
                w.out
                    .push_str(&format!("  table.header({}),\n", cells.join(", ")));
                w.in_table_head = false;
            }
            Event::Start(Tag::TableRow) => {}
            Event::End(TagEnd::TableRow) => {
                let cells: Vec<String> = w.table_cells.drain(..).collect();
                w.out.push_str(&format!("  {},\n", cells.join(", ")));
            }
            Event::Start(Tag::TableCell) => w.cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                let c = w.cell.take().unwrap_or_default();
                let c = if w.in_table_head {
                    format!("[*{}*]", c.trim())
                } else {
                    format!("[{}]", c.trim())
                };
                w.table_cells.push(c);
            }
            Event::End(TagEnd::Table) => w.out.push_str(");\n\n"),
            Event::Start(Tag::Emphasis) => w.raw("#emph["),
            Event::Start(Tag::Strong) => w.raw("#strong["),
            Event::Start(Tag::Strikethrough) => w.raw("#strike["),
            Event::End(TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough) => w.raw("];"),
            Event::Start(Tag::Image { dest_url, .. }) => {
                if images.iter().any(|(n, _)| *n == *dest_url) {
                    w.raw(&format!(
                        "#image({}, width: 100%);",
                        string_literal(&dest_url)
                    ));
                }
                w.in_image = true;
            }
            Event::End(TagEnd::Image) => w.in_image = false,
            Event::Text(_) if w.in_image => {}
            Event::Start(Tag::Link { dest_url, .. }) => {
                w.raw(&format!("#link({})[", string_literal(&dest_url)));
            }
            Event::End(TagEnd::Link) => w.raw("];"),
            Event::Start(Tag::BlockQuote(_)) => w.out.push_str("#quote(block: true)["),
            Event::End(TagEnd::BlockQuote(_)) => w.out.push_str("]\n\n"),
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => w.text(&t),
            Event::Code(t) => {
                let s = format!("#raw({});", string_literal(&t));
                w.raw(&s)
            }
            Event::SoftBreak => w.pending_soft_break = true,
            Event::HardBreak => w.raw("#linebreak();"),
            Event::Rule => w.out.push_str("#line(length: 100%)\n\n"),
            _ => {}
        }
    }
    w.out
}

/// A whole Typst document: page and font set-up, then the body.
pub fn document(markdown: &str, lang: &str, title: &str, images: &[(String, String)]) -> String {
    format!(
        "#set document(title: {title})\n\
         #set page(paper: \"a4\", margin: 18mm, numbering: \"1 / 1\")\n\
         #set text(font: \"{FONT}\", size: 9.5pt, lang: \"{lang}\")\n\
         #show raw: set text(font: \"{MONO_FONT}\", size: 8pt)\n\
         #show heading: set block(above: 1.2em, below: 0.6em)\n\n{}",
        markup_with(markdown, images),
        title = string_literal(title)
    )
}

/// The typst binary to use: `POSTMORTEM_TYPST`, else `typst` on PATH, else ~/.cargo/bin/typst.
pub fn find_typst() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POSTMORTEM_TYPST") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("typst"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cargo/bin/typst"))
            .filter(|p| p.is_file())
    })
}

/// Why no PDF could be made.
#[derive(Debug)]
pub enum PdfError {
    /// typst is not installed.
    NoTypst,
    /// Anything else: missing font, compile error.
    Other(anyhow::Error),
}

fn check_fonts(typst: &Path) -> Result<()> {
    let out = Command::new(typst)
        .arg("fonts")
        .output()
        .with_context(|| format!("cannot run {} fonts", typst.display()))?;
    let list = String::from_utf8_lossy(&out.stdout);
    for font in [FONT, MONO_FONT] {
        if !list.lines().any(|l| l.trim() == font) {
            bail!(
                "the font \"{font}\" is missing, so Japanese would not render in the PDF; \
                 install it with: apt-get install -y fonts-noto-cjk"
            );
        }
    }
    Ok(())
}

/// Compile a Typst document to `pdf`. `timestamp` (seconds since the epoch) becomes the PDF's
/// creation date, so the same journal gives the same PDF.
pub fn compile(
    source: &str,
    pdf: &Path,
    timestamp: i64,
    files: &[(String, String)],
) -> std::result::Result<(), PdfError> {
    let typst = find_typst().ok_or(PdfError::NoTypst)?;
    let run = || -> Result<()> {
        check_fonts(&typst)?;
        let dir = tempdir()?;
        let input = dir.join("report.typ");
        std::fs::write(&input, source)?;
        for (name, content) in files {
            std::fs::write(dir.join(name), content)?;
        }
        let out = Command::new(&typst)
            .arg("compile")
            .arg("--root")
            .arg(&dir)
            .arg("--creation-timestamp")
            .arg(timestamp.to_string())
            .arg("--diagnostic-format")
            .arg("short")
            .arg(&input)
            .arg(pdf)
            .output()
            .with_context(|| format!("cannot run {}", typst.display()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = out?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("typst could not compile the report: {}", stderr.trim());
        }
        if stderr.contains("unknown font family") {
            let _ = std::fs::remove_file(pdf);
            bail!(
                "typst is missing a font ({}); install it with: apt-get install -y fonts-noto-cjk",
                stderr.trim()
            );
        }
        Ok(())
    };
    run().map_err(PdfError::Other)
}

fn tempdir() -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "postmortem-typst-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        let t = markup("#read(\"/etc/passwd\") $x$ *b* _i_ @ref <lab>\n");
        assert!(
            t.starts_with("\\#read\\(\\\"\\/etc\\/passwd\\\"\\) \\$x\\$"),
            "{t}"
        );
        let c = markup("```\n#import \"x\": *\n\"q\" \\\n```\n");
        assert!(
            c.contains(r##"raw(block: true, "#import \"x\": *\n\"q\" \\")"##),
            "{c}"
        );
    }

    #[test]
    fn soft_breaks_between_cjk_are_joined() {
        assert_eq!(markup("ため\n拠点\n"), "ため拠点\n\n");
        assert_eq!(markup("これは。\nnext\n"), "これは。 next\n\n");
        assert_eq!(markup("a\nb\n"), "a b\n\n");
    }
}
