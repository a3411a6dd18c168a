//! HTML: the report's Markdown rendered by pulldown-cmark into one self-contained page.
//!
//! Rendered as the ICTSC score server renders answers (GFM, line breaks kept). Raw HTML in the
//! Markdown is shown as text, never passed through.

use pulldown_cmark::{html, Event, Options, Parser};

pub fn gfm_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

const CSS: &str = "body{font-family:'Noto Sans CJK JP','Hiragino Sans','Yu Gothic',sans-serif;\
max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.6;color:#1f2328}\
h1,h2{border-bottom:1px solid #d0d7de;padding-bottom:.3em}\
table{border-collapse:collapse;margin:1em 0;display:block;max-width:100%;overflow-x:auto}\
th,td{border:1px solid #d0d7de;padding:.3em .7em;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f6f8fa}pre{background:#f6f8fa;padding:1em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\
code{font-family:'Noto Sans Mono CJK JP',monospace;font-size:90%;overflow-wrap:anywhere}img{max-width:100%}";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render Markdown to a complete HTML document.
/// Images the report made itself are inlined as data URIs, so the page fetches nothing.
pub fn render(markdown: &str, title: &str, lang: &str, images: &[(String, String)]) -> String {
    use pulldown_cmark::{CowStr, Tag};
    let events = Parser::new_ext(markdown, gfm_options()).map(|ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::SoftBreak => Event::HardBreak,
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let inline = images
                .iter()
                .find(|(name, _)| *name == *dest_url)
                .map(|(_, svg)| {
                    format!(
                        "data:image/svg+xml;base64,{}",
                        data_encoding::BASE64.encode(svg.as_bytes())
                    )
                });
            Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::from(inline.unwrap_or_default()),
                title,
                id,
            })
        }
        other => other,
    });
    let mut body = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut body, events);
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}
