//! `LocalKms`: an in-process KMS emulator for tests (feature `test-util`).
//!
//! It serves the KMS instance API over real HTTPS on 127.0.0.1 with a PKI shaped like a real
//! instance's, issues real ClientKeys (Alibaba PKCS#12 profile) and verifies every request like
//! the service does (headers, Date skew, body hash, RSA signature, access point policy). Secrets,
//! rotation, scripted faults and the request log live in one place so that every protocol
//! LocalKms speaks shares them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use aliyun_managed_credentials::testing::{Fault, LocalKms};
//!
//! let kms = LocalKms::start().await?;
//! let ap = kms.issue_access_point(&["acs/ram/user/*"]);
//! let first = kms.put_ram_credential("acs/ram/user/app");
//! // Point the code under test at `ap.properties_file` or `kms.instance_config(&ap)`.
//! kms.push_fault(Fault::throttling());
//! let second = kms.rotate("acs/ram/user/app");
//! assert_ne!(first, second);
//! assert_eq!(kms.request_count("acs/ram/user/app"), 0);
//! kms.shutdown().await;
//! # Ok(()) }
//! ```

mod access_point;
mod ecs_metadata;
mod faults;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gateway_acs3;
mod gateway_api;
mod instance_api;
mod kubelet;
#[cfg(test)]
mod localkms_tests;
mod pki;
mod server;
mod store;
mod sts;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

pub use access_point::AccessPoint;
pub use faults::{Fault, RecordedRequest};
pub use gateway_api::{MetadataRequest, StsCredentials, MAX_TIMESTAMP_SKEW};
pub use instance_api::{string_to_sign, API_VERSION, CONTENT_TYPE, SIGNATURE_METHOD};
pub use kubelet::{KubeletAtomicWriter, WriterStep};
pub use pki::{ServerCertificate, WRONG_NAME_HOST};
pub use store::{
    format_date, AccessKeyPair, LookupError, RamCredentialOptions, SecretValueView, ACS_CURRENT,
    ACS_PREVIOUS, DEFAULT_ROTATION_INTERVAL,
};
pub use sts::{OidcRole, OidcStsRequest};

use access_point::AccessPointRecord;
use faults::Faults;
use store::Store;

use crate::config::{Endpoint, InstanceEndpointConfig};

/// Why LocalKms could not start or write its files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalKmsError {
    /// Certificate or key generation failed.
    #[error("LocalKms PKI: {0}")]
    Pki(String),
    /// A file or directory could not be written.
    #[error("LocalKms cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The listening socket could not be bound.
    #[error("LocalKms cannot listen on {addr}: {source} (is the port in use? use port 0 for an ephemeral one)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The instance id is not usable as a host name label.
    #[error("LocalKms instance id {0:?} is invalid: use lower-case letters, digits and '-', like kst-hzz62ee817bvyyr5x")]
    InstanceId(String),
}

/// A random `8-4-4-4-12` lower-case hex id (RequestId, KeyId suffix, VersionId).
pub(crate) fn uuid_like() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Locks a mutex, ignoring poisoning (a panicking test must not wedge the emulator).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by every protocol handler of one LocalKms.
#[derive(Default)]
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<Vec<RecordedRequest>>,
    pub access_points: Mutex<HashMap<String, AccessPointRecord>>,
    pub gateway: Mutex<gateway_api::GatewayState>,
    pub oidc: Mutex<sts::OidcState>,
    /// TLS handshakes that failed, on every TLS listener (a client refusing our certificate).
    pub tls_handshake_failures: Arc<AtomicUsize>,
}

/// Where LocalKms writes its files.
enum Dir {
    Temp(tempfile::TempDir),
    Given(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(t) => t.path(),
            Dir::Given(p) => p,
        }
    }
}

/// Configures a [`LocalKms`] before starting it.
#[derive(Debug, Clone, Default)]
pub struct LocalKmsBuilder {
    instance_id: Option<String>,
    region_id: Option<String>,
    port: u16,
    dir: Option<PathBuf>,
    server_certificate: ServerCertificate,
}

impl LocalKmsBuilder {
    /// The instance id (default: `kst-loc` + 16 random hex digits). The endpoint host is
    /// `{id}.cryptoservice.kms.aliyuncs.com`.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Region label (default `cn-hangzhou`), used in the Second CA name and configs.
    pub fn region_id(mut self, region: impl Into<String>) -> Self {
        self.region_id = Some(region.into());
        self
    }

    /// TCP port on 127.0.0.1 (default 0: ephemeral).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Directory for the CA, ClientKey, password and properties files (created if missing, owner-only
    /// on unix; default: a temporary directory removed when the LocalKms is dropped). ClientKey and
    /// password files are written owner-only (0600 on unix).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Which certificate the TLS server presents (default [`ServerCertificate::Trusted`]).
    pub fn server_certificate(mut self, kind: ServerCertificate) -> Self {
        self.server_certificate = kind;
        self
    }

