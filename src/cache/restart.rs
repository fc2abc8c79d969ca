//! The opt-in restart cache (`restart_cache_dir`): the last good value of each secret,
//! encrypted on disk, so that a process that restarts while KMS cannot be reached still has a
//! key to serve. Off unless configured; the manual's "Restart cache" section has the threat
//! model.
//!
//! * Written after every successful fetch, atomically and owner-only through
//!   `crate::private_file` (never through a symbolic link), on a blocking thread so the fetch's
//!   waiters do not wait for the disk. A failed write is a warning, never a failed read.
//! * Read only when a secret's first fetch in this process fails with a retryable error
//!   (KMS unreachable, throttled, 5xx), and served only within the memory cache's own bounds
//!   (the key's `ExpireTimestamp`, else `max_staleness`). The fetch keeps retrying with backoff
//!   and replaces the restored value when it succeeds.
//! * Each file is sealed with AES-256-GCM (`ring::aead`) under a key derived with HKDF-SHA256
//!   from secret material only the configured KMS identity has: a deterministic RSA PKCS#1 v1.5
//!   signature by the ClientKey over a fixed label, or the AccessKey secret. The secret name, the
//!   identity and the format version are associated data, so a file copied from another secret
//!   or another application does not open.
//! * Anything wrong with a file (symbolic link, loose permissions, truncated, tampered, foreign,
//!   unknown version, expired) is a warning naming the file and the reason; the file is never
//!   served and never makes anything fail.
//!
//! File format, version 1 (all integers big-endian):
//!
//! ```text
//! "AMCRC" | version u8 = 1 | SHA-256(identity)[..8] | SHA-256(secret name)[..8] | nonce [12]
//!         | AES-256-GCM(plaintext) with its 16-byte tag
//! associated data = DOMAIN | the 34 header bytes above | len u32 | identity | len u32 | name
//! plaintext       = fetched_at (ms since the Unix epoch) u64 | 12 x (len u32 | bytes)
//!                   | stage count u32 | stages x (len u32 | bytes)
//! ```
//!
//! The two fingerprints in the clear only let a warning say *why* a file does not open (another
//! secret, another identity); they are authenticated like the rest of the header.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::config::{Config, KmsIdentity, SecretString};
use crate::identity::ClientKey;
use crate::kms::SecretValue;

const MAGIC: &[u8; 5] = b"AMCRC";
/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u8 = 1;
const FINGERPRINT_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC.len() + 1 + 2 * FINGERPRINT_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;
/// Domain separation of the associated data.
const DOMAIN: &[u8] = b"aliyun-managed-credentials/restart-cache\0";
/// What the ClientKey signs to make the key-derivation secret (followed by the key id).
const SIGNING_LABEL: &[u8] = b"aliyun-managed-credentials/restart-cache/v1/key-derivation\0";
/// HKDF salt (fixed: the input is already secret; the salt only separates this use).
const HKDF_SALT: &[u8] = b"aliyun-managed-credentials/restart-cache/v1/hkdf-salt";
/// Files larger than this are not read (KMS answers are capped at 1 MiB by default).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// File name suffix of a restart cache file.
const SUFFIX: &str = ".amcrc";

/// Why a restart cache file was not used. Never carries content of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    Symlink,
    NotRegularFile,
    Permissions(u32),
    Replaced,
    Io(String),
    TooLarge(u64),
    NotCacheFile,
    Truncated,
    UnsupportedVersion(u8),
    OtherSecret,
    OtherIdentity,
    Tampered,
    Malformed(&'static str),
    Expired(String),
    Unusable(String),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symlink => f.write_str("it is a symbolic link (refused; the cache only reads files it wrote)"),
            Self::NotRegularFile => f.write_str("it is not a regular file"),
            Self::Permissions(mode) => write!(f, "its permissions {mode:03o} let other users read or write it (the cache writes 600)"),
            Self::Replaced => f.write_str("it was replaced while being opened"),
            Self::Io(e) => write!(f, "it cannot be read: {e}"),
            Self::TooLarge(n) => write!(f, "it is {n} bytes, larger than any restart cache file"),
            Self::NotCacheFile => f.write_str("it is not a restart cache file (wrong magic bytes)"),
            Self::Truncated => f.write_str("it is truncated"),
            Self::UnsupportedVersion(v) => write!(f, "it has format version {v}; this build reads version {FORMAT_VERSION}"),
            Self::OtherSecret => f.write_str("it was written for another secret name"),
            Self::OtherIdentity => f.write_str("it was written under another KMS identity (another ClientKey or AccessKey)"),
            Self::Tampered => f.write_str("it does not authenticate (modified, corrupt, or not written under this identity)"),
            Self::Malformed(what) => write!(f, "its content is malformed ({what})"),
            Self::Expired(at) => write!(f, "the value it holds stopped being servable at {at} (key expiry or max_staleness_ms)"),
            Self::Unusable(why) => write!(f, "the value it holds cannot be served: {why}"),
        }
    }
}

