//! Dotenv files, as compose reads them for `.env` and `env_file:`: `KEY=VALUE`
//! lines, `#` comments (also after an unquoted value), `export `, single
//! quotes taken literally, double quotes with `\n`-style escapes and spanning
//! lines, and `${VAR}` expanded in unquoted and double-quoted values.

use std::path::Path;

use indexmap::IndexMap;

use super::interpolate::{interpolate, InterpolateError, Lookups};

/// Reads a dotenv file; a bare `KEY` line maps to `None` (take it from the environment).
///
/// # Errors
/// The file is unreadable or malformed; the message names the line.
pub fn read(
    path: &Path,
    env: &IndexMap<String, String>,
) -> Result<IndexMap<String, Option<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    parse(&text, env)
}

/// Parses dotenv `text`; `env` resolves `${VAR}` not defined earlier in the file.
///
/// # Errors
/// A line without a key, an unclosed quote, or a required variable unset.
pub fn parse(
    text: &str,
    env: &IndexMap<String, String>,
) -> Result<IndexMap<String, Option<String>>, String> {
    let mut out: IndexMap<String, Option<String>> = IndexMap::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let start_line = line;
        let end = chars[i..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(chars.len(), |p| i + p);
        let head: String = chars[i..end].iter().collect();
        let trimmed = head.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i = end + 1;
            line += 1;
            continue;
        }
        let body = trimmed
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(trimmed);
        let Some((key, _)) = body.split_once('=') else {
            let key = body.trim();
            if key.contains(char::is_whitespace) {
                // The line itself is left out: the file may not be one the user meant to show.
                return Err(format!("line {start_line}: expected KEY=VALUE"));
            }
            out.insert(key.to_string(), None);
            i = end + 1;
            line += 1;
            continue;
        };
        let key = key.trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "line {start_line}: the part before = is not a variable name"
            ));
        }
        // Where the value starts in `chars`: after the first `=` of this line.
        let mut j = i + head.find('=').map_or(0, |b| head[..b].chars().count()) + 1;
        while j < end && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
        let mut expanded_env = env.clone();
        expanded_env.extend(
            out.iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))),
        );
        let expand = |s: &str| {
            interpolate(s, &expanded_env, &mut Lookups::default()).map_err(|e| match e {
                InterpolateError::Required { variable, message } => {
                    format!("line {start_line}: {variable} is required: {message}")
                }
                InterpolateError::Syntax(m) => format!("line {start_line}: {m}"),
            })
        };
        let (value, next) = match chars.get(j) {
            Some(q @ ('\'' | '"')) => {
                let close = (j + 1..chars.len())
                    .find(|&k| chars[k] == *q && (*q == '\'' || !escaped(&chars, k)))
                    .ok_or_else(|| {
                        format!("line {start_line}: the {q} quote of {key} is never closed")
                    })?;
                let raw: String = chars[j + 1..close].iter().collect();
                line += raw.matches('\n').count();
                let value = if *q == '\'' {
                    raw
                } else {
                    expand(&unescape(&raw))?
                };
                let next = chars[close..]
                    .iter()
                    .position(|c| *c == '\n')
                    .map_or(chars.len(), |p| close + p);
                (value, next)
            }
            _ => {
                let raw: String = chars[j..end].iter().collect();
                // ` #` starts a comment after an unquoted value.
                let raw = match raw.find(" #").or_else(|| raw.find("\t#")) {
                    Some(p) => raw[..p].to_string(),
                    None => raw,
                };
                (expand(raw.trim_end())?, end)
            }
        };
        out.insert(key, Some(value));
        i = next + 1;
        line += 1;
    }
    Ok(out)
}

/// Whether the character at `k` is preceded by an odd number of backslashes.
fn escaped(chars: &[char], k: usize) -> bool {
    chars[..k].iter().rev().take_while(|c| **c == '\\').count() % 2 == 1
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            // `\$` stays an escaped dollar for interpolation to turn into `$`.
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> IndexMap<String, Option<String>> {
        let env: IndexMap<String, String> = [("HOME_DIR".to_string(), "/home/u".to_string())]
            .into_iter()
            .collect();
        parse(text, &env).unwrap()
    }

    #[test]
    fn comments_export_and_quotes() {
        let m = p("# c\nA=1\nexport B=\"two words\"\nC='x $HOME_DIR'\n\n  D = spaced  # trailing comment\nE=a#b\n");
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some("two words"));
        assert_eq!(
            m["C"].as_deref(),
            Some("x $HOME_DIR"),
            "single quotes are literal"
        );
        assert_eq!(m["D"].as_deref(), Some("spaced"));
        assert_eq!(
            m["E"].as_deref(),
            Some("a#b"),
            "a # inside a word is not a comment"
        );
    }

    #[test]
    fn double_quotes_escape_span_lines_and_expand() {
        let m = p("A=\"line1\\nline2 \\\"q\\\"\"\nB=\"multi\nline\"\nC=${HOME_DIR}/x\nD=\"$A-\\$HOME_DIR\"\nAFTER=ok\n");
        assert_eq!(m["A"].as_deref(), Some("line1\nline2 \"q\""));
        assert_eq!(m["B"].as_deref(), Some("multi\nline"));
        assert_eq!(m["C"].as_deref(), Some("/home/u/x"));
        assert_eq!(
            m["D"].as_deref(),
            Some("line1\nline2 \"q\"-$HOME_DIR"),
            "earlier keys expand; \\$ is a dollar"
        );
        assert_eq!(m["AFTER"].as_deref(), Some("ok"));
    }

    #[test]
    fn bare_keys_and_empty_values() {
        let m = p("BARE\nEMPTY=\nQUOTED=''\n");
        assert_eq!(m["BARE"], None);
        assert_eq!(m["EMPTY"].as_deref(), Some(""));
        assert_eq!(m["QUOTED"].as_deref(), Some(""));
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let env = IndexMap::new();
        assert!(parse("A=1\nnot a pair\n", &env)
            .unwrap_err()
            .contains("line 2"));
        assert!(parse("A=1\nB=\"open\n", &env)
            .unwrap_err()
            .contains("line 2"));
        assert!(parse("=x\n", &env).is_err());
    }
}
