//! Secrets served from files that a cluster operator keeps in sync with KMS
//! (`secret_files_dir`): ack-secret-manager or the External Secrets Operator write a Kubernetes
//! Secret that the pod mounts, or the Secrets Store CSI driver (Alibaba Cloud provider) mounts the
//! files itself. One fetch from KMS serves the whole cluster; a pod reading the file puts no load
//! on KMS.
//!
//! [`SecretFiles`] is a [`KmsClient`]: the cache engine polls it like a KMS endpoint
//! (`secret_files_poll_interval_ms`), so single-flight, last-good-key on failure, backoff,
//! forced refresh on a rejected key, `subscribe` and health work unchanged.
//!
//! Layout, for a secret named `acs/ram/user/app` and `secret_files_dir=/var/run/secrets/aliyun`:
//! the path is `/var/run/secrets/aliyun/acs/ram/user/app` (each `/`-separated part of the name
//! is one path component; the CSI provider writes `objectName` that way and a Secret volume's
//! `items[].path` can too). That path is either
//! * a file holding the RAM-credential `SecretData` JSON (`{"AccessKeyId": ..,
//!   "AccessKeySecret": .., "GenerateTimestamp": .., "ExpireTimestamp": ..}`), parsed by the same
//!   code as a KMS answer; or
//! * a directory holding one file per field: `AccessKeyId` and `AccessKeySecret`, optionally
//!   `GenerateTimestamp` and `ExpireTimestamp` (what jmesPath / extract in ack-secret-manager and
//!   the CSI provider write). Trailing whitespace is trimmed and a JSON string literal
//!   (`"LTAI..."`) is decoded.
//!
//! Torn pairs: the kubelet (and the CSI driver, with a copy of the kubelet's `AtomicWriter`)
//! publishes a new version by writing a fresh `..<timestamp>.<random>` directory and renaming a
//! `..data_tmp` symlink over `..data`. We find the nearest directory (from the secret's path up
//! to `secret_files_dir`) that has a `..data` symlink, resolve it once, and read every file of the
//! secret below that one resolved directory, which the writer never modifies. If the old
//! directory is removed mid-read we resolve again. Without `..data` (plain files) the files are
//! read until two consecutive reads agree.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::{Endpoint, RefreshConfig, SecretString};
use crate::kms::{BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue};

#[cfg(all(test, feature = "test-util"))]
mod tests;

/// The symlink the kubelet's `AtomicWriter` points at the current timestamped directory.
const DATA_DIR: &str = "..data";

/// Larger files are refused (a RAM credential is a few hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Field files of the directory layout: (file name, required).
const FIELD_FILES: &[(&str, bool)] = &[
    ("AccessKeyId", true),
    ("AccessKeySecret", true),
    ("GenerateTimestamp", false),
    ("ExpireTimestamp", false),
];

/// How often a read is retried when the `..data` target changed under it. Each retry means
/// the writer published yet another version during one read of a few small files; the kubelet
/// does that at most once per sync period, a test writer in a tight loop far more often.
const MAX_ATOMIC_ATTEMPTS: usize = 1000;

/// Plain files (no `..data`): how many reads may disagree before giving up.
const MAX_PLAIN_ATTEMPTS: usize = 5;

/// The longest a failed read waits before the next try, whatever `refresh_retry_max_ms` says
/// (unless the poll interval is longer): a fixed file is picked up soon.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// The refresh policy of a provider that reads files: every poll is a refresh, without jitter
/// (a local read costs nothing shared), and a failed read is retried with the usual backoff
/// capped at `max(poll, 30 s)`.
pub(crate) fn polling_refresh(mut refresh: RefreshConfig, poll: Duration) -> RefreshConfig {
    refresh.max_interval = poll;
    refresh.jitter = Duration::ZERO;
    let cap = poll.max(MAX_RETRY_DELAY);
    refresh.retry_max = refresh.retry_max.min(cap);
    refresh.retry_base = refresh.retry_base.min(refresh.retry_max);
    refresh
}

/// Reads RAM credentials from files under one directory. A [`KmsClient`] so the cache engine
/// treats it like an endpoint.
#[derive(Debug)]
pub(crate) struct SecretFiles {
    reader: Reader,
    /// `file:<dir>` (port 443 so `Display` prints just the host part): names this source in
    /// logs and `Health::preferred_endpoint`.
    endpoint: Endpoint,
}

/// The part of [`SecretFiles`] a blocking read needs (cheap to clone into the blocking pool).
#[derive(Clone, Debug)]
struct Reader {
    dir: Arc<PathBuf>,
    /// Modification time of the files last read successfully, per secret name (for health).
    modified: Arc<Mutex<HashMap<String, SystemTime>>>,
}