/// A value read back from a file.
pub(crate) struct Restored {
    pub value: SecretValue,
    pub fetched_at: SystemTime,
}

/// The encryption key of one KMS identity, and that identity's label (kind and key id).
pub(crate) struct RestartKey {
    identity: String,
    key: LessSafeKey,
}

impl fmt::Debug for RestartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartKey")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl RestartKey {
    /// HKDF-SHA256 from `ikm` (secret), bound to `identity`.
    fn derive(identity: String, ikm: &[u8]) -> Self {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, HKDF_SALT).extract(ikm);
        let info = [b"aes-256-gcm key\0".as_slice(), identity.as_bytes()];
        // `expand` fails only when the output is longer than 255 hash blocks; 32 bytes is not.
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .unwrap_or_else(|_| unreachable!("HKDF output of 32 bytes"));
        Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            identity,
        }
    }

    /// The key of a ClientKey: its RSA PKCS#1 v1.5 / SHA-256 signature over a fixed label is
    /// deterministic and only the private key can make it.
    pub(crate) fn from_client_key(key: &ClientKey) -> Result<Self, crate::identity::IdentityError> {
        let mut label = SIGNING_LABEL.to_vec();
        label.extend_from_slice(key.key_id().as_bytes());
        let signature = Zeroizing::new(key.sign_sha256_rsa(&label)?);
        Ok(Self::derive(
            format!("client_key:{}", key.key_id()),
            &signature,
        ))
    }

    /// The key of an AccessKey identity (also the caller of `ram_role`): its secret.
    pub(crate) fn from_access_key(kind: &str, access_key_id: &str, secret: &SecretString) -> Self {
        Self::derive(
            format!("{kind}:{access_key_id}"),
            secret.expose().as_bytes(),
        )
    }

    /// The key for `config`: the first KMS instance's ClientKey (`first_client_key`, already
    /// loaded by its client) if there is one, else the shared-gateway identity. Configuration
    /// validation has refused identities without long-lived secret material.
    pub(crate) fn for_config(
        config: &Config,
        first_client_key: Option<&ClientKey>,
    ) -> Result<Option<Self>, crate::Error> {
        if let Some(key) = first_client_key {
            return Ok(Some(Self::from_client_key(key)?));
        }
        Ok(match &config.identity {
            Some(KmsIdentity::ClientKey { key, password }) => {
                Some(Self::from_client_key(&ClientKey::load(key, password)?)?)
            }
            Some(KmsIdentity::AccessKey {
                access_key_id,
                access_key_secret,
            }) => Some(Self::from_access_key(
                "access_key",
                access_key_id,
                access_key_secret,
            )),
            Some(KmsIdentity::RamRoleArn {
                access_key_id,
                access_key_secret,
                role_arn,
                ..
            }) => Some(Self::from_access_key(
                "ram_role",
                &format!("{access_key_id}:{role_arn}"),
                access_key_secret,
            )),
            _ => None,
        })
    }

    fn associated_data(&self, header: &[u8], secret_name: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            DOMAIN.len() + header.len() + 8 + self.identity.len() + secret_name.len(),
        );
        aad.extend_from_slice(DOMAIN);
        aad.extend_from_slice(header);
        put_bytes(&mut aad, self.identity.as_bytes());
        put_bytes(&mut aad, secret_name.as_bytes());
        aad
    }

    fn header(&self, secret_name: &str, version: u8, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(version);
        header.extend_from_slice(&fingerprint(self.identity.as_bytes()));
        header.extend_from_slice(&fingerprint(secret_name.as_bytes()));
        header.extend_from_slice(nonce);
        header
    }

    /// The sealed file content for `value` fetched at `fetched_at`.
    pub(crate) fn seal(&self, value: &SecretValue, fetched_at: SystemTime) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        Some(self.seal_with(value, fetched_at, FORMAT_VERSION, nonce))
    }

    fn seal_with(
        &self,
        value: &SecretValue,
        fetched_at: SystemTime,
        version: u8,
        nonce: [u8; NONCE_LEN],
    ) -> Vec<u8> {
        let mut plain = encode(value, fetched_at);
        let header = self.header(&value.secret_name, version, &nonce);
        let aad = self.associated_data(&header, &value.secret_name);
        // Sealing fails only for inputs longer than GCM allows (64 GiB); ours are capped.
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut plain[..],
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM input within limits"));
        let mut out = header;
        out.reserve(plain.len() + TAG_LEN);
        out.extend_from_slice(&plain);
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens file content written for `secret_name` under this key.
    pub(crate) fn open(&self, secret_name: &str, bytes: &[u8]) -> Result<Restored, Rejected> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(if MAGIC.starts_with(bytes) {
                Rejected::Truncated
            } else {
                Rejected::NotCacheFile
            });
        }
        let Some(&version) = bytes.get(MAGIC.len()) else {
            return Err(Rejected::Truncated);
        };
        if version != FORMAT_VERSION {
            return Err(Rejected::UnsupportedVersion(version));
        }
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(Rejected::Truncated);
        }
        let (header, sealed) = bytes.split_at(HEADER_LEN);
        let identity_fp = &header[6..6 + FINGERPRINT_LEN];
        let name_fp = &header[6 + FINGERPRINT_LEN..6 + 2 * FINGERPRINT_LEN];
        if name_fp != fingerprint(secret_name.as_bytes()) {
            return Err(Rejected::OtherSecret);
        }
        if identity_fp != fingerprint(self.identity.as_bytes()) {
            return Err(Rejected::OtherIdentity);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&header[HEADER_LEN - NONCE_LEN..]);
        let aad = self.associated_data(header, secret_name);
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut buffer[..],
            )
            .map_err(|_| Rejected::Tampered)?;
        let restored = decode(plain)?;
        if restored.value.secret_name != secret_name {
            return Err(Rejected::OtherSecret);
        }
        Ok(restored)
    }
}