    /// Generates the PKI, writes the CA file, binds the port and spawns the server on the
    /// current tokio runtime.
    pub async fn start(self) -> Result<LocalKms, LocalKmsError> {
        let instance_id = match self.instance_id {
            Some(id) => id,
            None => format!("kst-loc{}", hex::encode(rand::random::<[u8; 8]>())),
        };
        if instance_id.is_empty()
            || instance_id.len() > 63
            || !instance_id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(LocalKmsError::InstanceId(instance_id));
        }
        let region_id = self.region_id.unwrap_or_else(|| "cn-hangzhou".to_owned());
        let dir = match self.dir {
            Some(path) => {
                // It will hold ClientKeys and passwords: directories created here are owner-only
                // (an existing directory keeps its mode; the secret files themselves are 0600).
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&path).map_err(|source| LocalKmsError::Io {
                    path: path.clone(),
                    source,
                })?;
                Dir::Given(path)
            }
            None => Dir::Temp(
                tempfile::Builder::new()
                    .prefix("localkms-")
                    .tempdir()
                    .map_err(|source| LocalKmsError::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?,
            ),
        };
        let host = format!("{instance_id}.cryptoservice.kms.aliyuncs.com");
        let pki = pki::Pki::generate(&region_id)?;
        let ca_file = access_point::write_file(
            dir.path(),
            &format!("PrivateKmsCA_{instance_id}.pem"),
            pki.ca_pem(),
        )?;
        let tls = pki.server_config(&host, self.server_certificate)?;

        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| LocalKmsError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| LocalKmsError::Bind { addr: bind, source })?;
        let shared = Arc::new(Shared::default());
        let server = server::spawn(
            listener,
            tls,
            gateway_api::instance_host_handler(shared.clone(), host.clone()),
            shared.tls_handshake_failures.clone(),
        );
        tracing::debug!(%addr, %host, "LocalKms started");
        let kms = LocalKms {
            instance_id,
            region_id,
            endpoint: Endpoint {
                host,
                port: addr.port(),
            },
            addr,
            ca_file,
            pki,
            shared,
            next_key: AtomicUsize::new(0),
            servers: Mutex::new(vec![server]),
            gateway: std::sync::OnceLock::new(),
            dir,
        };
        kms.start_gateway().await?;
        Ok(kms)
    }
}

/// An in-process KMS: real HTTPS on 127.0.0.1, real ClientKeys, real signature checks, scripted
/// rotation and faults. Stops when [`LocalKms::shutdown`] is awaited or when dropped.
///
/// Management methods taking a secret name panic (with a message naming it) when the secret
/// does not exist or has the wrong type: they are test set-up mistakes.
pub struct LocalKms {
    instance_id: String,
    region_id: String,
    endpoint: Endpoint,
    addr: SocketAddr,
    ca_file: PathBuf,
    /// Kept to issue leaves for further listeners ([`LocalKms::add_listener`]).
    pki: pki::Pki,
    shared: Arc<Shared>,
    next_key: AtomicUsize,
    /// The instance API listener first, then any added ones.
    servers: Mutex<Vec<server::ServerHandle>>,
    /// Shared-gateway, STS and ECS metadata listeners (see `gateway_api`).
    gateway: std::sync::OnceLock<gateway_api::GatewayListeners>,
    // Last: the directory outlives the server.
    dir: Dir,
}

