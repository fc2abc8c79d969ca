//! A `.properties` parser with the semantics of Java's `java.util.Properties.load(Reader)`.
//!
//! The official clients read `managed_credentials_providers.properties` with four different
//! parsers (Java's, a Go one that drops values containing `=`, a Python one that cuts values at
//! `#`, ...). We implement the one documented grammar, Java's, so every file that works with the
//! Java client means the same thing here:
//!
//! * A *logical line* may span several physical lines: a line ending in an odd number of
//!   backslashes continues on the next one, whose leading white space is dropped.
//! * `#` or `!` start a comment only as the first non-white character of a (non-continuation)
//!   line. A comment never continues.
//! * The key ends at the first unescaped `=`, `:` or white space (space, tab, form feed); white
//!   space around the separator is skipped; the value is the rest of the line, kept as is
//!   (including `=`, `#`, `:` and trailing spaces).
//! * Escapes: `\t`, `\n`, `\r`, `\f`, `\uXXXX` (UTF-16, surrogate pairs combined); any other
//!   `\c` is `c` (so `\\` is a backslash, `\=` an equals sign, `\ ` a space).
//!
//! Unlike Java we read UTF-8 (a leading BOM is accepted) rather than ISO-8859-1, and a malformed
//! `\u` escape or an unpaired surrogate is a typed error carrying the line number.
//!
//! Hand-written because no maintained crate implements these semantics exactly (the
//! `java-properties` crate is unmaintained and differs on errors and line numbers).

use std::collections::HashMap;

use zeroize::Zeroize;

/// One `key = value` pair, after escape processing. `Debug` hides the value (it may be a
/// secret) and the value is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Property {
    /// The key.
    pub key: String,
    /// The value, exactly as the file says after escape processing (not trimmed).
    pub value: String,
    /// 1-based physical line on which the logical line starts.
    pub line: usize,
}

/// A syntax problem in a `.properties` text. Messages never include values (they may be
/// secrets); they name the line and, when known, the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropertiesError {
    /// The text is not UTF-8.
    #[error("line {line}: the file is not valid UTF-8 (invalid byte at offset {byte_offset}); save it as UTF-8 (non-ASCII characters may also be written as \\uXXXX escapes)")]
    NotUtf8 {
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 0-based byte offset of the first invalid byte.
        byte_offset: usize,
    },
    /// `\u` not followed by four hexadecimal digits.
    #[error("line {line}{}: malformed \\uXXXX escape: `\\u` must be followed by exactly four hexadecimal digits (write a literal backslash as `\\\\`)", in_key(.key))]
    MalformedUnicodeEscape {
        /// 1-based physical line of the escape.
        line: usize,
        /// The key whose value holds the escape (`None` when the escape is in the key itself).
        key: Option<String>,
    },
    /// A `\uD800`–`\uDFFF` escape that is not part of a high + low surrogate pair.
    #[error("line {line}{}: unpaired UTF-16 surrogate in a \\uXXXX escape: a \\uD800-\\uDBFF escape must be followed directly by a \\uDC00-\\uDFFF escape (or write the character itself in UTF-8)", in_key(.key))]
    UnpairedSurrogate {
        /// 1-based physical line of the escape.
        line: usize,
        /// The key whose value holds the escape (`None` when the escape is in the key itself).
        key: Option<String>,
    },
}

impl std::fmt::Debug for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Property")
            .field("key", &self.key)
            .field("value", &"<redacted>")
            .field("line", &self.line)
            .finish()
    }
}

impl Drop for Property {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

fn in_key(key: &Option<String>) -> String {
    match key {
        Some(k) => format!(", in the value of key `{k}`"),
        None => ", in a key".to_string(),
    }
}

/// Parsed properties: one entry per distinct key (the last occurrence wins), in the order in
/// which keys first appear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Properties {
    entries: Vec<Property>,
    index: HashMap<String, usize>,
}