/// First 8 bytes of SHA-256.
fn fingerprint(data: &[u8]) -> [u8; FINGERPRINT_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; FINGERPRINT_LEN];
    out.copy_from_slice(&digest.as_ref()[..FINGERPRINT_LEN]);
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The plain fields in file order, `secret_data` among them.
fn fields(value: &SecretValue) -> [&str; 12] {
    [
        &value.secret_name,
        &value.secret_type,
        value.secret_data.expose(),
        &value.secret_data_type,
        &value.version_id,
        &value.create_time,
        &value.request_id,
        &value.last_rotation_date,
        &value.next_rotation_date,
        &value.extended_config,
        &value.automatic_rotation,
        &value.rotation_interval,
    ]
}

/// The plaintext, in one allocation of its exact size (so no reallocation leaves a copy of the
/// secret behind), zeroized on drop.
fn encode(value: &SecretValue, fetched_at: SystemTime) -> Zeroizing<Vec<u8>> {
    let fields = fields(value);
    let len = 8
        + fields.iter().map(|f| 4 + f.len()).sum::<usize>()
        + 4
        + value
            .version_stages
            .iter()
            .map(|s| 4 + s.len())
            .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let millis = fetched_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .min(u128::from(u64::MAX)) as u64;
    out.extend_from_slice(&millis.to_be_bytes());
    for field in fields {
        put_bytes(&mut out, field.as_bytes());
    }
    out.extend_from_slice(&(value.version_stages.len() as u32).to_be_bytes());
    for stage in &value.version_stages {
        put_bytes(&mut out, stage.as_bytes());
    }
    out
}

/// [`decode`] for the fuzzing entry point, which cannot forge authenticated bytes.
#[cfg(feature = "fuzzing")]
pub(crate) fn decode_plaintext(plain: &[u8]) -> Result<Restored, Rejected> {
    decode(plain)
}

