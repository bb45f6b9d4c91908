//! The small pages the gateway answers itself: plain HTML, readable in curl too.

use crate::routes::Route;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page with a title, a message and the live previews as links.
pub fn page(title: &str, message: &str, routes: &[Route], port_suffix: &str) -> String {
    let mut items = String::new();
    for r in routes {
        let url = format!("http://{}{}/", r.host, port_suffix);
        items.push_str(&format!(
            "<li><a href=\"{u}\">{h}</a> ({b})</li>\n",
            u = escape(&url),
            h = escape(&r.host),
            b = escape(&r.branch)
        ));
    }
    if items.is_empty() {
        items.push_str(
            "<li>none yet: run <code>branchyard up &lt;repo&gt; &lt;branch&gt;</code></li>\n",
        );
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:2em;max-width:46em}}</style></head>\n\
         <body>\n<h1>{t}</h1>\n<p>{m}</p>\n<h2>Live previews</h2>\n<ul>\n{items}</ul>\n\
         <p><small>Branchyard gateway</small></p>\n</body></html>\n",
        t = escape(title),
        m = escape(message)
    )
}
