//! Compose variable interpolation: `$V`, `${V}`, `${V:-d}`, `${V-d}`,
//! `${V:?e}`, `${V?e}`, `${V:+r}`, `${V+r}`, `$$`; defaults may nest.

use indexmap::IndexMap;

/// Why interpolation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${V?e}` / `${V:?e}` with V unset (or empty for `:?`).
    Required {
        /// The variable.
        variable: String,
        /// The message given.
        message: String,
    },
    /// Malformed `${`.
    Syntax(String),
}

/// Interpolates `s`; unset variables without a default become "" and are
/// recorded in `unset` (compose warns about them).
pub fn interpolate(s: &str, env: &IndexMap<String, String>, unset: &mut Vec<String>) -> Result<String, InterpolateError> {
    let chars: Vec<char> = s.chars().collect();
    let (out, _) = expand(&chars, 0, env, unset, None)?;
    Ok(out)
}

/// Expands from `i` until `stop` (a closing `}` when nested) or the end.
fn expand(
    c: &[char],
    mut i: usize,
    env: &IndexMap<String, String>,
    unset: &mut Vec<String>,
    stop: Option<char>,
) -> Result<(String, usize), InterpolateError> {
    let mut out = String::new();
    while i < c.len() {
        let ch = c[i];
        if Some(ch) == stop {
            return Ok((out, i));
        }
        if ch != '$' {
            out.push(ch);
            i += 1;
            continue;
        }
        match c.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let (v, next) = braced(c, i + 2, env, unset)?;
                out.push_str(&v);
                i = next;
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                let start = i + 1;
                let mut j = start;
                while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '_') {
                    j += 1;
                }
                let name: String = c[start..j].iter().collect();
                match env.get(&name) {
                    Some(v) => out.push_str(v),
                    None => unset.push(name),
                }
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    if stop.is_some() {
        return Err(InterpolateError::Syntax(format!("unclosed ${{ in {:?}", c.iter().collect::<String>())));
    }
    Ok((out, i))
}

/// `${…}` starting after the `{`; returns the value and the index after `}`.
fn braced(c: &[char], start: usize, env: &IndexMap<String, String>, unset: &mut Vec<String>) -> Result<(String, usize), InterpolateError> {
    let mut j = start;
    while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '_') {
        j += 1;
    }
    let name: String = c[start..j].iter().collect();
    if name.is_empty() {
        return Err(InterpolateError::Syntax(format!("empty variable name in {:?}", c.iter().collect::<String>())));
    }
    let value = env.get(&name);
    let op: String = c[j..].iter().take(2).collect();
    let (colon, kind, rest) = if op.starts_with(":-") || op.starts_with(":?") || op.starts_with(":+") {
        (true, op.chars().nth(1), j + 2)
    } else if matches!(c.get(j), Some('-' | '?' | '+')) {
        (false, c.get(j).copied(), j + 1)
    } else if c.get(j) == Some(&'}') {
        if value.is_none() {
            unset.push(name);
        }
        return Ok((value.cloned().unwrap_or_default(), j + 1));
    } else {
        return Err(InterpolateError::Syntax(format!("bad ${{{name}…}} in {:?}", c.iter().collect::<String>())));
    };
    // The word after the operator may itself hold ${…}.
    let mut ignore = Vec::new();
    let (word, end) = expand(c, rest, env, &mut ignore, Some('}'))?;
    let set = match value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    let out = match kind {
        Some('-') => {
            if set {
                value.cloned().unwrap_or_default()
            } else {
                unset.extend(ignore);
                word
            }
        }
        Some('?') => {
            if set {
                value.cloned().unwrap_or_default()
            } else {
                return Err(InterpolateError::Required { variable: name, message: word });
            }
        }
        Some('+') => {
            if set {
                word
            } else {
                String::new()
            }
        }
        _ => String::new(),
    };
    Ok((out, end + 1))
}


#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> IndexMap<String, String> {
        [("A", "1"), ("EMPTY", ""), ("B", "two")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn i(s: &str) -> String {
        interpolate(s, &env(), &mut Vec::new()).unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(i("x$A-${B}y"), "x1-twoy");
        assert_eq!(i("$$A costs $$5"), "$A costs $5");
        assert_eq!(i("no vars"), "no vars");
    }

    #[test]
    fn defaults_distinguish_unset_from_empty() {
        assert_eq!(i("${NOPE:-d}"), "d");
        assert_eq!(i("${NOPE-d}"), "d");
        assert_eq!(i("${EMPTY:-d}"), "d");
        assert_eq!(i("${EMPTY-d}"), "");
        assert_eq!(i("${A:-d}"), "1");
        assert_eq!(i("${NOPE:-${B}}"), "two", "defaults nest");
        assert_eq!(i("${A:+set}${NOPE:+set}"), "set");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let e = interpolate("${NOPE:?set NOPE to the db url}", &env(), &mut Vec::new()).unwrap_err();
        assert_eq!(e, InterpolateError::Required { variable: "NOPE".into(), message: "set NOPE to the db url".into() });
        assert!(interpolate("${EMPTY:?x}", &env(), &mut Vec::new()).is_err());
        assert_eq!(interpolate("${EMPTY?x}", &env(), &mut Vec::new()).unwrap(), "");
    }

    #[test]
    fn unset_variables_are_empty_and_reported() {
        let mut unset = Vec::new();
        assert_eq!(interpolate("a${NOPE}b$ALSO", &env(), &mut unset).unwrap(), "ab");
        assert_eq!(unset, vec!["NOPE".to_string(), "ALSO".to_string()]);
        assert!(interpolate("${A", &env(), &mut unset).is_err());
    }
}