/// Reads the plaintext back. Only ever sees authenticated bytes, but checks every length anyway.
fn decode(plain: &[u8]) -> Result<Restored, Rejected> {
    let mut r = Reader(plain);
    let millis = r.u64()?;
    let secret_name = r.string()?;
    let secret_type = r.string()?;
    // Moved, never copied, into the zeroizing wrapper.
    let secret_data = SecretString::new(r.string()?);
    let secret_data_type = r.string()?;
    let version_id = r.string()?;
    let create_time = r.string()?;
    let request_id = r.string()?;
    let last_rotation_date = r.string()?;
    let next_rotation_date = r.string()?;
    let extended_config = r.string()?;
    let automatic_rotation = r.string()?;
    let rotation_interval = r.string()?;
    let count = r.u32()?;
    let mut version_stages = Vec::with_capacity(count.min(16));
    for _ in 0..count {
        version_stages.push(r.string()?);
    }
    if !r.0.is_empty() {
        return Err(Rejected::Malformed("bytes after the last field"));
    }
    Ok(Restored {
        value: SecretValue {
            secret_name,
            secret_type,
            secret_data,
            secret_data_type,
            version_stages,
            version_id,
            create_time,
            request_id,
            last_rotation_date,
            next_rotation_date,
            extended_config,
            automatic_rotation,
            rotation_interval,
        },
        fetched_at: UNIX_EPOCH + Duration::from_millis(millis),
    })
}

/// A cursor over the plaintext.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Rejected> {
        if self.0.len() < n {
            return Err(Rejected::Malformed("a field runs past the end"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<usize, Rejected> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b) as usize)
    }

    fn u64(&mut self) -> Result<u64, Rejected> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }

    fn string(&mut self) -> Result<String, Rejected> {
        let len = self.u32()?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Rejected::Malformed("a field is not UTF-8"))
    }
}

/// The restart cache of one provider: where files go, the key, and what was done already.
pub(crate) struct RestartCache {
    dir: PathBuf,
    key: RestartKey,
    /// Secrets whose file was consulted already (only the first failed fetch reads it).
    consulted: Mutex<HashSet<Box<str>>>,
    /// `fetched_at` of the newest value written per secret, so a slow write never overwrites
    /// a newer one. Held while writing: writes are rare and serialised.
    written: Mutex<HashMap<Box<str>, SystemTime>>,
}

