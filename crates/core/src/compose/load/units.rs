//! Compose's little languages: durations (`1m30s`), sizes (`512m`) and
//! shell-style words for `command:` strings.

/// `1m30s`, `500ms`, `10s`, `2h`, `1.5s`, or a bare number of seconds, in nanoseconds.
pub fn duration_ns(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0).then_some((secs * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() || n == 'µ' {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
    }
    // A trailing number without a unit (`1m30`) is ambiguous: refuse it.
    num.is_empty().then_some(total as i64)
}

/// `512m`, `1g`, `1.5gb`, `100k`, `2048b`, or bytes, as bytes (binary multiples, like Docker).
pub fn bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let idx = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(idx);
    let n: f64 = n.trim().parse().ok()?;
    if n < 0.0 {
        return None;
    }
    let unit = if unit == "b" {
        ""
    } else {
        unit.strip_suffix('b').unwrap_or(unit)
    };
    let mult = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as i64)
}

/// Splits like a POSIX shell: whitespace, single and double quotes,
/// backslashes. `None` when a quote is left open.
pub fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        // Inside double quotes a backslash escapes only these, as in sh.
                        '\\' => match chars.next()? {
                            x @ ('"' | '\\' | '$' | '`') => cur.push(x),
                            '\n' => {}
                            x => {
                                cur.push('\\');
                                cur.push(x);
                            }
                        },
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(x) => cur.push(x),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go_durations_and_bare_numbers_are_seconds() {
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("10s"), Some(10_000_000_000));
        assert_eq!(duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_ns("2h"), Some(7_200_000_000_000));
        assert_eq!(duration_ns("10"), Some(10_000_000_000));
        assert_eq!(duration_ns("10x"), None);
        assert_eq!(duration_ns("1m30"), None);
        assert_eq!(duration_ns(""), None);
    }

    #[test]
    fn sizes_use_binary_multiples() {
        assert_eq!(bytes("512m"), Some(512 * 1024 * 1024));
        assert_eq!(bytes("1g"), Some(1024 * 1024 * 1024));
        assert_eq!(bytes("1GB"), Some(1024 * 1024 * 1024));
        assert_eq!(bytes("100k"), Some(100 * 1024));
        assert_eq!(bytes("2048b"), Some(2048));
        assert_eq!(bytes("1024"), Some(1024));
        assert_eq!(bytes("lots"), None);
    }

    #[test]
    fn command_strings_split_like_a_shell() {
        assert_eq!(
            shell_words(r#"sh -c "echo 'a b' \"q\"" x\ y"#),
            Some(vec![
                "sh".into(),
                "-c".into(),
                "echo 'a b' \"q\"".into(),
                "x y".into()
            ])
        );
        assert_eq!(
            shell_words("  a   ''  b "),
            Some(vec!["a".into(), "".into(), "b".into()]),
            "an empty quoted word is kept"
        );
        assert_eq!(shell_words("a 'b"), None);
    }
}