impl Properties {
    /// Parses UTF-8 bytes (a leading BOM is skipped). `origin` names the text in warnings.
    pub(crate) fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Self, PropertiesError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text, origin),
            Err(e) => {
                let byte_offset = e.valid_up_to();
                let line = 1 + line_count(&bytes[..byte_offset]);
                Err(PropertiesError::NotUtf8 { line, byte_offset })
            }
        }
    }

    /// Parses a text (a leading BOM is skipped). A key given more than once keeps its last
    /// value; a warning naming `origin`, the key and both lines is logged.
    pub(crate) fn parse(text: &str, origin: &str) -> Result<Self, PropertiesError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut props = Properties::default();
        for logical in logical_lines(text) {
            props.insert(split_and_unescape(&logical)?, origin);
        }
        Ok(props)
    }

    fn insert(&mut self, property: Property, origin: &str) {
        match self.index.get(&property.key) {
            Some(&i) => {
                let earlier = &mut self.entries[i];
                tracing::warn!(
                    origin,
                    key = %property.key,
                    first_line = earlier.line,
                    line = property.line,
                    "{origin}: key `{}` is set on line {} and again on line {}; the value from line {} is used (remove one of them)",
                    property.key,
                    earlier.line,
                    property.line,
                    property.line
                );
                *earlier = property;
            }
            None => {
                self.index.insert(property.key.clone(), self.entries.len());
                self.entries.push(property);
            }
        }
    }

    /// The entry for `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&Property> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    /// All entries, in the order keys first appear.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Property> {
        self.entries.iter()
    }

    #[cfg(test)]
    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

