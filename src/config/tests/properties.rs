//! The `.properties` parser: Java `Properties.load` semantics, typed errors, property tests.

use super::log_capture;

use crate::config::properties::{escape_key, escape_value, Properties, PropertiesError};
use proptest::prelude::*;

fn parse(text: &str) -> Vec<(String, String, usize)> {
    Properties::parse(text, "test.properties")
        .unwrap()
        .iter()
        .map(|p| (p.key.clone(), p.value.clone(), p.line))
        .collect()
}

fn kv(text: &str) -> Vec<(String, String)> {
    parse(text).into_iter().map(|(k, v, _)| (k, v)).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn separators_and_white_space() {
    assert_eq!(
        kv("a=1\nb:2\nc 3\nd   =   4\ne\t:\t5\nf = = 6\ng\nh=\n  i  =  7  \n"),
        pairs(&[
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
            ("f", "= 6"),
            ("g", ""),
            ("h", ""),
            ("i", "7  "),
        ])
    );
}

#[test]
fn values_keep_equals_hash_colon_and_spaces() {
    // The official Go parser drops values containing `=`, the Python one cuts at `#`.
    assert_eq!(
        kv("secret = abc=def==\nurl=https://h:1/p?q=1#frag\npw = a b  c # not a comment\nbang=!x\n"),
        pairs(&[
            ("secret", "abc=def=="),
            ("url", "https://h:1/p?q=1#frag"),
            ("pw", "a b  c # not a comment"),
            ("bang", "!x"),
        ])
    );
}

#[test]
fn comments_only_at_line_start() {
    assert_eq!(
        kv("# c1\n   # c2\n! c3\n\t! c4\na=1\n#b=2\nc=#3\n"),
        pairs(&[("a", "1"), ("c", "#3")])
    );
}

#[test]
fn a_comment_never_continues() {
    assert_eq!(kv("# comment \\\na=1\n"), pairs(&[("a", "1")]));
}

#[test]
fn continuation_lines() {
    assert_eq!(
        kv("a=one \\\n    two\\\n\tthree\nb=x\\\\\nc=y\\\\\\\n  z\n"),
        pairs(&[("a", "one twothree"), ("b", "x\\"), ("c", "y\\z")])
    );
    // A continuation line that looks like a comment is content.
    assert_eq!(kv("a=1\\\n# 2\n"), pairs(&[("a", "1# 2")]));
    // A blank continuation line ends the logical line.
    assert_eq!(kv("a=1\\\n   \nb=2\n"), pairs(&[("a", "1"), ("b", "2")]));
    // A trailing backslash at end of file is dropped.
    assert_eq!(kv("a=1\\"), pairs(&[("a", "1")]));
    // The key itself may continue.
    assert_eq!(kv("ke\\\n  y=v\n"), pairs(&[("key", "v")]));
}

#[test]
fn line_numbers_are_those_of_the_first_physical_line() {
    assert_eq!(
        parse("\n# c\na=1\\\n  2\\\n  3\n\r\nb=2\r\nc=3\rd=4"),
        vec![
            ("a".into(), "123".into(), 3),
            ("b".into(), "2".into(), 7),
            ("c".into(), "3".into(), 8),
            ("d".into(), "4".into(), 9),
        ]
    );
}

#[test]
fn escapes() {
    assert_eq!(
        kv("a=\\t\\n\\r\\f|\\\\|\\q\\=\\:\\ \nk\\=e\\:y\\ x=v\nu=\\u0041\\u00e9\\u4E2D\\uD83D\\uDE00\nnul=\\u0000\n"),
        pairs(&[
            ("a", "\t\n\r\x0c|\\|q=: "),
            ("k=e:y x", "v"),
            ("u", "Aé中😀"),
            ("nul", "\0"),
        ])
    );
}

#[test]
fn utf8_text_and_bom() {
    assert_eq!(kv("\u{FEFF}名前=値 ü\n"), pairs(&[("名前", "値 ü")]));
    let props = Properties::parse_bytes(b"\xEF\xBB\xBFa=1\n", "t").unwrap();
    assert_eq!(props.get("a").unwrap().value, "1");
}

#[test]
fn malformed_unicode_escape_names_line_and_key() {
    for (text, line, key) in [
        ("a=1\nb=\\u12\n", 2, Some("b")),
        ("a=1\nb=x\\uZZZZ\n", 2, Some("b")),
        ("a=1\n\nb=x\\\n  \\u00G1", 4, Some("b")),
        ("\\u12=x", 1, None),
    ] {
        let err = Properties::parse(text, "t").unwrap_err();
        assert_eq!(
            err,
            PropertiesError::MalformedUnicodeEscape {
                line,
                key: key.map(String::from)
            },
            "{text:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("line {line}")), "{msg}");
        assert!(msg.contains("four hexadecimal digits"), "{msg}");
    }
}

#[test]
fn unpaired_surrogates_are_errors() {
    for text in ["a=\\uD83D", "a=\\uD83Dx", "a=\\uDE00", "a=\\uD83D\\u0041"] {
        let err = Properties::parse(text, "t").unwrap_err();
        assert!(
            matches!(err, PropertiesError::UnpairedSurrogate { line: 1, .. }),
            "{text}: {err:?}"
        );
    }
}

#[test]
fn non_utf8_is_rejected_with_line() {
    let err = Properties::parse_bytes(b"a=1\nb=2\r\nc=caf\xe9\n", "t").unwrap_err();
    assert_eq!(
        err,
        PropertiesError::NotUtf8 {
            line: 3,
            byte_offset: 14
        }
    );
    assert!(err.to_string().contains("UTF-8"));
}

#[test]
fn duplicate_keys_last_wins_with_warning_naming_both_lines() {
    let (props, logs) = log_capture::capture_logs(|| {
        Properties::parse("a=firstval\nb=2\n\na=secondval\n", "dup.properties").unwrap()
    });
    let a = props.get("a").unwrap();
    assert_eq!((a.value.as_str(), a.line), ("secondval", 4));
    assert_eq!(props.len(), 2);
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("dup.properties"), "{logs}");
    assert!(logs.contains("line 1 and again on line 4"), "{logs}");
    // The values are not logged.
    assert!(
        !logs.contains("firstval") && !logs.contains("secondval"),
        "{logs}"
    );
}

#[test]
fn debug_hides_values() {
    let props = Properties::parse("credentials_access_secret=TopSecretValue\n", "t").unwrap();
    let dbg = format!("{props:?}");
    assert!(!dbg.contains("TopSecretValue"), "{dbg}");
    assert!(dbg.contains("credentials_access_secret"), "{dbg}");
}

#[test]
fn escape_matches_java_store_examples() {
    assert_eq!(escape_key("a b=c:d#e!f\\"), "a\\ b\\=c\\:d\\#e\\!f\\\\");
    assert_eq!(escape_value(" lead and trail "), "\\ lead and trail ");
    assert_eq!(escape_value("t\tn\nr\rf\x0c"), "t\\tn\\nr\\rf\\f");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC*|[\\\\=: \t\r\n#!u0-9a-fA-FD]{0,64}") {
        let _ = Properties::parse(&text, "fuzz");
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Properties::parse_bytes(&bytes, "fuzz");
    }

    #[test]
    fn escaping_round_trips(
        entries in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..8),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let text: String = entries
            .iter()
            .map(|(k, v)| format!("{}={}{eol}", escape_key(k), escape_value(v)))
            .collect();
        let props = Properties::parse(&text, "roundtrip").unwrap();
        prop_assert_eq!(props.len(), entries.len());
        for (i, (k, v)) in entries.iter().enumerate() {
            let p = props.get(k).unwrap();
            prop_assert_eq!(&p.value, v);
            prop_assert_eq!(p.line, i + 1);
        }
    }

    #[test]
    fn round_trip_with_space_separator_and_continuations(key in "[a-z_]{1,12}", value in any::<String>()) {
        // Split the escaped value with a continuation at a position that does not break an escape.
        let escaped = escape_value(&value);
        let cut = escaped.char_indices().map(|(i, _)| i).find(|&i| i > 0 && !escaped[..i].ends_with('\\')).unwrap_or(escaped.len());
        let (head, tail) = escaped.split_at(cut);
        let tail = if tail.starts_with(' ') { format!("\\{tail}") } else { tail.to_string() };
        let text = format!("{key} {head}\\\n    {tail}\n");
        let props = Properties::parse(&text, "roundtrip").unwrap();
        prop_assert_eq!(&props.get(&key).unwrap().value, &value);
    }
}
