//! Splitting directive arguments the way Apache's config reader does.
//!
//! Directives registered as RAW_ARGS get the rest of the line; we split it
//! ourselves so the rules live in one tested place. Words follow
//! `ap_getword_conf`: whitespace separates, a word that starts with `"` or `'`
//! runs to the matching quote, and a backslash before that quote keeps it.
//! Options (`name=value`) may quote just the value: `python-path="/a b"`.

/// One `name=value` option as written after the positional arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionWord {
    pub name: String,
    /// `None` when the word had no `=` at all (always an error for our options).
    pub value: Option<String>,
}

/// Splits `line` into words, honouring quotes.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let (word, after) = take_word(rest)?;
        words.push(word);
        rest = after.trim_start();
    }
    Ok(words)
}

/// Splits `line` into `name=value` options; values may be quoted.
pub fn split_options(line: &str) -> Result<Vec<OptionWord>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        if name.is_empty() {
            return Err(format!("option with no name in '{}'", rest));
        }
        rest = &rest[name_end..];
        if let Some(after_eq) = rest.strip_prefix('=') {
            let (value, after) = if after_eq.is_empty() || after_eq.starts_with(char::is_whitespace)
            {
                (String::new(), after_eq)
            } else {
                take_word(after_eq)?
            };
            out.push(OptionWord {
                name,
                value: Some(value),
            });
            rest = after.trim_start();
        } else {
            out.push(OptionWord { name, value: None });
            rest = rest.trim_start();
        }
    }
    Ok(out)
}

/// Takes one word from the start of `s` (which has no leading whitespace).
fn take_word(s: &str) -> Result<(String, &str), String> {
    let quote = match s.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => {
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            return Ok((s[..end].to_string(), &s[end..]));
        }
    };
    let body = &s[1..];
    let mut word = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            match chars.clone().next() {
                Some((_, n)) if n == quote => {
                    word.push(n);
                    chars.next();
                }
                _ => word.push(c),
            }
        } else if c == quote {
            return Ok((word, &body[i + c.len_utf8()..]));
        } else {
            word.push(c);
        }
    }
    Err(format!("unterminated quote in {}", s))
}

/// Parses Apache's On/Off flag words, case-insensitively.
pub fn parse_on_off(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("on") {
        Some(true)
    } else if value.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted_words() {
        assert_eq!(
            split_words(r#"  /app  "/srv/my app/a.wsgi" 'x y'  "#).unwrap(),
            vec!["/app", "/srv/my app/a.wsgi", "x y"]
        );
        assert_eq!(
            split_words(r#""say \"hi\"" b"#).unwrap(),
            vec![r#"say "hi""#, "b"]
        );
        assert_eq!(split_words(r"a\b").unwrap(), vec![r"a\b"]);
        assert!(split_words(r#""open"#).is_err());
        assert!(split_words("").unwrap().is_empty());
    }

    #[test]
    fn options_with_quoted_values() {
        let opts =
            split_options(r#"processes=2 python-path="/a b:/c" display-name=%{GROUP} x"#).unwrap();
        assert_eq!(opts.len(), 4);
        assert_eq!(
            opts[0],
            OptionWord {
                name: "processes".into(),
                value: Some("2".into())
            }
        );
        assert_eq!(opts[1].value.as_deref(), Some("/a b:/c"));
        assert_eq!(opts[2].value.as_deref(), Some("%{GROUP}"));
        assert_eq!(
            opts[3],
            OptionWord {
                name: "x".into(),
                value: None
            }
        );
        assert_eq!(
            split_options("home= user=a").unwrap()[0].value.as_deref(),
            Some("")
        );
    }

    #[test]
    fn on_off() {
        assert_eq!(parse_on_off("ON"), Some(true));
        assert_eq!(parse_on_off("off"), Some(false));
        assert_eq!(parse_on_off("yes"), None);
    }
}