/// One consistent read of a secret.
struct FileRead {
    /// The `SecretData` JSON (read as is, or assembled from field files).
    data: Zeroizing<String>,
    /// The timestamped directory name under `..data`, else the newest modification time.
    version_id: String,
    modified: SystemTime,
}

impl SecretFiles {
    pub(crate) fn new(dir: PathBuf) -> Self {
        if !dir.is_dir() {
            tracing::warn!(
                secret_files_dir = %dir.display(),
                "secret_files_dir is not a directory (yet); reads fail until the volume is mounted there"
            );
        }
        Self {
            endpoint: Endpoint {
                host: format!("file:{}", dir.display()),
                port: 443,
            },
            reader: Reader {
                dir: Arc::new(dir),
                modified: Arc::default(),
            },
        }
    }

    /// When the files of `name` last read were modified.
    pub(crate) fn modified(&self, name: &str) -> Option<SystemTime> {
        self.reader.modified.lock().ok()?.get(name).copied()
    }

    #[cfg(test)]
    fn read_blocking(&self, name: &str) -> Result<FileRead, KmsError> {
        self.reader.read_blocking(name)
    }
}

impl Reader {
    /// The path of secret `name`: each `/`-separated part is one path component.
    fn secret_path(&self, name: &str) -> Result<PathBuf, KmsError> {
        let bad = |problem: String| KmsError::SecretFile {
            path: self.dir.display().to_string(),
            problem,
        };
        let mut path = PathBuf::from(self.dir.as_path());
        for part in name.split('/') {
            let plain = matches!(
                Path::new(part).components().collect::<Vec<_>>().as_slice(),
                [Component::Normal(_)]
            );
            if part.is_empty() || part.starts_with("..") || part.contains('\\') || !plain {
                return Err(bad(format!(
                    "secret name '{name}' cannot name a file below this directory: each `/`-separated part must be a plain file name (not empty, not `.`, not starting with `..`)"
                )));
            }
            path.push(part);
        }
        Ok(path)
    }

    /// Reads secret `name` (blocking file I/O).
    fn read_blocking(&self, name: &str) -> Result<FileRead, KmsError> {
        let path = self.secret_path(name)?;
        let read = match self.atomic_root(&path) {
            Some(root) => read_atomic(&root, &path),
            None => read_plain(&path),
        }
        .map_err(|problem| KmsError::SecretFile {
            path: path.display().to_string(),
            problem,
        })?;
        if let Ok(mut modified) = self.modified.lock() {
            modified.insert(name.to_owned(), read.modified);
        }
        Ok(read)
    }

    /// The nearest directory from `path` up to the configured directory that holds a `..data`
    /// symlink.
    fn atomic_root(&self, path: &Path) -> Option<PathBuf> {
        let mut candidate = Some(path);
        while let Some(dir) = candidate {
            let is_link = std::fs::symlink_metadata(dir.join(DATA_DIR))
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if is_link {
                return Some(dir.to_owned());
            }
            if dir == self.dir.as_path() {
                break;
            }
            candidate = dir.parent().filter(|p| p.starts_with(self.dir.as_path()));
        }
        None
    }
}

impl KmsClient for SecretFiles {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async move {
            let name = request.secret_name.clone();
            let reader = self.reader.clone();
            // File reads may block (network file systems): not on the runtime's threads.
            let read = tokio::task::spawn_blocking(move || reader.read_blocking(&name))
                .await
                .map_err(|e| KmsError::SecretFile {
                    path: self.reader.dir.display().to_string(),
                    problem: format!("the file read did not finish ({e})"),
                })??;
            Ok(SecretValue {
                secret_name: request.secret_name.clone(),
                secret_type: crate::secret::RAM_CREDENTIALS.to_owned(),
                secret_data: SecretString::new(read.data.as_str()),
                secret_data_type: "text".to_owned(),
                version_stages: request.version_stage.iter().cloned().collect(),
                version_id: read.version_id,
                create_time: String::new(),
                request_id: String::new(),
                last_rotation_date: String::new(),
                next_rotation_date: String::new(),
                extended_config: String::new(),
                automatic_rotation: String::new(),
                rotation_interval: String::new(),
            })
        })
    }
}

/// Reads below one resolved `..data` target of the writer's directory `root`; resolves again
/// when the target was replaced (and the old directory removed) during the read.
fn read_atomic(root: &Path, path: &Path) -> Result<FileRead, String> {
    let rest = path.strip_prefix(root).unwrap_or(Path::new(""));
    let link = root.join(DATA_DIR);
    let mut last_error = String::new();
    for _ in 0..MAX_ATOMIC_ATTEMPTS {
        let target = std::fs::read_link(&link)
            .map_err(|e| format!("cannot resolve {}: {e}", link.display()))?;
        let data_dir = root.join(&target);
        match read_layout(&data_dir.join(rest)) {
            Ok((data, modified)) => {
                let version = target
                    .file_name()
                    .map(|n| n.to_string_lossy().trim_start_matches('.').to_owned())
                    .unwrap_or_default();
                return Ok(FileRead {
                    data,
                    version_id: version,
                    modified,
                });
            }
            Err(problem) => {
                // Replaced (and the old directory removed) while we read: read the new one.
                if std::fs::read_link(&link).ok().as_deref() == Some(target.as_path()) {
                    return Err(problem);
                }
                last_error = problem;
            }
        }
    }
    Err(format!(
        "{} kept changing while being read; last error: {last_error}",
        link.display()
    ))
}

