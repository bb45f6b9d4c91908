//! Compose variable interpolation: `$V`, `${V}`, `${V:-d}`, `${V-d}`,
//! `${V:?e}`, `${V?e}`, `${V:+r}`, `${V+r}` and `$$`; defaults may nest
//! (`${A:-${B}}`) and are only evaluated when used. Applied to every string
//! value of a file (never to keys), before merging, as compose does.

use indexmap::IndexMap;
use serde_norway::Value;

use crate::compose::error::ComposeError;

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

/// What interpolation looked up, for warnings.
#[derive(Debug, Default)]
pub struct Lookups {
    /// Variables used without a value and without a default, with where.
    pub unset: Vec<(String, String)>,
    /// Variables whose value was substituted.
    pub used: Vec<String>,
    /// Where the string being interpolated sits (`services.web.image`).
    path: String,
}

impl Lookups {
    fn get<'e>(&mut self, env: &'e IndexMap<String, String>, name: &str) -> Option<&'e String> {
        let v = env.get(name);
        if v.is_some() && !self.used.iter().any(|u| u == name) {
            self.used.push(name.to_string());
        }
        v
    }
}

/// Interpolates `s`; unset variables without a default become "" and are
/// recorded in `lookups.unset` (compose warns about them).
///
/// # Errors
/// A required variable is unset, or a `${` is malformed.
pub fn interpolate(
    s: &str,
    env: &IndexMap<String, String>,
    lookups: &mut Lookups,
) -> Result<String, InterpolateError> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    expand(&chars, env, lookups)
}

/// Interpolates every string under `v`; `path` names `v` in messages.
///
/// # Errors
/// [`ComposeError::MissingVariable`] or [`ComposeError::Invalid`] naming `file` and the path.
pub fn tree(
    v: &mut Value,
    path: &str,
    file: &str,
    env: &IndexMap<String, String>,
    lookups: &mut Lookups,
) -> Result<(), ComposeError> {
    match v {
        Value::String(s) => {
            lookups.path = path.to_string();
            *s = interpolate(s, env, lookups).map_err(|e| match e {
                InterpolateError::Required { variable, message } => ComposeError::MissingVariable {
                    file: file.into(),
                    path: path.into(),
                    variable,
                    message,
                },
                InterpolateError::Syntax(message) => ComposeError::Invalid {
                    file: file.into(),
                    where_: path.into(),
                    key: "interpolation".into(),
                    message,
                },
            })?;
        }
        Value::Sequence(items) => {
            for (i, it) in items.iter_mut().enumerate() {
                tree(it, &format!("{path}[{i}]"), file, env, lookups)?;
            }
        }
        Value::Mapping(m) => {
            for (k, it) in m.iter_mut() {
                let key = super::merge::scalar(k).unwrap_or_default();
                let sub = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                tree(it, &sub, file, env, lookups)?;
            }
        }
        Value::Tagged(t) => tree(&mut t.value, path, file, env, lookups)?,
        _ => {}
    }
    Ok(())
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn expand(
    c: &[char],
    env: &IndexMap<String, String>,
    lookups: &mut Lookups,
) -> Result<String, InterpolateError> {
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] != '$' {
            out.push(c[i]);
            i += 1;
            continue;
        }
        match c.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let end = closing(c, i + 2)?;
                out.push_str(&braced(&c[i + 2..end], env, lookups)?);
                i = end + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < c.len() && is_name(c[j]) {
                    j += 1;
                }
                let name: String = c[i + 1..j].iter().collect();
                match lookups.get(env, &name) {
                    Some(v) => out.push_str(v),
                    None => {
                        let at = lookups.path.clone();
                        lookups.unset.push((name, at));
                    }
                }
                i = j;
            }
            // A lone `$` (`costs 5$`): kept literally, friendlier than compose's error.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `start`, skipping
/// nested `${…}` and `$$`.
fn closing(c: &[char], start: usize) -> Result<usize, InterpolateError> {
    let mut depth = 0;
    let mut i = start;
    while i < c.len() {
        match c[i] {
            '$' if c.get(i + 1) == Some(&'$') => i += 1,
            '$' if c.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' if depth == 0 => return Ok(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    Err(InterpolateError::Syntax(format!(
        "unclosed ${{ in {:?}: add the closing }}",
        c.iter().collect::<String>()
    )))
}

