//! Making evidence literal: every byte of evidence that reaches a report goes through here.

/// Show characters that a terminal, a browser or a PDF would act on or hide as visible text:
/// C0 controls (but newline and tab) and DEL as their Unicode control pictures (ESC → ␛,
/// NUL → ␀, CR → ␍), C1 controls and bidirectional overrides as `\u{..}` escapes.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap()),
            '\u{7f}' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// Markdown prose from untrusted text: escaped by `md::esc_at` (only what remark-gfm,
/// remark-breaks and remark-math would change, as in the answers), leading whitespace is dropped so no line becomes an
/// indented code block, and newlines are kept (GFM with remark-breaks shows them as breaks).
///
/// GFM turns bare URLs and e-mail addresses into links whatever their escapes (remark-gfm finds
/// them in the parsed text), so words that look like one are set as code spans instead.
pub fn md_text(s: &str) -> String {
    escape_prose(s, false)
}

/// Markdown from untrusted text on one line (a heading): like `md_text`, with line breaks
/// shown as ⏎.
pub fn md_line(s: &str) -> String {
    escape_prose(&one_line(s), false)
}

/// Markdown from untrusted text in a GFM table cell: like `md_line`; a `|` inside a code span
/// is escaped too, as GFM tables require.
pub fn md_cell(s: &str) -> String {
    escape_prose(&one_line(s), true)
}

fn one_line(s: &str) -> String {
    s.trim_end_matches('\n').replace('\n', " \u{23ce} ")
}

fn looks_like_link(word: &str) -> bool {
    let w = word.to_ascii_lowercase();
    w.contains("://")
        || w.contains("www.")
        || w.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
}

fn code_span(word: &str, in_table: bool) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in word.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if word.starts_with('`') || word.ends_with('`') {
        " "
    } else {
        ""
    };
    let body = if in_table {
        word.replace('|', "\\|")
    } else {
        word.to_string()
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

fn escape_prose(s: &str, in_table: bool) -> String {
    let s = visible(s).replace('\t', " ");
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.trim_start();
        let mut rest = line;
        while !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (word, after) = rest.split_at(end);
            if looks_like_link(word) {
                out.push_str(&code_span(word, in_table));
            } else {
                // The one escaper every document uses: only what the renderer would change.
                let first = rest.len() == line.len();
                // `@` too: remark-gfm links what looks like a mail address.
                out.push_str(&super::md::esc_at(word, first).replace('@', "\\@"));
            }
            let ws_end = after
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(after.len());
            out.push_str(&after[..ws_end]);
            rest = &after[ws_end..];
        }
    }
    out
}

/// A fenced code block holding `s` literally: the fence is longer than any backtick run inside.
pub fn md_fence(s: &str) -> String {
    let body = visible(s);
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat((longest + 1).max(3));
    let mut out = String::with_capacity(body.len() + 2 * fence.len() + 4);
    out.push_str(&fence);
    out.push('\n');
    out.push_str(&body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    out
}

/// Is this character one that Japanese (or Chinese) text runs together without spaces?
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303f   // CJK punctuation: 、。「」
        | 0x3040..=0x30ff // hiragana, katakana
        | 0x3400..=0x4dbf
        | 0x4e00..=0x9fff
        | 0xf900..=0xfaff
        | 0xff00..=0xffef // full-width forms: ()!?
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_pictures() {
        assert_eq!(
            visible("a\x1b[31mred\0\r\n"),
            "a\u{241b}[31mred\u{2400}\u{240d}\n"
        );
        assert_eq!(visible("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn prose_is_escaped() {
        assert_eq!(md_text("# [a](b) <x>"), r"\# [a\](b) \<x\>");
        assert_eq!(md_text("    code?\n1. no list"), "code?\n1\\. no list");
        assert_eq!(
            md_text("postmortem 0.1.0 sh -c 'echo \"HTTP/1.1\"'"),
            "postmortem 0.1.0 sh -c 'echo \"HTTP/1.1\"'"
        );
        assert_eq!(
            md_text("- item *a* _b_ $x"),
            "\\- item \\*a\\* \\_b\\_ \\$x"
        );
        assert_eq!(md_line("a|b\nc"), "a\\|b \u{23ce} c");
        assert_eq!(
            md_text("see http://x.y/a_b now"),
            "see `http://x.y/a_b` now"
        );
        assert_eq!(md_cell("a@b.c|d"), "`a@b.c\\|d`");
        assert_eq!(md_text("`www.x`"), "`` `www.x` ``");
    }

    #[test]
    fn fences_outgrow_backticks() {
        assert_eq!(md_fence("a"), "```\na\n```");
        assert_eq!(md_fence("x ````` y\n"), "``````\nx ````` y\n``````");
    }
}