fn line_count(bytes: &[u8]) -> usize {
    // Count line terminators the way the parser does: "\r\n", "\r" and "\n" each end one line.
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => n += 1,
            b'\r' => {
                n += 1;
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    n
}

/// A logical line: its characters (continuations joined, the joining backslash removed) and
/// the physical line of each character.
struct LogicalLine {
    chars: Vec<char>,
    lines: Vec<usize>,
    start_line: usize,
}

impl Drop for LogicalLine {
    fn drop(&mut self) {
        self.chars.zeroize();
    }
}

fn is_white(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits the text into logical lines, a transcription of Java's `Properties.LineReader`.
fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;

    let mut buf: Vec<char> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut start_line = 1usize;
    let mut skip_white = true;
    let mut is_comment = false;
    let mut is_new_line = true;
    let mut appended_line_begin = false;
    let mut preceding_backslash = false;

    loop {
        let Some(c) = chars.next() else {
            if !buf.is_empty() && !is_comment {
                if preceding_backslash {
                    buf.pop();
                    lines.pop();
                }
                out.push(LogicalLine {
                    chars: std::mem::take(&mut buf),
                    lines: std::mem::take(&mut lines),
                    start_line,
                });
            }
            return out;
        };
        let is_eol = c == '\n' || c == '\r';
        if c == '\r' && chars.peek() == Some(&'\n') {
            chars.next();
        }
        let this_line = line;
        if is_eol {
            line += 1;
        }

        if skip_white {
            if is_white(c) || (!appended_line_begin && is_eol) {
                continue;
            }
            skip_white = false;
            appended_line_begin = false;
        }
        if is_new_line {
            is_new_line = false;
            start_line = this_line;
            if c == '#' || c == '!' {
                is_comment = true;
                continue;
            }
        }

        if !is_eol {
            if !is_comment {
                buf.push(c);
                lines.push(this_line);
            }
            preceding_backslash = c == '\\' && !preceding_backslash;
            continue;
        }

        // End of a physical line.
        if is_comment || buf.is_empty() {
            is_comment = false;
            is_new_line = true;
            skip_white = true;
            preceding_backslash = false;
            buf.clear();
            lines.clear();
            continue;
        }
        if preceding_backslash {
            // Continuation: drop the backslash, skip the next line's leading white space.
            buf.pop();
            lines.pop();
            skip_white = true;
            appended_line_begin = true;
            preceding_backslash = false;
        } else {
            out.push(LogicalLine {
                chars: std::mem::take(&mut buf),
                lines: std::mem::take(&mut lines),
                start_line,
            });
            skip_white = true;
            is_new_line = true;
        }
    }
}

/// Splits a logical line into key and value (Java's `Properties.load0`) and unescapes both.
fn split_and_unescape(logical: &LogicalLine) -> Result<Property, PropertiesError> {
    let chars = &logical.chars;
    let limit = chars.len();
    let mut key_len = 0;
    let mut value_start = limit;
    let mut has_sep = false;
    let mut preceding_backslash = false;
    while key_len < limit {
        let c = chars[key_len];
        if (c == '=' || c == ':') && !preceding_backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        } else if is_white(c) && !preceding_backslash {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        key_len += 1;
    }
    while value_start < limit {
        let c = chars[value_start];
        if !is_white(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let key = unescape(&chars[..key_len], &logical.lines[..key_len], None)?;
    let value = unescape(
        &chars[value_start..],
        &logical.lines[value_start..],
        Some(&key),
    )?;
    Ok(Property {
        key,
        value,
        line: logical.start_line,
    })
}

/// Java's `loadConvert`, with `\u` surrogate pairs combined and typed errors.
fn unescape(chars: &[char], lines: &[usize], key: Option<&str>) -> Result<String, PropertiesError> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else {
            // A lone trailing backslash cannot survive line joining; drop it like Java 9+.
            break;
        };
        let escape_line = lines[i - 1];
        i += 1;
        match e {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'u' => {
                let unit =
                    hex4(chars, &mut i).ok_or_else(|| PropertiesError::MalformedUnicodeEscape {
                        line: escape_line,
                        key: key.map(str::to_owned),
                    })?;
                let unpaired = || PropertiesError::UnpairedSurrogate {
                    line: escape_line,
                    key: key.map(str::to_owned),
                };
                match unit {
                    0xD800..=0xDBFF => {
                        // Must be followed by `\u` + a low surrogate.
                        if chars.get(i) != Some(&'\\') || chars.get(i + 1) != Some(&'u') {
                            return Err(unpaired());
                        }
                        let mut j = i + 2;
                        let low = hex4(chars, &mut j).ok_or_else(|| {
                            PropertiesError::MalformedUnicodeEscape {
                                line: lines[i],
                                key: key.map(str::to_owned),
                            }
                        })?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(unpaired());
                        }
                        i = j;
                        let cp = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        out.push(char::from_u32(cp).ok_or_else(unpaired)?);
                    }
                    0xDC00..=0xDFFF => return Err(unpaired()),
                    _ => out.push(char::from_u32(u32::from(unit)).ok_or_else(unpaired)?),
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn hex4(chars: &[char], i: &mut usize) -> Option<u16> {
    let mut value: u16 = 0;
    for _ in 0..4 {
        let digit = chars.get(*i)?.to_digit(16)?;
        value = (value << 4) | digit as u16;
        *i += 1;
    }
    Some(value)
}

#[cfg(test)]
/// Escapes a key so that [`Properties::parse`] reads it back unchanged (Java's `saveConvert`
/// with `escapeSpace = true`; non-ASCII characters are written as UTF-8).
pub(crate) fn escape_key(key: &str) -> String {
    escape(key, true)
}

#[cfg(test)]
/// Escapes a value so that [`Properties::parse`] reads it back unchanged after `key=`.
pub(crate) fn escape_value(value: &str) -> String {
    escape(value, false)
}

#[cfg(test)]
fn escape(text: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || is_key => out.push_str("\\ "),
            // A BOM at the start of the text would be skipped as a byte-order mark.
            '\u{FEFF}' => out.push_str("\\uFEFF"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, String, usize)> {
        Properties::parse(text, "test")
            .unwrap()
            .iter()
            .map(|p| (p.key.clone(), p.value.clone(), p.line))
            .collect()
    }

    #[test]
    fn continuation_keeps_physical_line_of_escape_errors() {
        let err = Properties::parse("a = x\\\n   \\u12G4\n", "t").unwrap_err();
        assert_eq!(
            err,
            PropertiesError::MalformedUnicodeEscape {
                line: 2,
                key: Some("a".into())
            }
        );
    }

    #[test]
    fn crlf_and_cr_count_as_single_lines() {
        assert_eq!(
            parse("a=1\r\nb=2\rc=3\n"),
            vec![
                ("a".into(), "1".into(), 1),
                ("b".into(), "2".into(), 2),
                ("c".into(), "3".into(), 3)
            ]
        );
    }
}