/// Reads files written in place (no `..data`): until two consecutive reads agree.
fn read_plain(path: &Path) -> Result<FileRead, String> {
    let (mut data, mut modified) = read_layout(path)?;
    for _ in 0..MAX_PLAIN_ATTEMPTS {
        let (again, again_modified) = read_layout(path)?;
        if again == data && again_modified == modified {
            let since_epoch = modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            return Ok(FileRead {
                data,
                version_id: format!(
                    "mtime-{}.{:09}",
                    since_epoch.as_secs(),
                    since_epoch.subsec_nanos()
                ),
                modified,
            });
        }
        data = again;
        modified = again_modified;
    }
    Err("the file kept changing while being read".into())
}

/// The `SecretData` JSON at `path` (a file), or assembled from the field files of `path` (a
/// directory), and the newest modification time among the files read.
fn read_layout(path: &Path) -> Result<(Zeroizing<String>, SystemTime), String> {
    let meta = std::fs::metadata(path).map_err(|e| describe(path, &e))?;
    if !meta.is_dir() {
        let text = read_text(path)?;
        return Ok((text, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
    }
    let mut fields: Vec<(&str, Zeroizing<String>)> = Vec::new();
    let mut newest = SystemTime::UNIX_EPOCH;
    for (field, required) in FIELD_FILES {
        let file = path.join(field);
        match std::fs::metadata(&file) {
            Ok(m) => newest = newest.max(m.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "{} is a directory without a {field} file; a secret directory holds AccessKeyId and AccessKeySecret files (optionally GenerateTimestamp, ExpireTimestamp), or map the secret to one file holding the SecretData JSON",
                    path.display()
                ))
            }
            Err(e) => return Err(describe(&file, &e)),
        }
        let value = field_value(read_text(&file)?);
        fields.push((field, value));
    }
    Ok((assemble(&fields)?, newest))
}

/// A field file's value: trailing whitespace trimmed (`echo` adds a newline), and a JSON string
/// literal decoded (ack-secret-manager's `extract` wrote values JSON-encoded in older versions).
fn field_value(text: Zeroizing<String>) -> Zeroizing<String> {
    let trimmed = text.trim();
    if trimmed.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"') {
        if let Ok(decoded) = serde_json::from_str::<Zeroizing<String>>(trimmed) {
            return decoded;
        }
    }
    Zeroizing::new(trimmed.to_owned())
}

/// The `SecretData` JSON of the field files, written straight into zeroizing memory.
fn assemble(fields: &[(&str, Zeroizing<String>)]) -> Result<Zeroizing<String>, String> {
    #[derive(Serialize)]
    struct Field<'a>(#[serde(serialize_with = "as_str")] &'a Zeroizing<String>);
    fn as_str<S: serde::Serializer>(v: &&Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }
    let map: std::collections::BTreeMap<&str, Field<'_>> =
        fields.iter().map(|(k, v)| (*k, Field(v))).collect();
    let mut out = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *out, &map)
        .map_err(|e| format!("cannot assemble SecretData ({e})"))?;
    String::from_utf8(std::mem::take(&mut *out))
        .map(Zeroizing::new)
        .map_err(|_| "field files are not UTF-8".into())
}

/// A whole file as UTF-8 text in zeroizing memory, refused above [`MAX_FILE_BYTES`].
fn read_text(path: &Path) -> Result<Zeroizing<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| describe(path, &e))?;
    // Sized up front: a growing Vec would free partial copies of the secret unzeroized.
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(size.min(MAX_FILE_BYTES) + 1)
            .unwrap_or(0)
            .max(64),
    ));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| describe(path, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes; it is not a RAM credential",
            path.display()
        ));
    }
    String::from_utf8(std::mem::take(&mut *bytes))
        .map(Zeroizing::new)
        .map_err(|e| {
            drop(Zeroizing::new(e.into_bytes()));
            format!("{} is not UTF-8 text", path.display())
        })
}

fn describe(path: &Path, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} does not exist; check secret_files_dir, the secret name and the volume mount",
            path.display()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "{} cannot be read (permission denied); check the volume's defaultMode and the pod's user",
            path.display()
        ),
        _ => format!("{}: {error}", path.display()),
    }
}