impl fmt::Debug for RestartCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartCache")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RestartCache {
    /// Prepares `dir` (created owner-only if missing) and returns the cache, or `None` with a
    /// warning when the directory cannot be used safely: a symbolic link, not a directory,
    /// permissions that let other users in, or not creatable.
    pub(crate) fn open(dir: &Path, key: RestartKey) -> Option<Self> {
        let shown = dir.display();
        let refuse = |reason: String| {
            tracing::warn!(
                dir = %shown,
                "restart cache disabled: directory {shown} {reason}; the provider runs without it"
            );
            None
        };
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                if let Err(e) = builder.create(dir) {
                    return refuse(format!("cannot be created ({e})"));
                }
                tracing::info!(dir = %shown, "created the restart cache directory {shown} (mode 700)");
            }
            Err(e) => return refuse(format!("cannot be inspected ({e})")),
            Ok(meta) if meta.file_type().is_symlink() => {
                return refuse(
                    "is a symbolic link (refused: point restart_cache_dir at the real directory)"
                        .into(),
                )
            }
            Ok(meta) if !meta.is_dir() => return refuse("exists and is not a directory".into()),
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return refuse(format!(
                            "has permissions {mode:03o}, which let other users in; run `chmod 700 {shown}`"
                        ));
                    }
                }
                #[cfg(not(unix))]
                let _ = meta;
            }
        }
        tracing::info!(dir = %shown, identity = %key.identity, "restart cache on: the last good value of each secret is kept encrypted in {shown}");
        Some(Self {
            dir: dir.to_owned(),
            key,
            consulted: Mutex::new(HashSet::new()),
            written: Mutex::new(HashMap::new()),
        })
    }

    /// The file of `secret_name`: a hash of identity and name, so neither shows in the
    /// directory listing and two identities sharing a directory do not overwrite each other.
    pub(crate) fn path_of(&self, secret_name: &str) -> PathBuf {
        let mut input = self.key.identity.as_bytes().to_vec();
        input.push(0);
        input.extend_from_slice(secret_name.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        self.dir
            .join(format!("{}{SUFFIX}", hex::encode(&digest.as_ref()[..20])))
    }

    /// Seals `value` now and writes it on a blocking thread of `runtime` (the caller does not
    /// wait). Never fails: problems are logged.
    pub(crate) fn store(
        self: &std::sync::Arc<Self>,
        runtime: &tokio::runtime::Handle,
        value: &SecretValue,
        fetched_at: SystemTime,
    ) {
        let Some(sealed) = self.key.seal(value, fetched_at) else {
            tracing::warn!(secret = %value.secret_name, "restart cache: no random nonce available; value not written");
            return;
        };
        let cache = std::sync::Arc::clone(self);
        let name: Box<str> = value.secret_name.as_str().into();
        // The application's subscriber (possibly a scoped one) sees the write's warnings too.
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        runtime.spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, || cache.write(&name, &sealed, fetched_at))
        });
    }

    fn write(&self, name: &str, sealed: &[u8], fetched_at: SystemTime) {
        let mut written = match self.written.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if written.get(name).is_some_and(|at| *at > fetched_at) {
            return;
        }
        let path = self.path_of(name);
        match crate::private_file::write_private(&path, sealed) {
            Ok(()) => {
                written.insert(name.into(), fetched_at);
                tracing::debug!(secret = name, file = %path.display(), "restart cache file written");
            }
            Err(e) => tracing::warn!(
                secret = name,
                file = %path.display(),
                error = %e,
                "could not write restart cache file {}: {e}; the value is still served from memory",
                path.display()
            ),
        }
    }

    /// True the first time it is called for `secret_name`, false after: the file is only ever
    /// considered for a secret's first failed fetch.
    pub(crate) fn first_failure(&self, secret_name: &str) -> bool {
        match self.consulted.lock() {
            Ok(mut g) => g.insert(secret_name.into()),
            Err(poisoned) => poisoned.into_inner().insert(secret_name.into()),
        }
    }

    #[cfg(test)]
    /// The value saved for `secret_name`, the first time this is asked for that name (later
    /// calls return `None`). A file that is missing is logged at debug level; one that cannot
    /// be used, as a warning naming it and why.
    pub(crate) fn take_restored(&self, secret_name: &str) -> Option<Restored> {
        if !self.first_failure(secret_name) {
            return None;
        }
        self.read_restored(secret_name)
    }

    /// Reads the file of `secret_name`, logging why it is not used.
    pub(crate) fn read_restored(&self, secret_name: &str) -> Option<Restored> {
        let path = self.path_of(secret_name);
        match self.read(&path, secret_name) {
            Ok(Some(restored)) => Some(restored),
            Ok(None) => {
                tracing::debug!(secret = secret_name, file = %path.display(), "no restart cache file");
                None
            }
            Err(reason) => {
                warn_ignored(&path, secret_name, &reason);
                None
            }
        }
    }

    fn read(&self, path: &Path, secret_name: &str) -> Result<Option<Restored>, Rejected> {
        let before = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Rejected::Io(e.to_string())),
        };
        if before.file_type().is_symlink() {
            return Err(Rejected::Symlink);
        }
        if !before.is_file() {
            return Err(Rejected::NotRegularFile);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = before.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Rejected::Permissions(mode));
            }
        }
        let file = std::fs::File::open(path).map_err(|e| Rejected::Io(e.to_string()))?;
        let opened = file.metadata().map_err(|e| Rejected::Io(e.to_string()))?;
        // The file opened is the one inspected (no swap for a link in between).
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
                return Err(Rejected::Replaced);
            }
        }
        if opened.len() > MAX_FILE_BYTES {
            return Err(Rejected::TooLarge(opened.len()));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(opened.len() as usize));
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Rejected::Io(e.to_string()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Rejected::TooLarge(bytes.len() as u64));
        }
        self.key.open(secret_name, &bytes).map(Some)
    }
}

/// The one warning for a file that was not used.
pub(crate) fn warn_ignored(path: &Path, secret_name: &str, reason: &Rejected) {
    tracing::warn!(
        secret = secret_name,
        file = %path.display(),
        "restart cache file {} for secret '{secret_name}' ignored: {reason}",
        path.display()
    );
}

#[cfg(test)]
mod tests;
