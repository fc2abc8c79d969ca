//! Password sources: file trimming and JSON form, env vars, order and fall-through, errors.
//!
//! Every test uses its own environment variable names, so tests can run in parallel.

use super::support as identity_support;

use std::path::{Path, PathBuf};

use crate::config::{PasswordSource, SecretString};
use crate::identity::{IdentityError, Password};
use identity_support::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn from_file(bytes: &[u8]) -> Result<Password, IdentityError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "pw.txt", bytes);
    Password::resolve(&vec![PasswordSource::File(path)])
}

#[test]
fn file_is_trimmed() {
    for content in [
        "s3cret pass\n",
        "s3cret pass\r\n",
        "  s3cret pass \t\r\n\r\n",
        "\u{feff}s3cret pass\n",
        "s3cret pass",
    ] {
        let pw = from_file(content.as_bytes()).unwrap();
        assert_eq!(pw.expose(), "s3cret pass", "{content:?}");
    }
}

#[test]
fn fixture_password_file_has_trailing_newline_and_is_trimmed() {
    let raw = std::fs::read(instance_password_file()).unwrap();
    assert_eq!(raw.last(), Some(&b'\n'));
    let pw = Password::resolve(&vec![PasswordSource::File(instance_password_file())]).unwrap();
    assert_eq!(pw.expose(), PASSWORD);
}