/// The body of `${…}` (between the braces).
fn braced(
    body: &[char],
    env: &IndexMap<String, String>,
    lookups: &mut Lookups,
) -> Result<String, InterpolateError> {
    let text = || body.iter().collect::<String>();
    let name_len = body.iter().take_while(|c| is_name(**c)).count();
    if name_len == 0 || !is_name_start(body[0]) {
        return Err(InterpolateError::Syntax(format!(
            "${{{}}} is not a variable name: use letters, digits and _",
            text()
        )));
    }
    let name: String = body[..name_len].iter().collect();
    let rest = &body[name_len..];
    let value = lookups.get(env, &name).cloned();
    if rest.is_empty() {
        if value.is_none() {
            let at = lookups.path.clone();
            lookups.unset.push((name, at));
        }
        return Ok(value.unwrap_or_default());
    }
    let (colon, op, word) = match rest {
        [':', op @ ('-' | '?' | '+'), word @ ..] => (true, *op, word),
        [op @ ('-' | '?' | '+'), word @ ..] => (false, *op, word),
        _ => {
            return Err(InterpolateError::Syntax(format!(
                "${{{}}}: after the name expected }}, :-, -, :?, ?, :+ or +",
                text()
            )))
        }
    };
    let set = value.as_ref().is_some_and(|v| !(colon && v.is_empty()));
    match (op, set) {
        ('-', true) | ('?', true) => Ok(value.unwrap_or_default()),
        ('-', false) | ('+', true) => expand(word, env, lookups),
        ('?', false) => {
            let message = expand(word, env, lookups)?;
            let message = if message.is_empty() {
                "it has no value".to_string()
            } else {
                message
            };
            Err(InterpolateError::Required {
                variable: name,
                message,
            })
        }
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> IndexMap<String, String> {
        [("A", "1"), ("EMPTY", ""), ("B", "two")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn i(s: &str) -> String {
        interpolate(s, &env(), &mut Lookups::default()).unwrap()
    }

    #[test]
    fn plain_and_braced_variables_and_escaped_dollars() {
        assert_eq!(i("x$A-${B}y"), "x1-twoy");
        assert_eq!(i("$$A costs $$5"), "$A costs $5");
        assert_eq!(i("$$$A"), "$1");
        assert_eq!(i("no vars"), "no vars");
        assert_eq!(i("5$ and $"), "5$ and $", "a lone dollar stays");
    }

    #[test]
    fn defaults_distinguish_unset_from_empty() {
        assert_eq!(i("${NOPE:-d}"), "d");
        assert_eq!(i("${NOPE-d}"), "d");
        assert_eq!(i("${EMPTY:-d}"), "d");
        assert_eq!(i("${EMPTY-d}"), "");
        assert_eq!(i("${A:-d}"), "1");
        assert_eq!(i("${NOPE:-}"), "");
        assert_eq!(i("${NOPE:-a b}"), "a b");
    }

    #[test]
    fn defaults_nest_and_are_evaluated_only_when_used() {
        assert_eq!(i("${NOPE:-${B}}"), "two");
        assert_eq!(i("${NOPE:-${ALSO:-deep}}"), "deep");
        assert_eq!(i("${NOPE:-x$$y}"), "x$y");
        assert_eq!(i("${A:-${NOPE:?never evaluated}}"), "1");
        let mut l = Lookups::default();
        interpolate("${A:-${NOPE}}", &env(), &mut l).unwrap();
        assert!(
            l.unset.is_empty(),
            "an unused default does not warn: {:?}",
            l.unset
        );
    }

    #[test]
    fn alternatives_replace_set_values() {
        assert_eq!(
            i("${A:+set}${NOPE:+set}${EMPTY:+set}${EMPTY+empty}"),
            "setempty"
        );
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let e = interpolate(
            "${NOPE:?set NOPE to the db url}",
            &env(),
            &mut Lookups::default(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            InterpolateError::Required {
                variable: "NOPE".into(),
                message: "set NOPE to the db url".into()
            }
        );
        let e = interpolate("${NOPE?}", &env(), &mut Lookups::default()).unwrap_err();
        assert_eq!(
            e,
            InterpolateError::Required {
                variable: "NOPE".into(),
                message: "it has no value".into()
            }
        );
        assert!(
            interpolate("${EMPTY:?x}", &env(), &mut Lookups::default()).is_err(),
            ":? refuses an empty value"
        );
        assert_eq!(i("${EMPTY?x}"), "", "? accepts an empty value");
    }

    #[test]
    fn unset_variables_are_empty_and_reported_with_where() {
        let mut l = Lookups {
            path: "services.web.image".into(),
            ..Lookups::default()
        };
        assert_eq!(
            interpolate("a${NOPE}b$ALSO$A", &env(), &mut l).unwrap(),
            "ab1"
        );
        let names: Vec<&str> = l.unset.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["NOPE", "ALSO"]);
        assert_eq!(l.unset[0].1, "services.web.image");
        assert_eq!(l.used, vec!["A".to_string()]);
    }

    #[test]
    fn malformed_references_are_syntax_errors() {
        for bad in ["${A", "${}", "${1A}", "${A B}", "${A:x}"] {
            assert!(
                matches!(
                    interpolate(bad, &env(), &mut Lookups::default()),
                    Err(InterpolateError::Syntax(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_tree_is_interpolated_in_values_not_keys_and_errors_name_the_path() {
        let mut v: Value = serde_norway::from_str(
            "services:\n  web:\n    image: x:$A\n    environment: {$B: '${B}'}\n",
        )
        .unwrap();
        tree(&mut v, "", "c.yaml", &env(), &mut Lookups::default()).unwrap();
        let expected: Value = serde_norway::from_str(
            "services:\n  web:\n    image: x:1\n    environment: {$B: two}\n",
        )
        .unwrap();
        assert_eq!(v, expected);
        let mut v: Value =
            serde_norway::from_str("services:\n  web:\n    command: [a, '${NOPE:?give it}']\n")
                .unwrap();
        let e = tree(&mut v, "", "c.yaml", &env(), &mut Lookups::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.yaml")
                && e.contains("services.web.command[1]")
                && e.contains("NOPE")
                && e.contains("give it"),
            "{e}"
        );
    }
}
