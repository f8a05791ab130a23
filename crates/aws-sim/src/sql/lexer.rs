//! Tokens of the SQL subset: words (keywords and bare identifiers, compared case-insensitively and folded
//! to lower case as Redshift does), double-quoted identifiers (case kept, `""` is a quote), single-quoted
//! strings (`''` is a quote), numbers and single-character symbols.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A keyword or bare identifier, as written.
    Word(String),
    /// A double-quoted identifier, unescaped.
    Quoted(String),
    /// A single-quoted string literal, unescaped.
    Str(String),
    Num(String),
    Sym(char),
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) | Tok::Num(w) => w.clone(),
            Tok::Quoted(q) => format!("\"{q}\""),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Sym(c) => c.to_string(),
        }
    }
}

pub fn tokens(sql: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' {
            let (text, next) = quoted(&chars, i, c)?;
            out.push(if c == '"' {
                if text.is_empty() {
                    return Err("ERROR: zero-length delimited identifier".into());
                }
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            });
            i = next;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Sym(c));
            i += 1;
        }
    }
    Ok(out)
}

/// The text between `quote`s starting at `start`, with doubled quotes collapsed, and the index after it.
fn quoted(chars: &[char], start: usize, quote: char) -> Result<(String, usize), String> {
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(format!(
                    "ERROR: unterminated quoted {} at or near \"{}\"",
                    if quote == '"' { "identifier" } else { "string" },
                    chars[start..].iter().take(20).collect::<String>()
                ))
            }
            Some(c) if *c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    text.push(quote);
                    i += 2;
                } else {
                    return Ok((text, i + 1));
                }
            }
            Some(c) => {
                text.push(*c);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_by_doubling() {
        let t = tokens(r#"CREATE USER "IAMR:a""b" PASSWORD 'it''s'; -- note"#).expect("lexes");
        assert_eq!(
            t,
            vec![
                Tok::Word("CREATE".into()),
                Tok::Word("USER".into()),
                Tok::Quoted("IAMR:a\"b".into()),
                Tok::Word("PASSWORD".into()),
                Tok::Str("it's".into()),
                Tok::Sym(';'),
            ]
        );
        assert!(tokens("SELECT 'open").is_err());
    }
}