#[test]
fn json_password_file() {
    let pw = from_file(br#"{"ClientKeyPassword": "abc\"def"}"#).unwrap();
    assert_eq!(pw.expose(), "abc\"def");
    let pw = from_file(b"\n  {\n \"ClientKeyPassword\" : \" x y \", \"Other\": 1 }\n").unwrap();
    assert_eq!(pw.expose(), "x y");
}

#[test]
fn json_password_file_without_member() {
    let err = from_file(br#"{"Password": "hunter2-secret"}"#).unwrap_err();
    match &err {
        IdentityError::PasswordFileJson { detail, .. } => {
            assert!(detail.contains("ClientKeyPassword"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[test]
fn json_password_file_invalid_never_echoes_content() {
    for content in [
        &br#"{"ClientKeyPassword": 12345678}"#[..],
        &br#"{"ClientKeyPassword": "hunter2-secret""#[..],
        &br#"{hunter2-secret}"#[..],
    ] {
        let err = from_file(content).unwrap_err();
        assert!(
            matches!(err, IdentityError::PasswordFileJson { .. }),
            "{err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("12345678"),
            "{shown}"
        );
        assert!(shown.contains("line 1"), "{shown}");
    }
}

#[test]
fn empty_password_file() {
    for content in [
        &b""[..],
        b"\n",
        b" \r\n\t",
        br#"{"ClientKeyPassword": "  "}"#,
    ] {
        let err = from_file(content).unwrap_err();
        assert!(
            matches!(err, IdentityError::PasswordFileEmpty { .. }),
            "{content:?}: {err:?}"
        );
        assert!(err.to_string().contains("is empty"));
    }
}

#[test]
fn password_file_not_utf8() {
    let err = from_file(&[0x66, 0xff, 0xfe, 0x0a]).unwrap_err();
    assert!(
        matches!(err, IdentityError::PasswordFileNotUtf8 { .. }),
        "{err:?}"
    );
}

#[test]
fn password_file_unreadable() {
    // A directory cannot be read as a file (works as root too, unlike chmod 000).
    let dir = tempfile::tempdir().unwrap();
    let err = Password::resolve(&vec![PasswordSource::File(dir.path().to_owned())]).unwrap_err();
    match &err {
        IdentityError::PasswordFileUnreadable { path, .. } => assert_eq!(path, dir.path()),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn missing_password_file_is_an_error_not_a_fall_through() {
    let var = "IDENTITY_TEST_PW_AFTER_MISSING_FILE";
    std::env::set_var(var, "from-env");
    let path = PathBuf::from("/nonexistent/identity/pw.txt");
    let err = Password::resolve(&vec![
        PasswordSource::File(path.clone()),
        PasswordSource::EnvVar(var.into()),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, IdentityError::PasswordFileMissing { path: p } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/identity/pw.txt"));
}

#[test]
fn named_env_var() {
    let var = "IDENTITY_TEST_PW_NAMED";
    std::env::set_var(var, " env-secret\r\n");
    let pw = Password::resolve(&vec![PasswordSource::EnvVar(var.into())]).unwrap();
    assert_eq!(pw.expose(), "env-secret");
}

#[test]
fn unset_and_empty_env_vars_fall_through_in_order() {
    let unset = "IDENTITY_TEST_PW_UNSET";
    let empty = "IDENTITY_TEST_PW_EMPTY";
    let set = "IDENTITY_TEST_PW_SET_LATER";
    std::env::remove_var(unset);
    std::env::set_var(empty, "  ");
    std::env::set_var(set, "third");
    let pw = Password::resolve(&vec![
        PasswordSource::EnvVar(unset.into()),
        PasswordSource::EnvVar(empty.into()),
        PasswordSource::EnvVar(set.into()),
        PasswordSource::File(instance_password_file()),
    ])
    .unwrap();
    assert_eq!(pw.expose(), "third");
    // An unset variable falls through to a file.
    let pw = Password::resolve(&vec![
        PasswordSource::EnvVar(unset.into()),
        PasswordSource::File(instance_password_file()),
    ])
    .unwrap();
    assert_eq!(pw.expose(), PASSWORD);
}

#[test]
fn first_source_wins() {
    let var = "IDENTITY_TEST_PW_ORDER";
    std::env::set_var(var, "from-env");
    let env_first = Password::resolve(&vec![
        PasswordSource::EnvVar(var.into()),
        PasswordSource::File(instance_password_file()),
    ])
    .unwrap();
    assert_eq!(env_first.expose(), "from-env");
    let file_first = Password::resolve(&vec![
        PasswordSource::File(instance_password_file()),
        PasswordSource::EnvVar(var.into()),
    ])
    .unwrap();
    assert_eq!(file_first.expose(), PASSWORD);
    let inline_first = Password::resolve(&vec![
        PasswordSource::Inline(SecretString::new("inline")),
        PasswordSource::EnvVar(var.into()),
    ])
    .unwrap();
    assert_eq!(inline_first.expose(), "inline");
}

#[test]
fn client_key_password_fallback_and_nothing_found() {
    // The only test touching `client_key_password` (the config's last source).
    let named = "IDENTITY_TEST_PW_NAMED_UNSET";
    std::env::remove_var(named);
    let sources = vec![
        PasswordSource::EnvVar(named.into()),
        PasswordSource::EnvVar("client_key_password".into()),
    ];
    std::env::set_var("client_key_password", "fallback-secret");
    assert_eq!(
        Password::resolve(&sources).unwrap().expose(),
        "fallback-secret"
    );

    std::env::remove_var("client_key_password");
    let err = Password::resolve(&sources).unwrap_err();
    match &err {
        IdentityError::PasswordMissing { tried, .. } => assert_eq!(
            tried,
            &vec![
                format!("environment variable {named} (unset)"),
                "environment variable client_key_password (unset)".to_owned(),
            ]
        ),
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(named) && msg.contains("client_key_password"),
        "{msg}"
    );
    assert!(!msg.contains("fallback-secret"));
}

#[test]
fn set_but_empty_variable_is_listed_and_value_never_shown() {
    let var = "IDENTITY_TEST_PW_BLANK";
    std::env::set_var(var, "   ");
    let err = Password::resolve(&vec![PasswordSource::EnvVar(var.into())]).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("environment variable {var} (empty)")),
        "{err}"
    );
}

#[test]
fn no_source_configured() {
    let err = Password::resolve(&vec![]).unwrap_err();
    match &err {
        IdentityError::PasswordMissing { tried, detail } => {
            assert!(tried.is_empty());
            assert!(
                detail.contains("no password source is configured"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn env_var_not_unicode() {
    use std::os::unix::ffi::OsStrExt;
    let var = "IDENTITY_TEST_PW_NOT_UNICODE";
    std::env::set_var(var, std::ffi::OsStr::from_bytes(&[0x61, 0xff, 0x62]));
    let err = Password::resolve(&vec![PasswordSource::EnvVar(var.into())]).unwrap_err();
    assert!(
        matches!(&err, IdentityError::PasswordEnvNotUnicode { name } if name == var),
        "{err:?}"
    );
}

#[cfg(unix)]
#[test]
fn warns_when_password_file_is_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "pw.txt", b"secret-value\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (pw, logs) = capture_logs(|| Password::resolve(&vec![PasswordSource::File(path.clone())]));
    assert_eq!(pw.unwrap().expose(), "secret-value");
    let warnings = logs.warnings_about("readable by every local user");
    assert_eq!(warnings.len(), 1, "{}", logs.text());
    assert!(warnings[0].contains("pw.txt"));

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, logs) = capture_logs(|| Password::resolve(&vec![PasswordSource::File(path.clone())]));
    assert!(logs.warnings().is_empty(), "{}", logs.text());
    assert!(!logs.text().contains("secret-value"));
}

#[test]
fn debug_is_redacted() {
    let pw = Password::new("hunter2-secret");
    let shown = format!("{pw:?}");
    assert_eq!(shown, "Password(<redacted>)");
    let sources = vec![PasswordSource::Inline(SecretString::new("hunter2-secret"))];
    assert!(!format!("{sources:?}").contains("hunter2"));
}
