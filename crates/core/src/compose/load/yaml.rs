//! Reading one compose file into a YAML tree, with the file, line and column
//! on every syntax error, and YAML merge keys (`<<: *anchor`) applied.

use std::path::Path;

use serde_norway::{Mapping, Value};

use crate::compose::error::ComposeError;

/// Parses `path` into its top-level mapping (an empty file is an empty mapping).
///
/// # Errors
/// [`ComposeError::Io`] when unreadable, [`ComposeError::Syntax`] with the
/// position when malformed, [`ComposeError::Invalid`] when not a mapping.
pub fn read(path: &Path) -> Result<Mapping, ComposeError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ComposeError::Io {
        file: file.clone(),
        message: e.to_string(),
    })?;
    parse(&file, &text)
}

/// Parses `text`, naming `file` in errors.
///
/// # Errors
/// As [`read`].
pub fn parse(file: &str, text: &str) -> Result<Mapping, ComposeError> {
    let syntax = |e: serde_norway::Error| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // The position is in our own prefix; keep the parser's words (and any context) only.
        let message = e
            .to_string()
            .replacen(&format!(" at line {line} column {column}"), "", 1);
        ComposeError::Syntax {
            file: file.to_string(),
            line,
            column,
            message,
        }
    };
    let mut v: Value = serde_norway::from_str(text).map_err(syntax)?;
    // YAML merge keys (`<<: *anchor`), which compose files use with x-* fragments.
    v.apply_merge().map_err(syntax)?;
    match v {
        Value::Mapping(m) => Ok(m),
        Value::Null => Ok(Mapping::new()),
        _ => Err(ComposeError::Invalid {
            file: file.to_string(),
            where_: "top level".into(),
            key: "(document)".into(),
            message: "a compose file must be a mapping with `services:`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_file_line_and_column_once() {
        let e = parse(
            "compose.yaml",
            "services:\n  web:\n    image: x\n   bad: [\n",
        )
        .unwrap_err();
        let ComposeError::Syntax {
            file,
            line,
            column,
            message,
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(file, "compose.yaml");
        assert_eq!((*line, *column), (4, 4), "{message}");
        let text = e.to_string();
        assert!(
            text.starts_with("compose.yaml: line 4, column 4: "),
            "{text}"
        );
        assert!(
            !message.contains("line 4 column 4"),
            "the position is not repeated: {text}"
        );
    }

    #[test]
    fn merge_keys_apply_and_an_empty_file_is_empty() {
        let m = parse(
            "f",
            "x-base: &b {init: true}\nservices:\n  web:\n    <<: *b\n    image: x\n",
        )
        .unwrap();
        assert_eq!(m["services"]["web"]["init"], Value::Bool(true));
        assert!(parse("f", "").unwrap().is_empty());
        assert!(matches!(
            parse("f", "- a\n"),
            Err(ComposeError::Invalid { .. })
        ));
    }

    #[test]
    fn duplicate_keys_are_syntax_errors() {
        assert!(matches!(
            parse("f", "services: {}\nservices: {}\n"),
            Err(ComposeError::Syntax { .. })
        ));
    }
}
