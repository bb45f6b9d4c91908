//! The small pages the gateway answers itself: plain HTML, escaped,
//! readable in curl too.

use std::fmt::Write;

use crate::routes::Route;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where links to previews point: scheme and the port suffix users reach.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `""` on the default port, else `:<port>`.
    pub port_suffix: &'a str,
}

/// What one page says.
#[derive(Debug, Default)]
pub struct Page<'a> {
    /// Heading and title.
    pub title: &'a str,
    /// The sentence under it.
    pub message: &'a str,
    /// Last log lines, shown preformatted.
    pub logs: &'a [String],
    /// Reload every second (status pages of previews on their way).
    pub refresh: bool,
    /// The list of live previews, with links.
    pub previews: Option<(&'a [&'a Route], Links<'a>)>,
}

/// Renders `p`.
pub fn render(p: &Page<'_>) -> String {
    let mut out = String::with_capacity(1024);
    let t = escape(p.title);
    let _ = write!(
        out,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n"
    );
    if p.refresh {
        out.push_str("<meta http-equiv=\"refresh\" content=\"1\">\n");
    }
    let _ = write!(
        out,
        "<style>body{{font:15px system-ui,sans-serif;margin:2em;max-width:46em}}pre{{background:#f4f4f4;padding:1em;overflow:auto}}</style></head>\n\
         <body>\n<h1>{t}</h1>\n<p>{}</p>\n",
        escape(p.message)
    );
    if !p.logs.is_empty() {
        out.push_str("<h2>Last log lines</h2>\n<pre>");
        for l in p.logs {
            out.push_str(&escape(l));
            out.push('\n');
        }
        out.push_str("</pre>\n");
    }
    if let Some((routes, links)) = p.previews {
        out.push_str("<h2>Live previews</h2>\n<ul>\n");
        for r in routes {
            let url = format!("{}://{}{}/", links.scheme, r.host, links.port_suffix);
            let _ = writeln!(
                out,
                "<li><a href=\"{u}\">{h}</a> ({b}, {s})</li>",
                u = escape(&url),
                h = escape(&r.host),
                b = escape(&r.branch),
                s = escape(r.state_name()),
            );
        }
        if routes.is_empty() {
            out.push_str(
                "<li>none yet: run <code>branchyard up &lt;repo&gt; &lt;branch&gt;</code></li>\n",
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<p><small>Branchyard gateway</small></p>\n</body></html>\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_from_routes_and_logs_is_escaped() {
        let logs = vec!["<script>alert(1)</script>".to_string()];
        let html = render(&Page {
            title: "a & b",
            message: "\"quoted\"",
            logs: &logs,
            refresh: true,
            previews: None,
        });
        assert!(html.contains("a &amp; b") && html.contains("&quot;quoted&quot;"));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("http-equiv=\"refresh\""));
    }
}