impl std::fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKms")
            .field("endpoint", &self.endpoint)
            .field("addr", &self.addr)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl LocalKms {
    /// Starts a LocalKms with defaults (random instance id, temporary dir, ephemeral port).
    pub async fn start() -> Result<Self, LocalKmsError> {
        Self::builder().start().await
    }

    /// A builder for non-default settings.
    pub fn builder() -> LocalKmsBuilder {
        LocalKmsBuilder::default()
    }

    /// The instance id (`kst-…`).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// `{instanceId}.cryptoservice.kms.aliyuncs.com` with the listening port.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// `127.0.0.1:port`: where to connect (`connectTo`, reqwest `resolve`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The instance CA file: root CA then Second CA.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The directory LocalKms writes its files to.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The region label.
    pub fn region_id(&self) -> &str {
        &self.region_id
    }

    /// Issues an application access point allowed to read secrets matching `allowed_secrets`
    /// (`"*"` = all, trailing `*` = prefix, else exact name), writing its ClientKey JSON,
    /// password file and a properties file into [`LocalKms::dir`].
    ///
    /// # Panics
    /// If the files cannot be written or the ClientKey cannot be built (a broken test setup).
    pub fn issue_access_point(&self, allowed_secrets: &[&str]) -> AccessPoint {
        match self.try_issue_access_point(allowed_secrets) {
            Ok(ap) => ap,
            Err(e) => panic!("LocalKms::issue_access_point: {e}"),
        }
    }

    /// [`LocalKms::issue_access_point`] returning errors instead of panicking.
    pub fn try_issue_access_point(
        &self,
        allowed_secrets: &[&str],
    ) -> Result<AccessPoint, LocalKmsError> {
        let index = self.next_key.fetch_add(1, Ordering::Relaxed);
        let issued = access_point::issue_client_key(&self.instance_id, index)?;
        let dir = self.dir.path();
        let client_key_file = access_point::write_secret_file(
            dir,
            &format!("clientKey_{}.json", issued.key_id),
            &issued.json,
        )?;
        let password_file = access_point::write_secret_file(
            dir,
            &format!("clientKey_{}_Password.txt", issued.key_id),
            &format!("{}\n", issued.password.as_str()),
        )?;
        let properties = access_point::properties_text(
            &self.region_id,
            &self.endpoint,
            self.addr,
            &client_key_file,
            &password_file,
            &self.ca_file,
        );
        let properties_file = access_point::write_file(
            dir,
            &format!("managed_credentials_providers_{}.properties", issued.key_id),
            &properties,
        )?;
        // The most recently issued access point is also the directory's default config file.
        access_point::write_file(dir, "managed_credentials_providers.properties", &properties)?;
        lock(&self.shared.access_points).insert(
            issued.key_id.clone(),
            AccessPointRecord {
                public_key: issued.public_key.clone(),
                allowed_secrets: allowed_secrets.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        Ok(AccessPoint {
            key_id: issued.key_id.clone(),
            client_key_file,
            password_file,
            password: issued.password.to_string(),
            ca_file: self.ca_file.clone(),
            properties_file,
        })
    }

    /// Removes an access point: its requests then fail with `Unauthorized`.
    pub fn revoke_access_point(&self, key_id: &str) -> bool {
        lock(&self.shared.access_points).remove(key_id).is_some()
    }

    /// The typed config entry for `ap` (what its properties file says).
    pub fn instance_config(&self, ap: &AccessPoint) -> InstanceEndpointConfig {
        ap.instance_config(&self.region_id, &self.endpoint, self.addr)
    }

    /// Creates (or replaces) a RAM credential with default rotation settings.
    pub fn put_ram_credential(&self, name: &str) -> AccessKeyPair {
        self.put_ram_credential_with(name, RamCredentialOptions::default())
    }

    /// Creates (or replaces) a RAM credential with the given rotation settings.
    pub fn put_ram_credential_with(
        &self,
        name: &str,
        options: RamCredentialOptions,
    ) -> AccessKeyPair {
        lock(&self.shared.store).put_ram_credential(name, options)
    }

    /// Stores a Generic text secret (a new ACSCurrent version if it exists).
    pub fn put_generic_secret(&self, name: &str, text: &str) {
        lock(&self.shared.store).put_generic(name, text.to_owned(), "text");
    }

    /// Stores a Generic binary secret (served base64, `SecretDataType` `binary`).
    pub fn put_binary_secret(&self, name: &str, data: &[u8]) {
        lock(&self.shared.store).put_binary(name, data);
    }

    /// Rotates a RAM credential: a new AccessKey becomes ACSCurrent, the old one ACSPrevious,
    /// `LastRotationDate` = now, `NextRotationDate` = now + interval.
    ///
    /// # Panics
    /// If `name` is not a RAM credential of this LocalKms.
    pub fn rotate(&self, name: &str) -> AccessKeyPair {
        match lock(&self.shared.store).rotate(name) {
            Some(ak) => ak,
            None => panic!("LocalKms::rotate: no RAM credential named {name:?}"),
        }
    }

    /// Changes `NextRotationDate` without rotating.
    ///
    /// # Panics
    /// If `name` is not a RAM credential of this LocalKms.
    pub fn set_next_rotation(&self, name: &str, at: SystemTime) {
        if !lock(&self.shared.store).set_next_rotation(name, at) {
            panic!("LocalKms::set_next_rotation: no RAM credential named {name:?}");
        }
    }

    /// The ACSCurrent AccessKey of a RAM credential.
    ///
    /// # Panics
    /// If `name` is not a RAM credential of this LocalKms.
    pub fn current_access_key(&self, name: &str) -> AccessKeyPair {
        match lock(&self.shared.store).current_access_key(name) {
            Some(ak) => ak,
            None => panic!("LocalKms::current_access_key: no RAM credential named {name:?}"),
        }
    }

    /// Whether a downstream service would still accept this AccessKey id (ACSCurrent and
    /// ACSPrevious keys, until revoked).
    pub fn is_access_key_valid(&self, access_key_id: &str) -> bool {
        lock(&self.shared.store).is_access_key_valid(access_key_id)
    }

    /// Invalidates the ACSPrevious AccessKey of `name` (no-op if there is none).
    pub fn revoke_previous(&self, name: &str) {
        lock(&self.shared.store).revoke_previous(name);
    }

    /// Whether a secret of that name exists.
    pub fn has_secret(&self, name: &str) -> bool {
        lock(&self.shared.store).contains(name)
    }

    /// Names of all stored secrets, sorted.
    pub fn secret_names(&self) -> Vec<String> {
        lock(&self.shared.store).names()
    }

    /// What a GetSecretValue would return now (without a request being logged).
    pub fn secret_value(
        &self,
        name: &str,
        version_stage: Option<&str>,
    ) -> Result<SecretValueView, LookupError> {
        lock(&self.shared.store).lookup(name, version_stage, None)
    }

    /// Queues a fault for the next request (FIFO).
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Queues a fault for the next request naming `secret_name` (checked before the global
    /// queue).
    pub fn push_fault_for(&self, secret_name: &str, fault: Fault) {
        lock(&self.shared.faults).push_for(secret_name, fault);
    }

    /// A fault applied to every request that has no queued fault (`None` clears it).
    pub fn set_fault_always(&self, fault: Option<Fault>) {
        lock(&self.shared.faults).set_always(fault);
    }

    /// Clears queued and "always" faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// GetSecretValue requests that named `name`, whatever their outcome.
    pub fn request_count(&self, name: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.secret_name == name)
            .count()
    }

    /// All requests received, whatever their outcome.
    pub fn total_requests(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// TLS handshakes that failed on any LocalKms TLS listener since start (e.g. a client that
    /// does not trust the presented certificate): shows how often a client retried a handshake
    /// that cannot succeed.
    pub fn tls_handshake_failures(&self) -> usize {
        self.shared.tls_handshake_failures.load(Ordering::SeqCst)
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Stops every listener and closes every connection. Files stay until the LocalKms is
    /// dropped.
    pub async fn shutdown(&self) {
        let servers = std::mem::take(&mut *lock(&self.servers));
        for mut server in servers {
            server.shutdown().await;
        }
        self.stop_gateway();
    }

    /// Starts another TLS listener on 127.0.0.1 (ephemeral port) answering as `host` with a
    /// certificate from this LocalKms's Second CA, serving the handler `make_handler` builds
    /// over the shared store, faults and request log. This is how a second protocol (the
    /// shared gateway) joins the same emulator.
    #[allow(dead_code)] // used by additional protocols
    pub(crate) async fn add_listener(
        &self,
        host: &str,
        kind: ServerCertificate,
        make_handler: impl FnOnce(Arc<Shared>) -> server::Handler,
    ) -> Result<SocketAddr, LocalKmsError> {
        self.add_listener_with_names(host, &[], kind, make_handler)
            .await
    }

    /// [`LocalKms::add_listener`] whose certificate also names `alt_names` (DNS names or IP
    /// addresses): one listener answering under several names.
    pub(crate) async fn add_listener_with_names(
        &self,
        host: &str,
        alt_names: &[&str],
        kind: ServerCertificate,
        make_handler: impl FnOnce(Arc<Shared>) -> server::Handler,
    ) -> Result<SocketAddr, LocalKmsError> {
        let tls = self.pki.server_config_with_names(host, alt_names, kind)?;
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| LocalKmsError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| LocalKmsError::Bind { addr: bind, source })?;
        let handle = server::spawn(
            listener,
            tls,
            make_handler(self.shared.clone()),
            self.shared.tls_handshake_failures.clone(),
        );
        lock(&self.servers).push(handle);
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn added_listener_shares_state_and_stops_with_the_rest() {
        let kms = LocalKms::start().await.unwrap();
        kms.put_generic_secret("shared", "value");
        let host = "kms.cn-hangzhou.aliyuncs.com";
        let addr = kms
            .add_listener(host, ServerCertificate::Trusted, |shared| {
                Arc::new(move |_request| -> server::AnswerFuture {
                    let shared = shared.clone();
                    Box::pin(async move {
                        let view = lock(&shared.store).lookup("shared", None, None);
                        let text = view.map(|v| v.secret_data.to_string()).unwrap_or_default();
                        server::Answer::Reply(hyper::Response::new(http_body_util::Full::new(
                            hyper::body::Bytes::from(text),
                        )))
                    })
                })
            })
            .await
            .unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(kms.ca_file()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
            .resolve(host, addr)
            .build()
            .unwrap();
        let url = format!("https://{host}:{}/", addr.port());
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "value");
        kms.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
        assert!(tokio::net::TcpStream::connect(kms.addr()).await.is_err());
    }
}
