//! The manual: configuration reference, using the key, how the provider works, testing with
//! `LocalKms`, benchmarks. This module contains only documentation; every Rust example in it is
//! compiled as a doc test.
//!
//! Contents:
//!
//! * [Configuration](#configuration): the properties file, every key, the grammar, where the file
//!   is read from, password order, endpoints, validation, differences from the official parsers.
//! * [Using the key](#using-the-key): the provider, errors, the
//!   [`ProvideAccessKey`](crate::ProvideAccessKey) trait and the
//!   [`AccessKeyProvider`](crate::AccessKeyProvider) handle, [`with_access_key`](crate::with_access_key),
//!   RPC signing, adapters per cargo feature, the local credentials endpoint and
//!   `credential-process` (CLI profile `External`) for other languages, and
//!   [which official client works with which](#which-official-client-works-with-which-output).
//! * [Secrets synced by the cluster](#secrets-synced-by-the-cluster-kubernetes): read the key from
//!   files that ack-secret-manager, the External Secrets Operator or the Secrets Store CSI driver
//!   keep in sync with KMS (`secret_files_dir`), so pods put no load on KMS.
//! * [How the provider works](#how-the-provider-works): cache, refresh schedule, stale-if-error,
//!   forced refresh, failover and hedging, observability.
//! * [Talking to KMS](#talking-to-kms): the KMS instance API and the shared gateway on the wire,
//!   TLS, retries, errors.
//! * [Identity: ClientKey, password, CA file](#identity-clientkey-password-ca-file).
//! * [Testing with LocalKms](#testing-with-localkms).
//! * [Fault matrix](#fault-matrix): what reads get through each KMS, network and process fault.
//! * [Fleet scale](#fleet-scale): thousands of pods against KMS's quota, simulated; the defaults
//!   chosen from it.
//! * [Benchmarks](#benchmarks).
//! * [Why this one](#why-this-one): compared with the official Java / Go / Python providers.
//! * [Test suites](#test-suites): which command tests what, and [fuzzing](#fuzzing).
//!
//! # Configuration
//!
//! The provider is configured by one `.properties` file in the format of the official Alibaba Cloud
//! managed-credentials providers (`managed_credentials_providers.properties`), by a typed builder
//! ([`ConfigBuilder`](crate::config::ConfigBuilder)), or by both (file first, code overrides). A
//! commented example of both forms is `managed_credentials_providers.properties.example` in the
//! repository.
//!
//! ```no_run
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! # let secret_from_somewhere = String::from("...");
//! use aliyun_managed_credentials::config::{Config, ConfigBuilder};
//! use aliyun_managed_credentials::ManagedCredentialsProvider;
//! use std::time::Duration;
//!
//! // ALIYUN_MANAGED_CREDENTIALS_FILE, else ./managed_credentials_providers.properties
//! let config = Config::from_default_location()?;
//! // or an explicit path (wins over the environment variable)
//! let config = Config::from_properties_file("/etc/myapp/managed_credentials_providers.properties")?;
//! // or in code
//! let config = Config::builder()
//!     .with_access_key("LTAI5t...", secret_from_somewhere)
//!     .add_gateway_region("cn-hangzhou")
//!     .with_secret_names(["acs/ram/user/myapp-prod"])
//!     .build()?;
//! // or a file with code overrides (builder calls win; add_* appends)
//! let file = Config::from_default_location()?;
//! let mut http = file.http.clone();
//! http.request_timeout = Duration::from_secs(3);
//! let config = ConfigBuilder::from_config(file).with_http(http).build()?;
//!
//! let provider = ManagedCredentialsProvider::from_config(config).await?;
//! # let _ = provider;
//! # Ok(()) }
//! ```
//!
//! `Config::from_properties_str` parses text you already have; relative paths in it resolve against the directory you pass, and the label names the
//! text in errors:
//!
//! ```
//! use aliyun_managed_credentials::config::Config;
//!
//! let text = r#"
//! credentials_type=ak
//! credentials_access_key_id=LTAI5tExample
//! credentials_access_secret=not-a-real-secret
//! cache_client_region_id=[{"regionId":"cn-hangzhou"}]
//! secret_names=acs/ram/user/app
//! "#;
//! let config = Config::from_properties_str(text, "/etc/myapp", "inline example")?;
//! # let _ = config;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every top-level key in the tables below is a variant of
//! [`ConfigKey`](crate::config::ConfigKey), which parses from and prints as the key's name:
//!
//! ```
//! use aliyun_managed_credentials::config::ConfigKey;
//!
//! let key: ConfigKey = "refresh_jitter_ms".parse().ok().expect("a known key");
//! assert_eq!(key.as_str(), "refresh_jitter_ms");
//! assert!("secret_name".parse::<ConfigKey>().is_err()); // the key is `secret_names`
//! ```
//!
//! ## Where the file comes from
//!
//! Highest precedence first; exactly one file is read:
//!
//! 1. a path given in code: `Config::from_properties_file(path)` or
//!    [`ManagedCredentialsProvider::from_properties_file`](crate::ManagedCredentialsProvider::from_properties_file);
//! 2. the environment variable **`ALIYUN_MANAGED_CREDENTIALS_FILE`**
//!    (a path, relative to the working directory). If it is set, the working directory is not consulted;
//! 3. `managed_credentials_providers.properties` in the working directory.
//!
//! If nothing is found, the error lists every location searched.
//!
//! **Nothing else is merged.** The official clients silently merge `secretsmanager.properties` and
//! process environment variables with the same names as the keys into the managed-credentials
//! configuration (so an unrelated `credentials_type` in the environment can replace the file's
//! credential). This crate reads only the one file; environment variables are read only where a key
//! says so (password sources). Relative paths inside the file resolve against the file's own
//! directory. Loading the configuration never opens the ClientKey, password or CA files it names;
//! they are read (and their errors reported) when the provider builds its identities.
//!
//! ## Grammar
//!
//! Java `java.util.Properties.load` semantics, read as UTF-8 (a leading BOM is accepted; other
//! encodings are rejected with the line of the first bad byte):
//!
//! - `key=value`, `key: value` and `key value` are equivalent; white space around the separator is
//!   skipped; the value is the rest of the line and keeps `=`, `#`, `:` and inner spaces (the
//!   official Go parser drops values containing `=`, the Python one cuts at `#`).
//! - `#` or `!` start a comment only as the first non-blank character of a line.
//! - A line ending in an odd number of `\` continues on the next line; the next line's leading
//!   blanks are dropped. Long JSON lists can be split this way.
//! - Escapes: `\t \n \r \f \uXXXX` (surrogate pairs combined), `\\` is a backslash, any other `\c`
//!   is `c`. So **a backslash inside JSON must be doubled**: `"clientKeyContent":"{\\"KeyId\\":...}"`.
//!   A malformed `\uXXXX` is an error naming the line and key.
//! - A key given twice: the last value wins and a warning names both lines.
//! - Values are trimmed of surrounding blanks when interpreted; an empty value counts as absent.
//! - Unknown keys and unknown JSON fields are logged (`tracing` WARN) with file, line and a
//!   "did you mean" suggestion for near misses, e.g.
//!   ``app.properties, line 7: unknown key `secret_name` is ignored (did you mean `secret_names`?)``.
//!
//! ## Keys of the official clients
//!
//! | Key | Meaning | Type | Default | Example | Notes |
//! | --- | --- | --- | --- | --- | --- |
//! | `credentials_type` | how to authenticate to the `cache_client_region_id` endpoints (shared or instance gateway) | `client_key` \| `ak` \| `token` \| `sts` \| `ram_role` \| `ecs_ram_role` \| `oidc_role_arn` \| `sts_token` | none (then only `cache_client_dkms_config_info` works, unless the [RRSA environment](#rrsa--oidc-oidc_role_arn) is set) | `client_key` | case-insensitive; an unknown value is an error listing the allowed ones. `sts_token` is ours. |
//! | `credentials_access_key_id` | AccessKey id | string | — | `LTAI5t…` | required for `ak`, `sts`, `ram_role`, `sts_token` |
//! | `credentials_access_secret` | AccessKey secret | string (secret) | — | | required with the id; never printed |
//! | `credentials_access_token_id`, `credentials_access_token` | `token` type: used as an AccessKey pair | string (token is secret) | — | | both required for `token` |
//! | `credentials_security_token` | STS security token (ours, `sts_token`) | string (secret) | — | | required for `sts_token` |
//! | `credentials_role_arn` | RAM role to assume | string | `oidc_role_arn`: `ALIBABA_CLOUD_ROLE_ARN` | `acs:ram::123:role/app` | required for `sts`/`ram_role`, and for `oidc_role_arn` (here or in the variable) |
//! | `credentials_role_session_name` | role session name | string | `oidc_role_arn`: `ALIBABA_CLOUD_ROLE_SESSION_NAME`, else `aliyun-managed-credentials-<unix s>` | `app-session` | required for `sts`/`ram_role` |
//! | `credentials_policy` | inline policy for AssumeRole / AssumeRoleWithOIDC | JSON string | none | | `sts`/`ram_role`/`oidc_role_arn` |
//! | `credentials_duration_seconds` | session duration asked of STS | integer s | 3600 | `3600` | `sts`/`ram_role`/`oidc_role_arn`; non-integer is an error; `oidc_role_arn`: 900–43200 |
//! | `credentials_sts_endpoint` | STS endpoint | `host[:port]` | `sts.aliyuncs.com` (`oidc_role_arn`: from the STS region, below) | `sts-vpc.cn-hangzhou.aliyuncs.com` | `sts`/`ram_role`/`oidc_role_arn`; wins over region and VPC |
//! | `credentials_oidc_provider_arn` | OIDC identity provider in RAM | string | `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` | `acs:ram::123:oidc-provider/ack-rrsa-c0123…` | required for `oidc_role_arn` (here or in the variable) |
//! | `credentials_oidc_token_file_path` | the OIDC token file | path (relative: to the properties file's directory) | `ALIBABA_CLOUD_OIDC_TOKEN_FILE` | `/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token` | required for `oidc_role_arn`; read at every STS call, never at load |
//! | `credentials_sts_region_id` | STS region: `sts.<region>.aliyuncs.com` | region id | `ALIBABA_CLOUD_STS_REGION`, else the global `sts.aliyuncs.com` | `cn-hangzhou` | `oidc_role_arn` |
//! | `credentials_role_name` | ECS instance RAM role | string | discovered from metadata | `EcsRamRoleForApp` | `ecs_ram_role`; optional here (required by the official v1 clients) |
//! | `credentials_ecs_metadata_endpoint` | ECS metadata service (ours) | `host[:port]` or `http://host[:port]` | `100.100.100.200` | `http://127.0.0.1:8080` | `ecs_ram_role`; plain HTTP, default port 80 |
//! | `client_key_private_key_path` | ClientKey JSON `{"KeyId","PrivateKeyData"}` | path | — | `/etc/app/clientKey_KAAP.xxx.json` | required for `client_key`; also the fallback `clientKeyFile` of DKMS entries |
//! | `client_key_password_from_file_path` | file holding the ClientKey password | path | — | `/etc/app/clientKey_KAAP.xxx_Password.txt` | see [password order](#clientkey-password-order) |
//! | `client_key_password_from_env_variable` | **name** of an env var holding the password | env-var name | — | `CLIENT_KEY_PWD` | see [password order](#clientkey-password-order) |
//! | `cache_client_region_id` | shared-gateway regions (or, v2-style, KMS instance gateways), failover order | JSON list (below) | — | `[{"regionId":"cn-hangzhou"}]` | needs `credentials_type` |
//! | `cache_client_dkms_config_info` | KMS instance endpoints, ClientKey auth | JSON list (below) | — | see the example file | |
//! | `secret_names` | secrets to fetch at start-up | comma-separated | empty | `acs/ram/user/a, acs/ram/user/b` | names trimmed, empty items and duplicates dropped |
//! | `rotation_interval` | longest time between refreshes (MCP) | integer ms | 21600000 (6 h) | `3600000` | same as `refresh_max_interval_ms`, which wins if both are set (warning) |
//! | `delay_interval` | delay after `NextRotationDate` (MCP) | integer ms | 300000 (5 min) | | same as `refresh_rotation_delay_ms`, which wins |
//! | `monitor_period_milliseconds`, `monitor_customer_milliseconds` | MCP AK-monitor periods | — | — | | accepted and ignored (debug log); there is no monitor thread |
//!
//! A `client_key_password` key in the file is ignored with a warning: that name is read only from
//! the environment. Our key `credentials_sts_vpc` (`true`/`false`, default
//! `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`, else `false`) selects `sts-vpc.<region>.aliyuncs.com`
//! for `oidc_role_arn`; the official clients have no properties key for it, only the variable.
//! See [RRSA / OIDC](#rrsa--oidc-oidc_role_arn) for how these keys and the `ALIBABA_CLOUD_*`
//! variables combine.
//!
//! The `credentials_type` becomes a [`KmsIdentity`](crate::config::KmsIdentity) (how the application
//! authenticates to KMS): `client_key` → `ClientKey`, `ak` and `token` → `AccessKey`, `sts_token` →
//! `StsToken`, `sts` and `ram_role` → `RamRoleArn`, `ecs_ram_role` → `EcsRamRole`,
//! `oidc_role_arn` → `OidcRoleArn`.
//!
//! ### `cache_client_region_id` entries
//!
//! Each entry becomes a [`GatewayEndpointConfig`](crate::config::GatewayEndpointConfig).
//!
//! | Field | Type | Default | Notes |
//! | --- | --- | --- | --- |
//! | `regionId` | string | required | letters, digits, `-`, `_` |
//! | `endpoint` | `host[:port]`, optional `https://`, trailing `/` | `kms.{regionId}.aliyuncs.com` | wins over `vpc` |
//! | `vpc` | `true`/`false` or `"true"`/`"false"` | `false` | `kms-vpc.{regionId}.aliyuncs.com`; the string `"false"` means false (the Python client treats it as true) |
//! | `caFilePath` | path | none; **required** for an instance gateway | shared gateway: extra trust anchors in addition to the public roots (a TLS-intercepting proxy); instance gateway: the instance CA bundle, trusted alone |
//! | `connectTo` | `"ip:port"` | none | ours: connect to this address, verify TLS against `endpoint` (like curl `--connect-to`) |
//! | `signatureVersion` | `"v1"` \| `"v3"` | see [signatures](#which-signature-is-sent) | ours: `v1` = RPC signature 1.0, `v3` = `ACS3-HMAC-SHA256`; `v3` is refused with `credentials_type=client_key` |
//!
//! An `endpoint` ending in `.cryptoservice.kms.aliyuncs.com` names a **KMS instance's own
//! gateway**, reached with the RAM identity of `credentials_type` (AccessKey, STS token, RAM role,
//! ECS RAM role) — the way the official v2 clients (2026) configure it:
//!
//! ```text
//! credentials_type=ak
//! credentials_access_key_id=LTAI5t...
//! credentials_access_secret=...
//! cache_client_region_id=[{"regionId":"cn-hangzhou","endpoint":"kst-hzz6xxxxxxxx.cryptoservice.kms.aliyuncs.com","caFilePath":"/etc/app/PrivateKmsCA_kst-hzz6xxxxxxxx.pem"}]
//! ```
//!
//! Its TLS certificate is checked against **exactly** the certificates in `caFilePath` (root and
//! "Second CA" of the instance), never the public roots: the official Python v2 client adds the
//! CA file to the default roots, so any public CA could vouch for the instance name there; here it
//! cannot. Without `caFilePath` loading fails with an error naming the entry and field: the v2
//! clients fall back to 27 CA files bundled per region, which this crate does not ship (a CA
//! bundled in a library cannot be rotated by the user, and the instance's own
//! `PrivateKmsCA_<instanceId>.pem` from the KMS console is always available). A ClientKey reaches
//! an instance through `cache_client_dkms_config_info` (the instance API), so a ClientKey identity
//! with an instance-gateway entry is refused with a message saying so.
//!
//! ### `cache_client_dkms_config_info` entries
//!
//! Each entry becomes an [`InstanceEndpointConfig`](crate::config::InstanceEndpointConfig).
//!
//! | Field | Type | Default | Notes |
//! | --- | --- | --- | --- |
//! | `regionId` | string | required | label of the instance |
//! | `endpoint` | `host[:port]` | required | `kst-xxx.cryptoservice.kms.aliyuncs.com` |
//! | `clientKeyFile` | path | top-level `client_key_private_key_path` | the official clients require it; we fall back (documented) |
//! | `clientKeyContent` | the ClientKey JSON, as a string or an inline object | none | secret; setting both this and `clientKeyFile` is an error |
//! | `passwordFromFilePath` | path | none | |
//! | `passwordFromEnvVariable` | env-var **name** | none | as documented by Alibaba (the Java/Go clients look the name up in the properties first; we do not) |
//! | `passwordFromFilePathName` | name of a key in this file whose value is the password file path | none | compatibility; an unknown key name is an error |
//! | `ignoreSslCerts` | `true`/`false` or string | `false` | turns off certificate checks (logged as a warning by the client) |
//! | `caFilePath` | path | required unless `ignoreSslCerts` | the instance CA bundle from the KMS console |
//! | `connectTo` | `"ip:port"` | none | ours, as above |
//!
//! Fields the official DKMS object inherits from the instance SDK (`protocol`, `readTimeout`,
//! `httpProxy`, `password`, `caCert`, …) are ignored with a warning.
//!
//! ## RRSA / OIDC (`oidc_role_arn`)
//!
//! In Alibaba Cloud Kubernetes (ACK) with RRSA, a pod whose service account is bound to a RAM role
//! gets a projected OIDC token file and three environment variables. `credentials_type=oidc_role_arn`
//! trades that token for an STS session with the anonymous STS `AssumeRoleWithOIDC` and signs KMS
//! requests with it, as the official v2 clients do.
//!
//! | Value | Key | Environment variable (used when the key is absent) | Default |
//! | --- | --- | --- | --- |
//! | role ARN | `credentials_role_arn` | `ALIBABA_CLOUD_ROLE_ARN` | required |
//! | OIDC provider ARN | `credentials_oidc_provider_arn` | `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` | required |
//! | token file | `credentials_oidc_token_file_path` | `ALIBABA_CLOUD_OIDC_TOKEN_FILE` | required |
//! | session name | `credentials_role_session_name` | `ALIBABA_CLOUD_ROLE_SESSION_NAME` | `aliyun-managed-credentials-<unix s>` |
//! | STS region | `credentials_sts_region_id` | `ALIBABA_CLOUD_STS_REGION` | none: `sts.aliyuncs.com` |
//! | VPC STS endpoint | `credentials_sts_vpc` (ours) | `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED` (`true`, any case; anything else is false) | `false` |
//! | STS endpoint | `credentials_sts_endpoint` | — | `sts[-vpc].<region>.aliyuncs.com` or `sts.aliyuncs.com` |
//! | session duration | `credentials_duration_seconds` | — | 3600 (900–43200) |
//! | policy | `credentials_policy` | — | none |
//!
//! ```text
//! # managed_credentials_providers.properties in the pod: everything else comes from RRSA
//! credentials_type=oidc_role_arn
//! credentials_sts_region_id=cn-hangzhou
//! credentials_sts_vpc=true
//! cache_client_region_id=[{"regionId":"cn-hangzhou","vpc":true}]
//! ```
//!
//! In code, [`ConfigBuilder::build`](crate::config::ConfigBuilder::build) applies the same
//! fallbacks to a [`KmsIdentity::OidcRoleArn`](crate::config::KmsIdentity::OidcRoleArn) whose
//! fields are `None`; the built [`Config`](crate::config::Config) holds the resolved values.
//!
//! ```
//! use aliyun_managed_credentials::config::{ConfigBuilder, KmsIdentity};
//!
//! let config = ConfigBuilder::new()
//!     .with_identity(KmsIdentity::OidcRoleArn {
//!         role_arn: Some("acs:ram::1234567890123456:role/kms-reader-rrsa".into()),
//!         oidc_provider_arn: Some("acs:ram::1234567890123456:oidc-provider/ack-rrsa-c01".into()),
//!         oidc_token_file: Some("/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token".into()),
//!         role_session_name: None, // ALIBABA_CLOUD_ROLE_SESSION_NAME, else a default
//!         policy: None,
//!         duration: None, // 3600 s
//!         sts_region_id: Some("cn-hangzhou".into()),
//!         sts_vpc: Some(true), // sts-vpc.cn-hangzhou.aliyuncs.com
//!         sts_endpoint: None,
//!     })
//!     .add_gateway_region("cn-hangzhou")
//!     .build()?;
//! assert!(matches!(config.identity, Some(KmsIdentity::OidcRoleArn { .. })));
//! # Ok::<(), aliyun_managed_credentials::config::ConfigError>(())
//! ```
//!
//! What we do, and where it differs from the official clients on purpose:
//!
//! - **No `credentials_type`**: when shared-gateway endpoints are configured and
//!   `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and `ALIBABA_CLOUD_OIDC_TOKEN_FILE`
//!   are all set, `oidc_role_arn` is selected (logged at INFO), like the RRSA step of the official
//!   default credential chain. The other steps of that chain (AccessKey variables, CLI profiles,
//!   ECS role, credentials URI) are not followed: a configuration says how it authenticates. If
//!   `ALIBABA_CLOUD_ACCESS_KEY_ID` is set too, the official chain would use it first; we warn and
//!   use RRSA. The file's `credentials_*` keys are ignored (with a warning) without
//!   `credentials_type`, so to set a region or endpoint, also set `credentials_type=oidc_role_arn`.
//! - **The variables are read when the configuration is loaded or built**, the token file at every
//!   STS call (each refresh), so a rotated token is always the one sent.
//! - **The token is trimmed** of surrounding ASCII whitespace (a JWT has none); the official
//!   clients send a trailing newline of a hand-written file to STS as `%0A`.
//! - **VPC without a region is an error** at load time naming both settings. The official clients
//!   silently call the public `sts.aliyuncs.com` instead, which a VPC without internet access
//!   cannot reach: a start-up error is easier to diagnose than timeouts an hour later.
//! - **The request** is a `POST` with only `Version, Action, Format, Timestamp` in the query and the
//!   parameters in a form body (byte-identical to `@alicloud/credentials`; the Python client puts
//!   the token in the URL). It carries no AccessKey, signature or security token.
//! - **`credentials_duration_seconds`** is an integer from 900 to 43200; the official Python v2
//!   client crashes on any value of this key (read in its source; not run).
//! - **Refresh**: a session is refreshed 15 minutes (at most half its lifetime) before its
//!   `Expiration`, moved earlier by a random up-to-1/30 of that margin so that pods started together
//!   do not call STS together; one caller refreshes while the others keep signing with the current
//!   session. **If STS fails, the current session keeps being used** until 60 s (at most a tenth
//!   of its lifetime) before it expires, with refresh attempts 30 s, 60 s, … up to 5 min apart
//!   (jittered). The official Python client, by its source (not run against a failing STS), fails
//!   every call during its 15-minute refresh window when STS is down, although the session is
//!   still valid.
//!
//! ## Temporary caller sessions that KMS refuses
//!
//! For every refreshing identity (`sts`/`ram_role`, `ecs_ram_role`, `oidc_role_arn`): when KMS
//! answers a request signed with the session with `InvalidSecurityToken.*` or
//! `InvalidAccessKeyId.*` (the session was revoked or expired early), the session is dropped at once (logged at WARN) and the refused request is sent once more, at
//! once, with a new session — exactly one STS (or metadata) call however many requests saw the
//! refusal — instead of failing until its planned refresh. If the new session is refused too,
//! that error is returned (and that session dropped); there is no loop. `SignatureDoesNotMatch`
//! does not drop the session: a new one would be refused the same way. Static identities
//! (`ak`, `sts_token`, `client_key`) cannot be renewed and are left alone.
//!
//! ## ClientKey password order
//!
//! Configuration only records the ordered sources ([`PasswordSource`](crate::config::PasswordSource));
//! they are read when the provider builds its identities, and the first source that yields a
//! password wins (a named file that cannot be read is an error, an unset variable is skipped; see
//! [password sources](#password-sources)).
//!
//! - Top-level `credentials_type=client_key`: `client_key_password_from_file_path`,
//!   `client_key_password_from_env_variable` (the named variable), the variable `client_key_password`.
//! - Each `cache_client_dkms_config_info` entry: `passwordFromFilePath`, `passwordFromEnvVariable`
//!   (the named variable), the file named by the key `passwordFromFilePathName` points to, then the
//!   top-level `client_key_password_from_file_path`, `client_key_password_from_env_variable`, and
//!   finally the variable `client_key_password`.
//!
//! ## Keys of this crate
//!
//! Defaults are the `Default` impls of [`HttpConfig`](crate::config::HttpConfig),
//! [`RetryConfig`](crate::config::RetryConfig) and [`RefreshConfig`](crate::config::RefreshConfig).
//!
//! | Key | Meaning | Type | Default |
//! | --- | --- | --- | --- |
//! | `version_stage` | version stage to fetch | string | `ACSCurrent` |
//! | `connect_timeout_ms` | TCP + TLS connect timeout | ms, > 0 | 5000 |
//! | `request_timeout_ms` | whole-request timeout | ms, > 0 | 10000 |
//! | `max_response_bytes` | largest response body accepted | bytes, ≥ 1 | 1048576 |
//! | `max_attempts` | attempts per request to one endpoint, first included | ≥ 1 | 4 |
//! | `retry_base_delay_ms` | first backoff ceiling (doubles, full jitter) | ms, ≤ max | 200 |
//! | `retry_max_delay_ms` | backoff cap | ms | 5000 |
//! | `refresh_max_interval_ms` | longest time between two refreshes | ms, > 0 | 21600000 (6 h) |
//! | `refresh_rotation_delay_ms` | delay after `NextRotationDate` before refreshing | ms | 300000 (5 min) |
//! | `refresh_expiry_buffer_ms` | refresh this long before `ExpireTimestamp` | ms | 600000 (10 min) |
//! | `refresh_jitter_ms` | random jitter added to each scheduled refresh (0 = none); see Fleet scale | ms | 300000 |
//! | `max_staleness_ms` | how long a key without `ExpireTimestamp` may be served after its last successful fetch while refreshes fail | ms | no limit (a RAM user's key stays valid until rotated and deleted) |
//! | `refresh_retry_base_ms` | first backoff after a failed background refresh | ms, ≤ max | 1000 |
//! | `refresh_retry_max_ms` | cap of that backoff | ms | 300000 (5 min) |
//! | `rejected_key_error_codes` | error codes meaning "this AccessKey is dead" | comma list | `InvalidAccessKeyId,InvalidAccessKeyId.NotFound,InvalidAccessKeyId.Inactive,Unauthorized` |
//! | `forced_refresh_burst` | forced refreshes per secret (token bucket size) | ≥ 1 | 5 |
//! | `forced_refresh_period_ms` | one forced refresh token per period | ms, > 0 | 600000 (10 min) |
//! | `prefetch_fail_fast` | fail start-up when a `secret_names` prefetch fails | `true`/`false` | `false` |
//! | `hedge_delay_ms` | delay before a hedged request goes to the next endpoint | ms | 2000 |
//! | `restart_cache_dir` | directory of the opt-in encrypted restart cache (see [Restart cache](#restart-cache-opt-in)); relative to the file's directory | path | absent: off |
//! | `secret_files_dir` | read secrets from files below this directory instead of KMS ([Secrets synced by the cluster](#secrets-synced-by-the-cluster-kubernetes)); relative to the properties file's directory; excludes `cache_client_dkms_config_info` and `cache_client_region_id` | path | none |
//! | `secret_files_poll_interval_ms` | how often those files are read again (replaces `refresh_max_interval_ms` and the jitter for them) | ms, > 0 | 2000 |
//!
//! Booleans are `true`/`false` in any case; numbers are plain decimal integers.
//!
//! ## Which signature is sent
//!
//! The official clients of each generation sign `GetSecretValue` differently, and this crate follows
//! them ([`GatewaySignature`](crate::config::GatewaySignature); tested byte for byte against requests
//! captured from the official clients):
//!
//! | caller | endpoint | signature | as in |
//! | --- | --- | --- | --- |
//! | ClientKey (`client_key`) | shared gateway | RPC v1, `SHA256withRSA` — always | v1 clients, managed-credentials providers |
//! | ClientKey | instance (`cache_client_dkms_config_info`) | instance API, `x-kms-*` RSA headers, protobuf | v1 clients, instance SDK |
//! | AccessKey, STS token, RAM role, ECS RAM role | shared gateway (`kms[-vpc].{region}.aliyuncs.com`) | RPC v1, `HMAC-SHA1` (`secret&`, `SecurityToken` query parameter) by default; `ACS3-HMAC-SHA256` with `"signatureVersion":"v3"` | v1 clients and providers (whose properties file this is) / v2 clients |
//! | the same | instance gateway (`{instanceId}.cryptoservice.kms.aliyuncs.com` in `cache_client_region_id`) | `ACS3-HMAC-SHA256` by default (`"signatureVersion":"v1"` switches to RPC v1, which the v2 clients never send there) | v2 clients |
//! | RRSA / OIDC (`oidc_role_arn`) | either gateway | `ACS3-HMAC-SHA256` by default (only the v2 clients have this caller type, and they sign V3; `"signatureVersion":"v1"` switches) | v2 clients |
//!
//! V3 (`ACS3-HMAC-SHA256`) puts only the action parameters in the query, signs `host`, `user-agent`,
//! `accept`, `content-type` and every `x-acs-*` header (date, nonce, body hash, and for STS-type
//! credentials `x-acs-accesskey-id` and `x-acs-security-token`) and keys HMAC-SHA256 with the bare
//! secret. Role sessions (STS `AssumeRole`, ECS metadata) sign with whatever temporary credentials
//! the session currently holds, with either signature. Every attempt is signed afresh (new date and
//! nonce). A wrong secret answers `SignatureDoesNotMatch`; the error says whether the server signed
//! the same string (the secret is wrong) or another one (something rewrote the request), and never
//! quotes the server's string-to-sign, which can contain the security token.
//!
//! Checked against the real client, opt-in: the official Python v2 client
//! (`alibabacloud-secretsmanager-client-v2` 2.0.0 from PyPI, with `alibabacloud-credentials`
//! 1.0.12) fetches a secret from LocalKms through the instance gateway (its `caFilePath`) and
//! through the shared gateway, and LocalKms verifies its V3 signatures, with three callers: an
//! AccessKey (`credentials_type=ak`); RRSA / OIDC (`credentials_type=oidc_role_arn` with role
//! ARN, OIDC provider ARN, token file and `credentials_sts_region_id`: one anonymous
//! `AssumeRoleWithOIDC` to `sts.{region}.aliyuncs.com` with the token LocalKms issued, then V3
//! requests signed with the issued STS session and its `x-acs-security-token`); and, on the
//! instance gateway, its default chain (no `credentials_type`, the RRSA variables with
//! `ALIBABA_CLOUD_STS_REGION` and `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`: the same OIDC call
//! through `sts-vpc.{region}.aliyuncs.com`, which is also what this crate does with that
//! configuration). Only name resolution and the trust store (LocalKms's root standing in for a
//! public root for the shared gateway and STS) are changed in the client
//! (`tests/instance_gateway.rs`, `tests/python/secretsmanager_v2_fetch.py`):
//!
//! ```text
//! python3 -m venv /tmp/v2-venv && /tmp/v2-venv/bin/pip install alibabacloud-secretsmanager-client-v2==2.0.0
//! ALIYUN_MC_TEST_PYTHON_V2=/tmp/v2-venv/bin/python cargo test --features test-util --test instance_gateway
//! ```
//!
//! The Java and Go v2 clients were not run. That a real KMS instance gateway answers exactly like
//! the shared gateway is what Alibaba's documentation says and what the Python client expects;
//! it was not checked against a real instance.
//!
//! ## Endpoints
//!
//! An [`Endpoint`](crate::config::Endpoint) is written `host` or `host:port`, with an optional
//! `https://` in front and one `/` behind. Plain `http://`, a path, a port outside 1–65535, IPv6
//! literals (use `connectTo`) and characters other than letters, digits, `-`, `_`, `.` are errors
//! naming the key, entry and field. (The ECS metadata endpoint is the exception: plain HTTP, see
//! `credentials_ecs_metadata_endpoint`.)
//!
//! ## Validation and errors
//!
//! Loading a [`Config`](crate::config::Config) and `ConfigBuilder::build` apply the same checks: at
//! least one instance or gateway endpoint (only a `Config` used together with custom clients given to
//! [`ManagedCredentialsProvider::builder`](crate::ManagedCredentialsProvider::builder) may have
//! none); gateways need a `credentials_type`; the keys each type requires; numbers, booleans and endpoints parse;
//! the ranges above. Every error is a [`ConfigError`](crate::config::ConfigError) variant whose
//! message names the file, line, key and, for the JSON lists, the entry (1-based) and field (see
//! [`Location`](crate::config::Location)), says what is wrong and how to fix it, and never contains
//! the value of a secret key. Examples:
//!
//! ```text
//! app.properties, line 2, key `cache_client_region_id`, entry 2, field `endpoint`: expected a string, found a number
//! app.properties, line 1, key `credentials_type`: `credentials_access_secret` is required when credentials_type is `ak`; add a line `credentials_access_secret=...`
//! app.properties, line 3, in the value of key `credentials_access_secret`: malformed \uXXXX escape: ...
//! no configuration file found; searched: environment variable ALIYUN_MANAGED_CREDENTIALS_FILE (not set); /srv/app/managed_credentials_providers.properties (working directory; does not exist). ...
//! ```
//!
//! Secret values in configuration are held as [`SecretString`](crate::config::SecretString):
//! zeroized on drop, redacted in `Debug`.
//!
//! ## Differences from the official parsers
//!
//! - One grammar (Java's) instead of four; values keep `=` and `#`; UTF-8 instead of ISO-8859-1.
//! - No hidden merging of `secretsmanager.properties` or environment variables; explicit location
//!   precedence; unknown keys reported with suggestions; duplicate keys reported.
//! - `passwordFromEnvVariable` is the name of an environment variable, as documented (Java/Go
//!   implement a double indirection that only works by accident).
//! - `vpc`/`ignoreSslCerts` accept booleans or `"true"`/`"false"` strings consistently.
//! - DKMS entries may omit `clientKeyFile` (fallback to `client_key_private_key_path`) or give
//!   `clientKeyContent` inline.
//! - Errors are typed, name the exact place, and never contain secrets.
//!
//! # Using the key
//!
//! All integrations are thin wrappers over **one** provider cache: every handle, adapter and the
//! credentials endpoint built from one [`ManagedCredentialsProvider`](crate::ManagedCredentialsProvider)
//! share its single-flight fetches, its refresh schedule and its forced-refresh rate limit.
//!
//! ## The provider
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn demo(
//! #     config: aliyun_managed_credentials::Config,
//! #     my_kms_client: Arc<dyn aliyun_managed_credentials::KmsClient>,
//! #     clock: Arc<dyn aliyun_managed_credentials::Clock>,
//! # ) -> aliyun_managed_credentials::Result<()> {
//! use aliyun_managed_credentials::ManagedCredentialsProvider;
//!
//! // From a properties file (or ALIYUN_MANAGED_CREDENTIALS_FILE / ./managed_credentials_providers.properties):
//! let provider = ManagedCredentialsProvider::from_properties_file("managed_credentials_providers.properties").await?;
//! let provider = ManagedCredentialsProvider::from_default_file().await?;
//! // Or with full control: a Config (endpoints, refresh tuning, prefetch list, version stage all
//! // come from it), extra KMS clients appended to the failover order, a clock.
//! let provider = ManagedCredentialsProvider::builder()
//!     .config(config)            // instances -> KMS instance clients (ClientKey + CA loaded now)
//!     .client(my_kms_client)     // any Arc<dyn KmsClient>
//!     .clock(clock)
//!     .build()
//!     .await?;
//!
//! let ak = provider.get_access_key("acs/ram/user/app-prod").await?;   // Arc<AccessKey>
//! let (id, secret) = (ak.access_key_id(), ak.access_key_secret());    // one snapshot, never torn
//! let _ = (ak.version_id(), ak.generate_time(), ak.next_rotation(), ak.expire_time(), ak.fetched_at());
//!
//! let s = provider.get_secret("db/password").await?; // Arc<Secret>: text() or bytes() (binary is base64-decoded)
//! let _ = (s.text(), s.bytes());
//! provider.refresh_now("acs/ram/user/app-prod").await?; // forced, not rate-limited
//! let outcome = provider
//!     .report_rejected("acs/ram/user/app-prod", &ak, "InvalidAccessKeyId.NotFound")
//!     .await;
//! if let Some(new_key) = outcome.new_key() {
//!     // a *different* key is current now: retry the failed call once with it
//! #   let _ = new_key;
//! }
//! let mut rx = provider.subscribe("acs/ram/user/app-prod").await?; // watch::Receiver<Arc<AccessKey>>
//! if rx.changed().await.is_ok() {
//!     let newest = rx.borrow_and_update().clone();
//! #   let _ = newest;
//! }
//! let (health, stats) = (provider.health(), provider.stats());
//! provider.close().await; // stops all background work
//! # let _ = (id, secret, health, stats);
//! # Ok(()) }
//! ```
//!
//! [`ManagedCredentialsProvider`](crate::ManagedCredentialsProvider) is `Clone` (an `Arc` inside)
//! and `Send + Sync`; several independent providers can run in one process (no globals). It must be
//! built inside a tokio runtime; background work runs on that runtime until `close()` or until the
//! last clone is dropped. [`RefreshOutcome`](crate::RefreshOutcome) says what `report_rejected` did
//! (see [forced refresh](#forced-refresh-on-rejection)).
//!
//! [`blocking::ManagedCredentialsProvider`](crate::blocking::ManagedCredentialsProvider) has the same
//! methods without `.await` (like `reqwest::blocking`): it owns a one-worker tokio runtime that runs
//! the scheduler and fetches; cached reads do not enter that runtime at all. Any thread may call it:
//! a plain thread, `spawn_blocking`, or one holding a runtime `enter()` guard. Only a thread of the
//! provider's own runtime is refused (`ProviderError::BlockingWouldDeadlock`); from an async task of
//! another runtime it works but blocks that worker while KMS answers, so use the async provider there.
//!
//! ```no_run
//! # fn demo() -> aliyun_managed_credentials::Result<()> {
//! use aliyun_managed_credentials::blocking::ManagedCredentialsProvider;
//!
//! let provider = ManagedCredentialsProvider::from_default_file()?;
//! let ak = provider.get_access_key("acs/ram/user/app-prod")?;
//! # let _ = ak;
//! # Ok(()) }
//! ```
//!
//! ## Errors
//!
//! Everything fails with [`Error`](crate::Error) (alias [`Result`](crate::Result)), whose variants
//! wrap the stage that failed: [`ConfigError`](crate::ConfigError),
//! [`IdentityError`](crate::IdentityError), [`KmsError`](crate::KmsError) (keeps the KMS code,
//! request id and endpoint; transport failures carry a [`TransportErrorKind`](crate::TransportErrorKind)),
//! [`SecretError`](crate::SecretError) (names the secret and the field, never the value) and
//! [`ProviderError`](crate::ProviderError) (closed, no endpoints, no runtime). Messages never
//! contain secrets. Instead of matching variants, ask the error:
//!
//! ```no_run
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! # let provider = aliyun_managed_credentials::ManagedCredentialsProvider::from_default_file().await?;
//! match provider.get_access_key("acs/ram/user/app").await {
//!     Ok(ak) => {
//!         // sign with ak
//! #       let _ = ak;
//!     }
//!     Err(e) if e.is_configuration() => return Err(e), // config or identity: fix the setup
//!     Err(e) if e.is_secret_not_found() => tracing::warn!("no such secret: {e}"),
//!     Err(e) if e.is_closed() => tracing::warn!("provider closed"),
//!     Err(e) if e.is_account_in_debt() => tracing::error!("account overdue, page someone: {e}"),
//!     Err(e) => tracing::warn!("{e} (KMS code {:?}, retryable: {})", e.code(), e.is_retryable()),
//! }
//! # Ok(()) }
//! ```
//!
//! See [`Error::is_retryable`](crate::Error::is_retryable), [`Error::code`](crate::Error::code),
//! [`Error::is_secret_not_found`](crate::Error::is_secret_not_found),
//! [`Error::is_configuration`](crate::Error::is_configuration),
//! [`Error::is_account_in_debt`](crate::Error::is_account_in_debt) and
//! [`Error::is_closed`](crate::Error::is_closed).
//!
//! An overdue Alibaba Cloud account (`Forbidden.InDebt`, `Forbidden.InDebtOverdue`) makes KMS refuse
//! every call until the account is topped up. The provider logs it at `ERROR` with that advice,
//! keeps serving a cached key while it is valid, and retries only every `refresh_retry_max_ms`
//! (5 min by default) from the first refusal on, instead of its usual exponential backoff that
//! starts at one second: no retry can help, and a fleet of pods should not hammer KMS meanwhile.
//!
//! ## The credentials trait and handle
//!
//! ```no_run
//! # fn sign(_: &str, _: &str) {}
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! use aliyun_managed_credentials::{ManagedCredentialsProvider, ProvideAccessKey};
//! use std::sync::Arc;
//!
//! let provider = ManagedCredentialsProvider::from_default_file().await?;
//! let creds = provider.access_key_provider("acs/ram/user/app"); // cheap, Clone, no I/O yet
//! let ak = creds.access_key().await?;                 // Arc<AccessKey>: one immutable snapshot
//! sign(ak.access_key_id(), ak.access_key_secret());   // id and secret always belong together
//!
//! // The trait is dyn-compatible: hand signers a trait object.
//! let shared: Arc<dyn ProvideAccessKey> = Arc::new(creds.clone());
//! let ak = shared.access_key().await?;
//! # let _ = ak;
//! # Ok(()) }
//! ```
//!
//! [`ProvideAccessKey`](crate::ProvideAccessKey) is what any signer calls per request:
//! [`access_key`](crate::ProvideAccessKey::access_key) returns an
//! [`AccessKeyFuture`](crate::AccessKeyFuture) (a cache hit does no I/O) and
//! [`report_rejected`](crate::ProvideAccessKey::report_rejected) returns a
//! [`BoxFuture`](crate::BoxFuture) of the [`RefreshOutcome`](crate::RefreshOutcome).
//! [`AccessKeyProvider`](crate::AccessKeyProvider), the handle from
//! `ManagedCredentialsProvider::access_key_provider(name)`, also has `cached()` (never waits),
//! `subscribe()` (a `tokio::sync::watch::Receiver<Arc<AccessKey>>` that is notified on every new
//! key, for consumers that hold credentials), `next_refresh()` and `valid_until(&key)`.
//!
//! Adapters report a **synthetic expiry** (managed AccessKeys have none, and consumers that cache a
//! credential without expiry keep it forever): the provider's next scheduled refresh (bounded by the
//! key's `ExpireTimestamp`), clamped into `[now + min_validity, now + max_validity]`, the minimum
//! winning when they conflict. Defaults: 5 min .. 1 h. Tune it per handle with
//! [`ExpiryPolicy`](crate::ExpiryPolicy):
//!
//! ```no_run
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! # let provider = aliyun_managed_credentials::ManagedCredentialsProvider::from_default_file().await?;
//! use aliyun_managed_credentials::ExpiryPolicy;
//! use std::time::Duration;
//!
//! let mut policy = ExpiryPolicy::default();
//! policy.min_validity = Duration::from_secs(2 * 3600); // presigned URLs up to 2 h
//! let creds = provider.access_key_provider("acs/ram/user/app").with_expiry_policy(policy);
//! # let _ = creds;
//! # Ok(()) }
//! ```
//!
//! ## Rotation-aware calls
//!
//! ```no_run
//! # struct MyApiError { code: String }
//! # async fn call_api(_id: &str, _secret: &str) -> Result<String, MyApiError> { unimplemented!() }
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! # let provider = aliyun_managed_credentials::ManagedCredentialsProvider::from_default_file().await?;
//! use aliyun_managed_credentials::{with_access_key, CallError};
//!
//! let creds = provider.access_key_provider("acs/ram/user/app");
//! let answer = with_access_key(
//!     &creds,
//!     |e: &MyApiError| Some(e.code.clone()),              // how to read the error code
//!     |ak| async move { call_api(ak.access_key_id(), ak.access_key_secret()).await }, // may run twice
//! )
//! .await;
//! match answer {
//!     Ok(body) => tracing::info!("{body}"),
//!     Err(CallError::Credentials(e)) => return Err(e),   // no key could be had at all
//!     Err(CallError::Operation(e)) => tracing::warn!("API error {}", e.code),
//!     Err(_) => {}
//! }
//! # Ok(()) }
//! ```
//!
//! [`with_access_key`](crate::with_access_key) runs the operation with the current key. If it
//! fails and the code is one of `rejected_key_error_codes` (default `InvalidAccessKeyId`,
//! `InvalidAccessKeyId.NotFound`, `InvalidAccessKeyId.Inactive`, `Unauthorized`), the rejection is
//! reported; the provider forces one rate-limited refresh (or answers at once if a newer key is
//! already cached). The operation is replayed **exactly once, and only if a different key is now
//! current**; otherwise the original error comes back as `CallError::Operation`
//! (`CallError::Credentials` when no key could be had at all; see [`CallError`](crate::CallError)).
//! Make sure the operation can run twice (rebuild request bodies inside the closure). This fixes two
//! things in the official plugins (they replay even when nothing was refreshed, and Java reads id
//! and secret in two cache reads). Concurrent calls on clones of one handle that fail with the same
//! old key are serialized, so they share one forced refresh instead of using up the per-secret
//! budget (5 tokens, +1 per 10 min).
//!
//! Tested (`tests/integrations_retry.rs`) against LocalKms and a loopback RPC API that verifies the
//! signature and rejects revoked keys with `InvalidAccessKeyId.NotFound`: after `rotate` +
//! `revoke_previous`, 5 sequential calls → 0 failures, 6 attempts (one replay), 1 KMS fetch;
//! 16 concurrent calls → 0 failures, ≤ 2 attempts each, 1 KMS fetch; key not changed → no replay;
//! non-key error (`Throttling.User`) → no refresh, no replay.
//!
//! ## Signing OpenAPI RPC requests yourself
//!
//! [`RpcRequest`](crate::RpcRequest) signs RPC-style OpenAPI requests (signature v1, HMAC-SHA1) with
//! the managed key, so an app can call any RPC API (ECS, RAM, STS, ...) without another SDK; it
//! matches the `ak_hmac_sha1` vector computed with `aliyun-python-sdk-core`.
//!
//! ```no_run
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! # let provider = aliyun_managed_credentials::ManagedCredentialsProvider::from_default_file().await?;
//! use aliyun_managed_credentials::RpcRequest;
//!
//! let ak = provider.get_access_key("acs/ram/user/app").await?;
//! let query = RpcRequest::new("GET", "DescribeRegions", "2014-05-26")
//!     .param("RegionId", "cn-hangzhou")
//!     .sign(&ak); // fresh nonce and timestamp; the query string including `Signature`
//! let url = format!("https://ecs.aliyuncs.com/?{query}");
//! # let _ = url;
//! # Ok(()) }
//! ```
//!
//! ```sh
//! cargo run --example rpc_signing -- acs/ram/user/app                 # prints a signed ECS DescribeRegions URL
//! cargo run --features test-util --example rpc_signing -- --local-kms # against LocalKms, verifies the signature
//! ```
//!
//! ## Adapters (cargo features)
//!
//! | feature | crate (tested) | what you get |
//! | --- | --- | --- |
//! | `reqsign` | `reqsign-core` 3.3.2 (`>=3.3.1, <3.4`), `reqsign-aliyun-oss` 3.2.0 (`>=3.1.5, <3.3`); Rust ≥ 1.86 | `impl reqsign_core::ProvideCredential<Credential = reqsign_aliyun_oss::Credential> for AccessKeyProvider` |
//! | `ossify` | `ossify` 0.4.2 (`>=0.4.2, <0.5`, built with `rustls-no-provider`); Rust ≥ 1.88 | `impl ossify::credentials::CredentialsProvider for AccessKeyProvider` (expiration set) |
//! | `rusty-oss` | `rusty-oss` 0.2.1 (`>=0.2.1, <0.3`) | `integrations::rusty_oss::rotating_credentials(&creds)` → `Arc<RotatingCredentials>` kept current by a task |
//! | `object-store` | `object_store` 0.13.2 (`>=0.13.2, <0.14`, feature `aws`: ring + rustls, no aws-lc); the line DataFusion 55 uses | `impl object_store::CredentialProvider<Credential = AwsCredential> for AccessKeyProvider` (`AmazonS3` against OSS's S3-compatible API) |
//! | `sls` | `aliyun-log-rust-sdk` 0.3.1 and 0.3.3 (`>=0.3.1, <0.4`; 0.3.0 has no `CredentialsProvider`); links the system OpenSSL (see below) | `impl aliyun_log_rust_sdk::CredentialsProvider for AccessKeyProvider` (expiration set) |
//! | (always) | — | `creds.subscribe()` → `watch::Receiver<Arc<AccessKey>>` for any push-style consumer |
//!
//! Tested: `tests/integrations_reqsign.rs` checks the OSS V1 signature against the secret LocalKms
//! issued, and that after a rotation the next signed request carries the new AccessKeyId.
//! `tests/integrations_adapters.rs` does the same for ossify (managed key, expiration from the
//! policy, new key after a rotation) and rusty-oss (the `RotatingCredentials` receive each new key;
//! the push task ends when the provider closes).
//!
//! `tests/integrations_object_store.rs` runs `AmazonS3` against a real S3 server on 127.0.0.1 (see
//! "object_store / DataFusion" below).
//!
//! `tests/integrations_sls.rs` runs the official Log Service SDK against a loopback server that
//! checks each request's SLS signature with the secret LocalKms issued (see "SLS" below).
//!
//! Secrets handed to third-party crates live in their `String`s, which they do not zeroize.
//!
//! ### reqsign / OpenDAL
//!
//! reqsign's `Signer` keeps a credential until 120 s before its `expires_in`, and one without expiry
//! forever, so the adapter always sets the synthetic expiry. For a presigned URL reqsign demands that
//! the credential outlive the URL: raise `min_validity` to the longest URL lifetime (with the
//! defaults, a 2 h URL fails with "refreshed signing credential expires before the requested
//! operation deadline"; tested). OpenDAL's OSS service has no custom-provider hook yet; use reqsign
//! directly.
//!
//! ```no_run
//! # #[cfg(feature = "reqsign")]
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> reqsign_core::Result<()> {
//! use reqsign_aliyun_oss::RequestSigner;
//! use reqsign_core::{Context, Signer};
//!
//! let signer = Signer::new(
//!     Context::new(),
//!     provider.access_key_provider("acs/ram/user/app"),
//!     RequestSigner::new("my-bucket"),
//! );
//! let mut parts = http::Request::get("https://my-bucket.oss-cn-hangzhou.aliyuncs.com/a.txt")
//!     .body(())
//!     .map_err(|e| reqsign_core::Error::unexpected(e.to_string()))?
//!     .into_parts()
//!     .0;
//! signer.sign(&mut parts, None).await?; // Authorization: OSS <managed id>:...
//! # Ok(()) }
//! ```
//!
//! ### ossify
//!
//! ```no_run
//! # #[cfg(feature = "ossify")]
//! # fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> ossify::Result<()> {
//! let client = ossify::Client::builder()
//!     .endpoint("https://oss-cn-hangzhou.aliyuncs.com")
//!     .region("cn-hangzhou")
//!     .bucket("my-bucket")
//!     .credentials_provider(provider.access_key_provider("acs/ram/user/app"))
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! ### rusty-oss
//!
//! ```no_run
//! # #[cfg(feature = "rusty-oss")]
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> aliyun_managed_credentials::Result<()> {
//! use aliyun_managed_credentials::integrations::rusty_oss::rotating_credentials;
//!
//! let creds = provider.access_key_provider("acs/ram/user/app");
//! let (rotating, _task) = rotating_credentials(&creds).await?;
//! // sign with rotating.get(); the task pushes every new key and ends when the provider closes
//! # let _ = rotating;
//! # Ok(()) }
//! ```
//!
//! ### SLS (aliyun-log-rust-sdk)
//!
//! The SDK caches its provider's credentials and asks again shortly before their expiration
//! (10–20 % of the remaining time before it, at most 5 min, read in its source; the test only
//! shows it asks again once the expiry has passed); credentials without an expiration it keeps
//! for the life of the client. The adapter therefore always sets the synthetic expiry of the
//! [`ExpiryPolicy`](crate::ExpiryPolicy). After a rotation the SDK keeps signing with the old key
//! until then (at most `max_validity`, 1 h by default) even when the provider already holds the new
//! key: lower `max_validity` when the old key is revoked sooner. The SDK has no hook for a rejected
//! key; on a `401` from SLS you can call
//! [`report_rejected`](crate::ManagedCredentialsProvider::report_rejected) yourself, but the SDK
//! only picks the new key up at the reported expiry.
//!
//! ```no_run
//! # #[cfg(feature = "sls")]
//! # fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use aliyun_log_rust_sdk::{Client, Config, FromConfig};
//!
//! let config = Config::builder()
//!     .endpoint("cn-hangzhou.log.aliyuncs.com")
//!     .credentials_provider(provider.access_key_provider("acs/ram/user/app"))
//!     .build()?;
//! let client = Client::from_config(config)?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! TLS: every published version of the SDK depends on reqwest 0.12 with its default features,
//! i.e. native-tls, which links the system OpenSSL on Linux; a build with `sls` needs its
//! development files (`libssl-dev` / `openssl-devel`). The feature `sls-vendored-openssl` (which
//! implies `sls`) compiles OpenSSL from source instead (`openssl-sys`'s `vendored`: needs gcc, perl
//! and make, links it statically, adds minutes to a clean build); `--all-features`, and so this
//! crate's CI, uses it.
//!
//! Tested (`tests/integrations_sls.rs`): the SDK's `ListProject` call is signed with the managed key
//! (the server recomputes the SLS signature from the documented algorithm with the secret LocalKms
//! issued); after a rotation and revocation the SDK's next call still carries the old key and is
//! refused (`401 Unauthorized`), and once the SDK's clock passes the reported expiry it signs with
//! the new key; a wrong secret is refused (`SignatureNotMatch`); every credential carries an
//! expiration within the policy. The SDK puts the project into the host name, so calls on a
//! project (`put_logs`, `get_logs`, ...) were not run here; in the SDK's source every call goes
//! through the same credentials fetch and signer. `Cargo.lock` holds 0.3.3; 0.3.1 (the oldest
//! with `CredentialsProvider`) passed the same tests once, with
//! `cargo update -p aliyun-log-rust-sdk --precise 0.3.1 && cargo test --all-features --test integrations_sls`
//! (the lock file then restored).
//!
//! ### object_store / DataFusion
//!
//! `AmazonS3` asks its credential provider on **every** request and keeps nothing, so no
//! synthetic expiry is involved: each request is signed with the key the shared cache holds at
//! that moment (from memory; the `AwsCredential` is built once per key). OSS's S3-compatible API
//! (`https://s3.oss-{region}.aliyuncs.com`) takes SigV4 with the RAM AccessKey and only
//! virtual-hosted style. With a custom endpoint, object_store expects the endpoint to **name the
//! bucket** when virtual-hosted style is on:
//!
//! ```no_run
//! # #[cfg(feature = "object-store")]
//! # fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> object_store::Result<()> {
//! use std::sync::Arc;
//! use object_store::aws::AmazonS3Builder;
//!
//! let store = AmazonS3Builder::new()
//!     .with_endpoint("https://my-bucket.s3.oss-cn-hangzhou.aliyuncs.com") // bucket included
//!     .with_virtual_hosted_style_request(true)
//!     .with_region("cn-hangzhou")
//!     .with_bucket_name("my-bucket")
//!     .with_credentials(Arc::new(provider.access_key_provider("acs/ram/user/app")))
//!     .build()?;
//! // DataFusion: ctx.register_object_store(&Url::parse("s3://my-bucket")?, Arc::new(store));
//! # let _ = store;
//! # Ok(()) }
//! ```
//!
//! OSS rejects `aws-chunked` uploads; object_store 0.13 sends none (read in its 0.13.2 source):
//! with signed payloads (the default) it hashes each PUT / part body and signs
//! `x-amz-content-sha256`. `examples/object_store_oss.rs` keeps that default and also shows
//! DataFusion registration and a Polars sketch; it compiles but was **not run against OSS** here.
//! TLS: object_store 0.13's HTTP client (reqwest 0.12, rustls + ring) trusts the OS root store
//! (object_store also offers a `tls-webpki-roots` feature for compiled-in roots; not tried here).
//!
//! **A rejected key.** object_store has no hook to report a credential the service refused. A 403
//! surfaces as `object_store::Error::PermissionDenied` whose message carries the S3 XML body; read
//! `<Code>` from it and run the call through [`with_access_key`](crate::with_access_key), which
//! calls [`report_rejected`](crate::ProvideAccessKey::report_rejected) (`InvalidAccessKeyId` is
//! among the default `rejected_key_error_codes`) and replays the call once when a different key
//! is current; the store reads that key from the same cache. The function is shown on
//! `AccessKeyProvider`'s `CredentialProvider` impl. A `HEAD` 403 has no body, so no code.
//!
//! Tested in `tests/integrations_object_store.rs`, against `s3s` 0.14.1 (an S3 server library:
//! routing, XML, its own SigV4 verification) over `s3s-fs` 0.14.1, whose auth answers the secret of
//! an AccessKeyId only while LocalKms considers the key valid:
//! * PUT then GET signed with the managed key; after a rotation (old key still valid) and a
//!   refresh, PUT/GET carry the new AccessKeyId; no failed request; 8 requests, 2 KMS fetches.
//! * four concurrent PUT/GET loops while the provider picks a rotation up on its own schedule:
//!   every request succeeds, the tail is signed with the new key only.
//! * after rotation + revocation of the old key: 403 `InvalidAccessKeyId`; `report_rejected`
//!   returns the new key and the next PUT/GET succeed; `with_access_key` does report + one replay.
//! * the right AccessKeyId with a wrong secret gets 403 `SignatureDoesNotMatch`: the server
//!   really recomputes the signature.
//! * virtual-hosted style: `Host: my-bucket.s3.oss-test.localhost:PORT` (resolved to 127.0.0.1 by
//!   the test's HTTP client), bucket read from the host by s3s, signature verified, across a
//!   rotation. The other tests use path style on `127.0.0.1` with object_store's default client.
//!
//! Not tested: OSS itself, multipart uploads, presigned URLs (`AmazonS3::signed_url` signs with
//! the key current at that moment; a URL dies with its key).
//!
//! ## Every other language: the local credentials endpoint
//!
//! The official Alibaba Cloud credential libraries read credentials from the URL in
//! `ALIBABA_CLOUD_CREDENTIALS_URI`. The `aliyun-managed-credentials` binary (cargo feature `cli`,
//! opt-in) serves managed keys in that format from the provider's cache. **Only the Python client
//! was verified against it** (`alibabacloud-credentials` 1.0.12, see below), and **at this commit it
//! fails** (next paragraph); Java and Go were not run here. Node.js does not work (verified with
//! `@alicloud/credentials` 2.4.7): its credentials-URI client requires a non-empty `SecurityToken`,
//! and a managed RAM-user key has none. Node.js gets the key through
//! [`credential-process`](#every-other-language-without-a-server-credential-process) instead.
//!
//! `alibabacloud-credentials` 1.0.12 sends `Host: 127.0.0.1` **without the port**; the
//! DNS-rebinding check accepts a `Host` without a port when its name is the address connected to
//! (a rebound page would send its own name). Re-verified with the opt-in test
//! `integrations_endpoint official_python_client_reads_the_endpoint` after the `Host` check.
//!
//! ```sh
//! cargo install aliyun-managed-credentials --features cli
//! aliyun-managed-credentials serve \
//!     --config /etc/kms/managed_credentials_providers.properties --secret acs/ram/user/app
//! # ALIBABA_CLOUD_CREDENTIALS_URI=http://127.0.0.1:41877/3q…(43 chars)…/credentials
//! # # health: http://127.0.0.1:41877/3q…/health
//!
//! export ALIBABA_CLOUD_CREDENTIALS_URI='http://127.0.0.1:41877/3q…/credentials'
//! export ALIBABA_CLOUD_ECS_METADATA_DISABLED=true    # see the note on the default chain below
//! python app.py
//!
//! aliyun-managed-credentials get --secret acs/ram/user/app   # one key as JSON
//! ```
//!
//! From a checkout: `cargo run --features cli --bin aliyun-managed-credentials -- serve ...`.
//!
//! Options: `--config FILE` (default: `ALIYUN_MANAGED_CREDENTIALS_FILE`, else
//! `./managed_credentials_providers.properties`), `--secret NAME` (repeatable; default: the file's
//! `secret_names`), `--listen ADDR` (default `127.0.0.1:0`), `--allow-non-loopback`,
//! `--token-file FILE` (stable URL across restarts, ≥ 32 chars of `A-Za-z0-9-_`), `--url-file FILE`
//! (the URL goes to FILE instead of stdout, which then only names FILE: written mode 0600 even
//! over an existing file, atomically by rename, refused if FILE is a symbolic link),
//! `--min-validity SECS` / `--max-validity SECS`. Logs go to stderr
//! (`RUST_LOG=debug`); SIGTERM or Ctrl-C stops it gracefully (in-flight requests finish, the
//! provider closes; exit 0).
//!
//! Answer to `GET /{token}/credentials` (or `/{token}/credentials/{secret name}` for every `--secret`):
//!
//! ```json
//! {"Code":"Success","AccessKeyId":"LTAI…","AccessKeySecret":"…","SecurityToken":"",
//!  "Expiration":"2026-11-23T21:46:10Z","LastUpdated":"2026-11-23T20:46:10Z"}
//! ```
//!
//! * **No open endpoint for SSRF**: loopback only unless `--allow-non-loopback`; every path carries a
//!   256-bit random token (printed once, or only written to `--url-file`; compared in constant
//!   time); anything else is a bare 404, including the ECS metadata paths. Only the secrets named
//!   at start are served.
//! * **DNS rebinding**: the `Host` header must be the address connected to (`127.0.0.1[:PORT]`)
//!   or `localhost[:PORT]` on loopback, else `421` (checked before the token). With
//!   `--allow-non-loopback`, clients must use the IP address, not a DNS name.
//! * **Methods**: `GET` and `HEAD` only (`HEAD`: headers, no body); others get `405` with
//!   `Allow: GET, HEAD`.
//! * **Limits** (`EndpointConfig` fields; the binary uses the defaults): `max_connections` 256,
//!   connections beyond are closed unanswered; `header_read_timeout` 10 s for a request head, also
//!   the idle limit of a kept-alive connection; `max_header_bytes` 16 KiB and `max_headers` 64,
//!   larger heads get `431` and the connection is closed.
//! * **`Expiration`**: the provider's next refresh, never after the secret's `NextRotationDate`,
//!   clamped to 20 min .. 1 h from now. The 20 min floor is deliberate: the Python client (checked in
//!   1.0.12; not checked for the other languages) treats a credential as stale 15 min before
//!   `Expiration` and would re-fetch on every call and log a warning; an `Expiration` in the past
//!   fails its first fetch. When the provider serves a stale key (refresh failing), `Expiration` is
//!   the floor so clients come back soon.
//! * **Health**: `GET /{token}/health` → 200 when every secret has a fresh key, 503 otherwise, with
//!   `stale`, `stale_served` (a stale key was handed out), `served`, `served_stale`, `failed`,
//!   `next_refresh`, `last_error` per secret (never secret material), `rejected_requests` (404,
//!   405, 421 answers) and `refused_connections` (closed at the connection cap).
//!
//! The same endpoint can run inside your own process (cargo feature `endpoint`), for example to
//! hand a child process the URL. Dropping the endpoint does not stop it; call `shutdown()`.
//!
//! ```no_run
//! # #[cfg(feature = "endpoint")]
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> Result<(), Box<dyn std::error::Error>> {
//! use aliyun_managed_credentials::integrations::endpoint::{CredentialsEndpoint, EndpointConfig};
//!
//! let endpoint = CredentialsEndpoint::start(
//!     provider,
//!     vec!["acs/ram/user/app".to_owned()],
//!     EndpointConfig::default(), // 127.0.0.1, random port and token, Expiration 20 min .. 1 h
//! )
//! .await?;
//! // The URL carries the capability token: hand it to the child, never to a log.
//! let status = std::process::Command::new("python3")
//!     .arg("app.py")
//!     .env("ALIBABA_CLOUD_CREDENTIALS_URI", endpoint.url())
//!     .status()?;
//! # let _ = status;
//! endpoint.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! **Verified with the official Python package** (`alibabacloud-credentials` 1.0.12, Python 3.11),
//! before the `Host` check described above: by hand in a venv (LocalKms example → `serve` →
//! `Client().get_credential()` through `ALIBABA_CLOUD_CREDENTIALS_URI`: managed id and secret,
//! `provider_name` `default/credential_uri`;
//! 1000 cached `get_credential()` calls 10.6 ms) and in an opt-in test:
//!
//! ```sh
//! python3 -m venv /tmp/v && /tmp/v/bin/pip install alibabacloud-credentials
//! ALIYUN_MC_TEST_PYTHON=/tmp/v/bin/python cargo test --all-features --test integrations_endpoint official_python
//! ```
//!
//! Notes for apps:
//!
//! * The default credential chain of the official clients tries environment AccessKeys, profile
//!   files and the **ECS instance RAM role before** the URI. On ECS/ACK set
//!   `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true` (the Python client honours it; checked) or pass the
//!   URI explicitly (in Python `Config(type='credentials_uri', credentials_uri=...)`), otherwise the
//!   instance role wins. Python reads the variable at import time. Other languages were not checked.
//! * **Empty `SecurityToken`**: the Python client requires the field to be present and accepts `""`
//!   (checked: `alibabacloud-credentials` 1.0.12 returns `security_token == ''`), and
//!   `alibabacloud-tea-openapi` 0.4.6 only sends `SecurityToken` / `x-acs-security-token` when it is
//!   non-empty, so requests are signed as plain AccessKey requests. Checked only for Python; Java, Go
//!   and Node.js were not run here. reqsign's own credentials-URI provider rejects an empty token —
//!   Rust apps should use the `reqsign` adapter instead.
//!
//! ## Every other language, without a server: `credential-process`
//!
//! The official credential libraries for Python, Node.js and Go, and the `aliyun` CLI, can run a
//! command to get credentials: a profile of mode `External` in `~/.aliyun/config.json` whose
//! `process_command` prints a JSON document. `aliyun-managed-credentials credential-process` is such
//! a command (cargo feature `cli`): it reads the properties file, fetches the managed AccessKey once,
//! prints it and exits. No server, no port, no token; nothing runs between calls.
//!
//! ```sh
//! aliyun-managed-credentials credential-process \
//!     --config /etc/kms/managed_credentials_providers.properties --secret acs/ram/user/app
//! # {"mode":"AK","access_key_id":"LTAI…","access_key_secret":"…","expiration":"2026-11-29T15:41:07Z"}
//! ```
//!
//! Options: `--config FILE` and `--secret NAME` as for `get` (without `--secret`, the file's
//! `secret_names` must name exactly one secret), `--min-validity SECS` (default 600, at least 240),
//! `--max-validity SECS` (default 3600), `--timeout SECS` (default 50). The document is the one line
//! on stdout (from a buffer zeroized afterwards); **the binary writes the key nowhere else**, reads no
//! stdin, and logs only errors to stderr unless `RUST_LOG` says otherwise (the `aliyun` CLI shows the
//! command's stderr on the terminal). Exit 0 with the document; exit 1 with one line
//! `aliyun-managed-credentials: error: …` on stderr (KMS error, missing secret, bad configuration,
//! `--timeout` reached), never containing secret material; exit 2 for usage errors. The clients
//! report a failure as, for Python, `failed to execute external command: exit status 1\nstderr:
//! aliyun-managed-credentials: error: could not get the managed AccessKey of 'acs/ram/user/app': …`.
//!
//! ### The `config.json` profile
//!
//! One profile serves all four consumers. `process_command` is split like a POSIX shell would
//! (quotes, backslashes) but **run without a shell**: no `$VARIABLES`, no `~`, no globs, no pipes; use
//! absolute paths. `region_id` is for the CLI and the SDK clients that need a region; the credential
//! libraries ignore it.
//!
//! ```json
//! {
//!     "current": "managed",
//!     "profiles": [
//!         {
//!             "name": "managed",
//!             "mode": "External",
//!             "process_command": "/usr/local/bin/aliyun-managed-credentials credential-process --config /etc/kms/managed_credentials_providers.properties --secret acs/ram/user/app",
//!             "region_id": "cn-hangzhou"
//!         }
//!     ],
//!     "meta_path": ""
//! }
//! ```
//!
//! | consumer | file | profile used | how the app asks | when the command runs | checked |
//! | --- | --- | --- | --- | --- | --- |
//! | Python `alibabacloud-credentials` | `$HOME/.aliyun/config.json` | `ALIBABA_CLOUD_PROFILE`, else `current` | `Client()` (default chain) or `CLIProfileCredentialsProvider(profile_name='managed')` | first call, then at `expiration − 180 s` | **run** (1.0.12, opt-in test): managed key, provider `default/cli_profile/external`, one run for two calls |
//! | Node.js `@alicloud/credentials` | `$HOME/.aliyun/config.json` (`os.homedir()`) | `ALIBABA_CLOUD_PROFILE`, else `current` | `new Credential()` (default chain) | first call, then at `expiration − 180 s` | **run** (2.4.7, opt-in test): managed key, provider `default/cli_profile`, one run for two calls |
//! | Go `credentials-go` | `$HOME/.aliyun/config.json` | `ALIBABA_CLOUD_PROFILE`, else `current` | `credentials.NewCredential(nil)` (default chain) | first call, then at `expiration − 180 s` | not run; from its source. **v1.4.12 splits `process_command` on whitespace only** (quotes stay literal): no spaces or quotes in the paths |
//! | `aliyun` CLI | `~/.aliyun/config.json` | `--profile managed`, else `current` | `aliyun --profile managed ecs DescribeRegions` | once per CLI invocation (`expiration` ignored) | not run; from its source. Needs `mode` in the output (printed). `ALIBABA_CLOUD_DISABLE_EXTERNAL_PROCESS=true` turns External off |
//!
//! Python 1.0.12 and Node.js 2.4.7 do not read `ALIBABA_CLOUD_CONFIG_FILE` (checked in their
//! sources; Go not checked): the file is always `$HOME/.aliyun/config.json`, so point `HOME`
//! elsewhere to use another one. In the default chains, environment AccessKeys (`ALIBABA_CLOUD_ACCESS_KEY_ID`) and a
//! complete OIDC environment come **before** the profile; `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true`
//! skips it.
//!
//! ### Caveat: the clients write the key into `config.json` in plain text
//!
//! **After every run of the command, the official Python, Node.js and Go libraries copy the
//! AccessKeyId and the AccessKeySecret it printed into the External profile of
//! `~/.aliyun/config.json`, unencrypted** (fields `access_key_id`, `access_key_secret`, `sts_token`,
//! `sts_expiration`). They never read those fields back for an External profile (the command runs
//! again anyway), and there is no option to turn the write-back off. Verified: after the opt-in
//! tests' Python 1.0.12 and Node 2.4.7 runs, `config.json` holds the managed secret in clear (file
//! mode 0600 kept); Go does the same by its source; the `aliyun` CLI was not checked. This binary
//! writes nothing, but using it through `config.json` leaves the managed key on disk exactly like a
//! static AccessKey — readable by anyone who can read that file, copied into backups and images, and
//! still there after the key is rotated. If that is not acceptable:
//!
//! * keep `~/.aliyun/` owned by the application user with mode 0700 and `config.json` 0600 (the
//!   libraries keep the file's mode), and never bake a used `config.json` into an image;
//! * give the application its own `HOME` on a tmpfs, so the copy dies with the machine;
//! * or hand the key over without a file: the [credentials endpoint](#every-other-language-the-local-credentials-endpoint)
//!   (nothing written by the clients; but see its Python status above, and Node.js refuses it), or
//!   this crate in-process.
//!
//! ### `expiration`
//!
//! The clients cache the result until `expiration − 180 s` and then run the command again; without
//! `expiration` they would run it on **every** credential request. `expiration` is the
//! [`AccessKeyProvider`](crate::AccessKeyProvider) expiry policy with `before_rotation` on: the
//! provider's next refresh, **never after the secret's `NextRotationDate`**, clamped to
//! `[now + 10 min, now + 1 h]`, and **never after the key's `ExpireTimestamp`**. Printed as
//! `YYYY-MM-DDThh:mm:ssZ` in UTC, the one form all four accept (Python's `strptime` rejects `.000Z`
//! and `+08:00`; captured). So:
//!
//! * normally (rotation days away) the clients run the command once an hour;
//! * with a rotation more than 10 min ahead, `expiration` is at most the rotation, so they come back
//!   at least 180 s before it;
//! * within 10 min of a rotation the 10 min floor wins (otherwise they would run the command on every
//!   call): a client may keep the old key up to 7 min past `NextRotationDate`. After a rotation the old
//!   key is `ACSPrevious` (LocalKms keeps it valid until `revoke_previous`; whether real KMS disables it
//!   at once was not checked);
//! * a key whose `ExpireTimestamp` is less than 180 s away is printed with that `expiration` and a
//!   warning on stderr: the clients then run the command on each call until KMS returns a new key.
//!
//! `--min-validity` below 240 s is refused (the clients would re-run at once); `--max-validity`
//! bounds how long a client keeps a key after an early, forced rotation. `--timeout` (default 50 s)
//! ends a fetch that KMS does not answer, so the client shows our error instead of killing the
//! command at its own 60 s limit.
//!
//! ### Run time
//!
//! Release build, the binary against the LocalKms example (release) on loopback, the shared 2-vCPU
//! build VM (other builds running); one run = process start, properties file, ClientKey (PKCS#12)
//! decryption, TLS handshake, one signed `GetSecretValue`, print:
//!
//! ```sh
//! cargo build --release --features cli,test-util --bin aliyun-managed-credentials --example local_kms
//! target/release/examples/local_kms --dir /tmp/lk &
//! hyperfine -N --warmup 3 --runs 20 --export-json /tmp/cp.json \
//!     'target/release/aliyun-managed-credentials credential-process --config /tmp/lk/managed_credentials_providers.properties --secret acs/ram/user/app'
//! ```
//!
//! Three runs of 20 (2026-11-29, `hyperfine -N --warmup 3 --runs 20`):
//!
//! | run | mean | median | p95 | min – max |
//! | --- | --- | --- | --- | --- |
//! | 1 | 7.3 ms | 7.7 ms | 8.2 ms | 5.1 – 9.5 ms |
//! | 2 | 7.3 ms | 7.9 ms | 9.6 ms | 4.8 – 9.9 ms |
//! | 3 | 9.0 ms | 8.4 ms | 13.3 ms | 5.4 – 14.4 ms |
//!
//! Of that, starting the process alone (`aliyun-managed-credentials --help`) is 1.9 ms. As a consumer
//! sees it, Python `alibabacloud-credentials` 1.0.12 (`ExternalCredentialsProvider.get_credentials()`
//! on a fresh provider: spawn, run, parse; 20 runs after 3 warm-ups): mean 11.2 ms, median 11.3 ms,
//! p95 13.8 ms. Before LocalKms set `TCP_NODELAY` on its connections, about one run in three stalled
//! ~42 ms (Nagle on the emulator's answer against the client's delayed ACK): mean 16.6 – 27.8 ms,
//! p95 50.7 – 57.3 ms over three runs of 20. How a real KMS instance behaves there was not measured.
//!
//! A real KMS instance adds its network round trips (TCP, TLS, the request). Since the clients run the command once per `expiration − 180 s` (about once an hour),
//! this is paid hourly, not per API call; the `aliyun` CLI pays it once per invocation.
//!
//! Checked in `tests/integrations_credential_process.rs` (the binary against LocalKms: document shape
//! and date format against the captured contract, expiration bounds, errors, one KMS request) and,
//! opt-in, with the official clients:
//!
//! ```sh
//! python3 -m venv /tmp/v && /tmp/v/bin/pip install alibabacloud-credentials
//! mkdir /tmp/n && (cd /tmp/n && npm install @alicloud/credentials)
//! ALIYUN_MC_TEST_PYTHON=/tmp/v/bin/python ALIYUN_MC_TEST_NODE=/tmp/n \
//!     cargo test --features test-util,cli --test integrations_credential_process official
//! ```
//!
//! ## Which official client works with which output
//!
//! "Run" means exercised here against LocalKms (opt-in tests above); everything else is unverified.
//!
//! | official client | endpoint (`serve`, `ALIBABA_CLOUD_CREDENTIALS_URI`) | External (`credential-process`) |
//! | --- | --- | --- |
//! | Python `alibabacloud-credentials` 1.0.12 | **works** (run, with the `Host` check) | **works** (run) |
//! | Node.js `@alicloud/credentials` 2.4.7 | **fails** (run: requires a non-empty `SecurityToken`; its error message quotes the whole served document, secret included) | **works** (run) |
//! | Go `credentials-go` | not run | not run (supported by its source; v1.4.12: no spaces or quotes in `process_command` paths) |
//! | `aliyun` CLI | not run | not run (supported by its source) |
//! | Java `credentials-java` | not run | not checked |
//!
//! # Secrets synced by the cluster (Kubernetes)
//!
//! In a cluster, an operator can fetch the secret from KMS once and hand it to every pod as a
//! file: then no pod needs a ClientKey or KMS access, and a thousand replicas cost KMS one
//! request per sync instead of a thousand. `secret_files_dir` makes the provider read those files
//! instead of KMS; everything else stays the same: `get_access_key(name)`, the per-secret
//! [`AccessKeyProvider`](crate::AccessKeyProvider), `subscribe`, `report_rejected`, health.
//!
//! ```properties
//! secret_files_dir=/var/run/secrets/aliyun
//! secret_files_poll_interval_ms=2000
//! secret_names=acs/ram/user/app
//! ```
//!
//! ```
//! use std::time::Duration;
//! use aliyun_managed_credentials::ConfigBuilder;
//!
//! let config = ConfigBuilder::new()
//!     .with_secret_files("/var/run/secrets/aliyun", Duration::from_secs(2))
//!     .with_secret_names(["acs/ram/user/app"])
//!     .build()?;
//! assert!(config.instances.is_empty() && config.gateways.is_empty());
//! // ManagedCredentialsProvider::from_config(config).await?.get_access_key("acs/ram/user/app")
//! # Ok::<(), aliyun_managed_credentials::ConfigError>(())
//! ```
//!
//! ## Which file a secret name maps to
//!
//! The secret `acs/ram/user/app` is `<secret_files_dir>/acs/ram/user/app`: each `/`-separated part
//! of the name is one path component. Names with an empty part, `.`, or a part starting with `..`
//! (the kubelet's reserved names) are refused with an error naming the directory. That path is
//! either
//!
//! * **a file holding the `SecretData` JSON** of the RAM credential, exactly what KMS returns
//!   (`{"AccessKeyId":…,"AccessKeySecret":…,"GenerateTimestamp":…,"ExpireTimestamp":…}`), parsed
//!   by the same code as a KMS answer; or
//! * **a directory with one file per field**: `AccessKeyId` and `AccessKeySecret` (required),
//!   `GenerateTimestamp` and `ExpireTimestamp` (optional). Trailing whitespace is trimmed and a
//!   JSON string literal (`"LTAI…"`) is decoded.
//!
//! What each operator writes, as read in its source or documentation (none of them was run
//! here):
//!
//! | operator | what it writes | how to lay it out for `secret_files_dir` |
//! | --- | --- | --- |
//! | ack-secret-manager (`AliyunContainerService/ack-secret-manager`, README and `pkg/backend/provider/kms/kms_service.go` at `223ebff`) | a Kubernetes Secret. `data: [{key, name}]` puts the secret's text (our JSON) under key `name`; `jmesPath` writes one key per `objectAlias` (string values as is); `dataProcess.extract` one key per top-level JSON field (strings as is in the code; the README's example shows JSON-quoted values, which older versions wrote; both are accepted) | JSON in one key: mount the Secret with `items: [{key: <name>, path: acs/ram/user/app}]`. Fields (`objectAlias: AccessKeyId`, `AccessKeySecret`, or `extract`): mount the Secret at `<dir>/acs/ram/user/app` |
//! | External Secrets Operator, Alibaba provider (`external-secrets/external-secrets`, `docs/provider/alibaba.md`; marked deprecated there) | a Kubernetes Secret; `data: [{secretKey, remoteRef: {key}}]` puts the secret's text under `secretKey`, `remoteRef.property` one JSON field, `dataFrom.extract` one key per field | as for ack-secret-manager |
//! | Secrets Store CSI driver + Alibaba Cloud provider (`AliyunContainerService/secrets-store-csi-driver-provider-alibaba-cloud`, README and `provider/secret_object.go` at `da13cbe`) | files in the CSI volume, named `objectAlias`, else `objectName` with the leading `/` stripped and the other `/` kept as directories (unless `pathTranslation` is set); `jmesPath` writes one file per `objectAlias` | mount the volume at `secret_files_dir`: `objectName: acs/ram/user/app` is already the right file. Fields: `jmesPath` with `objectAlias: acs/ram/user/app/AccessKeyId` … is not checked here; prefer the whole JSON |
//!
//! Kubernetes Secret keys cannot contain `/`, so the mapping to the secret's name is done in the
//! pod spec (`items[].path`, or the mount path), not in the key. Do not mount with `subPath`:
//! subPath mounts never receive updates. Manifests for both the file mode and the KMS-instance
//! mode (ClientKey, password and CA in a Secret) are in `examples/kubernetes/`, checked with a
//! schema validator (`examples/kubernetes/validate.sh`, kubernetes-validate 1.37.0 in strict
//! mode against the Kubernetes 1.33 schemas; run offline, all five core manifests pass; not part
//! of CI).
//!
//! ## Updates, and why a pair is never torn
//!
//! The kubelet updates a Secret volume with its `AtomicWriter` (kubernetes
//! `pkg/volume/util/atomic_writer.go`): it writes the new files into a fresh directory
//! `..2026_11_29_15_00_00.123456789`, points a `..data_tmp` symlink at it, renames that over
//! `..data` (the atomic switch), keeps the user-visible names as symlinks `name -> ..data/name`,
//! and removes the old directory. The Secrets Store CSI driver writes with a copy of the same code.
//! Reading `AccessKeyId` and then `AccessKeySecret` through the user-visible names can pair an
//! old id with a new secret under a stream of swaps (a variant of our reader that did so failed
//! the concurrent test below with torn pairs). The provider
//! instead looks for `..data` from the secret's path up to `secret_files_dir`, resolves it once
//! and reads every file of the secret below that one directory, which the writer never changes;
//! if the directory is removed mid-read, it resolves `..data` again. Files without `..data`
//! (written in place by something else) are read until two consecutive reads agree. The served
//! version id is the timestamped directory's name (`2026_11_29_15_00_00.123456789`), or
//! `mtime-<seconds>.<nanos>` of the newest file without `..data`.
//!
//! Polling: the files are read again every `secret_files_poll_interval_ms` (default 2 s, no
//! jitter: a local read costs nothing shared), by the provider's one scheduler task, in the
//! blocking thread pool. A change reaches the application within the kubelet's own delay (its
//! sync period, about a minute by default, plus its cache) plus one poll. Every poll counts in
//! `Stats::fetches`; a new version counts in `Stats::new_versions` and reaches `subscribe`rs.
//! inotify was not used: the kubelet's rename of `..data` is visible to a watch on the directory,
//! but a poll of a few small files is as cheap, works on every file system and cannot miss an
//! event.
//!
//! ## Failures, rejected keys, health
//!
//! * A file that is missing, unreadable, larger than 64 KiB, not UTF-8 or not valid JSON is a
//!   failed refresh: the last good key keeps being served (until `max_staleness_ms`, if set), the
//!   error is in [`SecretHealth::last_error`](crate::SecretHealth::last_error) and `stale` is
//!   true, and the read is retried with the usual backoff (`refresh_retry_base_ms`), capped at
//!   30 s (or the poll interval if that is longer) so a fixed file is served soon. Errors name
//!   the path and never the content ([`KmsError::SecretFile`](crate::KmsError::SecretFile),
//!   retryable; its code in `Stats::failures_by_code` is `SecretFile`).
//! * `report_rejected` with a rejected key reads the files again at once (one token of the
//!   forced-refresh budget, as for KMS) and answers `NewKey` if the operator already synced a
//!   different key.
//! * [`SecretHealth::file_age`](crate::SecretHealth::file_age): time since the files last read
//!   were modified, i.e. since the operator last synced a new version. Alert when it grows well
//!   past the secret's rotation interval: the sync has stopped.
//! * `secret_files_dir` cannot be combined with KMS endpoints in one configuration (an error
//!   naming the key and line); custom [`KmsClient`](crate::KmsClient)s added in code come after
//!   the files in the failover order.
//! * Only RAM credentials are served from files (`get_secret` returns the same JSON text).
//!   `version_stage` is not used: the file holds whatever stage the operator synced.
//!
//! Tests: `cargo test --features test-util --lib secret_files` runs the source against
//! `testing::KubeletAtomicWriter` (feature `test-util`), a step-for-step copy of the
//! kubelet's writer (both its current order and the pre-1.30 order the CSI driver's copy uses):
//! a read between every two steps of a swap, four threads reading while 150 swaps run, a file
//! that turns into invalid JSON and then disappears, a rejected key, the file age;
//! `cargo test --features test-util --test secret_files` goes through a properties file and the
//! public API: 60 swaps under 8 async readers, a rejected key, a missing volume.
//!
//! # How the provider works
//!
//! [`ManagedCredentialsProvider`](crate::ManagedCredentialsProvider) fetches secrets from KMS, keeps
//! them fresh in the background and hands out immutable snapshots ([`AccessKey`](crate::AccessKey),
//! [`Secret`](crate::Secret)).
//!
//! ## The cache
//!
//! * **Hot path**: an `ArcSwap` of the name → slot map (copy-on-insert; secrets are added rarely)
//!   and one `ArcSwapOption` snapshot per slot. A hit is two lock-free `arc-swap` loads, one
//!   `foldhash` lookup, a relaxed flag check and one `Arc` clone: no I/O, no lock, no allocation
//!   (measured: 0 allocations per hit). Staleness is not checked with a clock on the hot path: the
//!   scheduler flags a snapshot as expired when its hard expiry passes.
//! * **Why not moka**: its TTL is a hard eviction (no stale serving; readers block on reload), its
//!   hit costs ~235 ns vs ~55 ns for a locked map on the development machine, and refresh timing
//!   has to live in each entry anyway.
//! * **Single-flight**: each slot holds at most one in-flight fetch (a spawned task publishing into a
//!   `watch` channel). Misses, the scheduler, `refresh_now` and `report_rejected` all join it; a
//!   caller that gives up does not cancel it for the others.
//! * **One scheduler task per provider** (not per secret) sleeps until the earliest refresh or hard
//!   expiry of any slot, starts due refreshes (single-flight) and is woken when a fetch finishes. It
//!   holds only a weak reference between runs: dropping the last provider handle ends it, and
//!   `close()` ends it at once.
//! * **Clock**: the system clock, read on every use, so NTP corrections and suspend/resume are
//!   followed (KMS dates are wall-clock dates); the scheduler never sleeps more than 60 s before
//!   looking at it again. Injectable: `builder().clock(...)` with any [`Clock`](crate::Clock).
//! * **Runtime gone**: the provider runs its scheduler and fetches on the runtime that built it.
//!   If that runtime shuts down, `health().closed` turns true, cached keys are served until their
//!   hard expiry (checked against the clock on each read), and everything else fails as closed.
//!
//! ## Refresh schedule
//!
//! After each successful fetch, the next refresh is the **earliest** of
//!
//! | candidate | default |
//! | --- | --- |
//! | `now + max_interval + jitter` | 6 h |
//! | `now + refreshInterval + jitter` (legacy field in the secret data) | — |
//! | `NextRotationDate + rotation_delay + jitter`, if `NextRotationDate` is in the future (legacy `scheduleRotateTimestamp` when absent) | 5 min |
//! | `ExpireTimestamp − expiry_buffer − jitter` (if already inside the buffer: half the remaining life, ≥ 1 s) | 10 min |
//!
//! `jitter` is drawn uniformly in `[0, refresh_jitter]` (default 5 min; it was 60 s until the
//! fleet simulation showed what it costs, see [Fleet scale](#fleet-scale)) **for every refresh**.
//!
//! The official strategy (`RotateAKSecretRefreshSecretStrategy`) is reproduced as a pure function in
//! the crate's tests, and both it and ours are tested against all cases of
//! `refresh_strategy_vectors.json` with jitter 0 and the official defaults (6 h, 5 min): they agree
//! on every vector. Where ours differs, on purpose:
//!
//! 1. Jitter per refresh instead of one random offset per process (a fleet started together would
//!    otherwise stay in lock-step forever).
//! 2. Minimum instead of the official band rule: with a rotation 5 h 58 min ahead the official client
//!    refreshes at `NRD + 5 min` (6 h 03 min), we refresh at 6 h; we never wait longer than
//!    `max_interval`.
//! 3. `ExpireTimestamp` is honoured (official clients parse it and never use it).
//! 4. After a failed refresh we retry with backoff (below) instead of waiting a full interval, and
//!    we never expire a value on read (no `parseTTL` eviction): stale-if-error instead.
//!
//! ## Stale-if-error
//!
//! A failed refresh keeps serving the last good value until its **hard expiry**: `ExpireTimestamp`,
//! else `fetched_at + max_staleness` when a limit is configured, else never (a RAM user's
//! AccessKey has no expiry of its own). Background retries use capped exponential backoff with
//! full jitter: retry *n* waits uniform `[0, min(refresh_retry_max, refresh_retry_base·2ⁿ⁻¹)]`
//! (1 s … 5 min). Readers never wait while a usable value exists; `health()` shows `stale: true`,
//! the failure count and the last error.
//!
//! With nothing usable cached (never fetched, or past the hard expiry), a failed fetch starts the
//! same backoff **for readers**: until the retry is due every read gets the last error at once,
//! without a KMS request, so a busy application with a misconfigured secret sends a handful of
//! requests, not one per read. The first read after the retry is due fetches (one shared fetch);
//! `refresh_now` fetches at once regardless. A key KMS returns already past its
//! `ExpireTimestamp` is treated as a failed fetch (`SecretError::Expired`), never served.
//! A panic inside a KMS client, or anywhere in a fetch, is a failed attempt (failing over to the
//! next endpoint, naming the one that failed), never a secret stuck "in flight".
//!
//! ## Forced refresh on rejection
//!
//! `report_rejected(name, &ak, code)` answers a [`RefreshOutcome`](crate::RefreshOutcome):
//!
//! * `code` not in `rejected_key_error_codes` (default `InvalidAccessKeyId`,
//!   `InvalidAccessKeyId.NotFound`, `InvalidAccessKeyId.Inactive`, `Unauthorized`; compared
//!   case-insensitively) → `NotRejection`.
//! * A different key than `ak` is already current → `NewKey(current)` at once, no request.
//! * Otherwise take a token from the secret's bucket (`forced_refresh_burst` = 5, one more per
//!   `forced_refresh_period` = 10 min); none → `RateLimited`. With a token: one shared fetch →
//!   `NewKey(new)` if the AccessKey id changed, `Unchanged(same)` if KMS still returns it,
//!   `Failed(err)`.
//!
//! Retry the failed call only on `NewKey` (the official plugins replay even when nothing changed).
//! `refresh_now(name)` is a forced fetch that is not rate-limited.
//!
//! ## Several endpoints: failover and hedging
//!
//! Clients are kept in failover order (instances first, then gateways, each in configuration order,
//! then clients given to the builder; the gateways share one set of caller credentials, so one STS
//! session serves every region). A custom backend implements [`KmsClient`](crate::KmsClient)
//! (`GetSecretValueRequest` in, `SecretValue` out; see [`GetSecretValueRequest`](crate::GetSecretValueRequest),
//! [`SecretValue`](crate::SecretValue)). A fetch starts with the **last endpoint that answered**. On
//! a retryable error (transport, `Rejected.Throttling`, `ServiceUnavailableTemporary`,
//! `InternalFailure`, 5xx; after the client's own retries) it moves to the next endpoint at once; if
//! an endpoint has not answered after `hedge_delay` (2 s) a hedged request goes to the next one too;
//! the first success wins and the rest are cancelled. Non-retryable errors
//! (`Forbidden.ResourceNotFound`, `Forbidden.NoPermission`, ...) end the fetch. No pings: the real
//! request is the probe.
//!
//! ## Observability
//!
//! * `tracing` spans: `secret_fetch` (secret, reason = miss/scheduled/forced/prefetch, version_id)
//!   and, inside, `kms_request` (secret, endpoint, attempt, request_id, version_id). Events: new
//!   version served, refresh failed (with retry delay), hard expiry reached, failover, hedge, rate
//!   limit, certificate expiry (warning 180/90/30/7 days before). Secret values are never logged.
//! * `stats()` ([`Stats`](crate::Stats)): hits, misses, fetches, fetch failures and failures by
//!   code, forced refreshes, rate-limited reports, new versions, failovers, hedged requests.
//! * `health()` ([`Health`](crate::Health), [`SecretHealth`](crate::SecretHealth),
//!   [`CertificateHealth`](crate::CertificateHealth)): per secret: version, age, next refresh,
//!   usable-until, stale, expired, consecutive failures, last error; plus ClientKey / CA `notAfter`
//!   and time left (loaded from the configuration's ClientKey and CA files), the preferred endpoint
//!   and whether everything is healthy.
//!
//! # Restart cache (opt-in)
//!
//! The provider keeps secrets in memory. A process that restarts while KMS cannot be reached (a
//! network partition, a KMS incident, a pod rescheduled during an outage) therefore starts with
//! no AccessKey, where the official v1 secrets-manager clients would read their file cache. Set
//! `restart_cache_dir` (or [`ConfigBuilder::with_restart_cache_dir`](crate::ConfigBuilder::with_restart_cache_dir))
//! to keep the last good value of each secret on disk, encrypted, for exactly that case:
//!
//! ```properties
//! # relative to this file's directory; created with mode 700 if missing
//! restart_cache_dir=/var/cache/my-app/kms
//! ```
//!
//! ```
//! # fn demo() -> Result<(), aliyun_managed_credentials::ConfigError> {
//! use aliyun_managed_credentials::ConfigBuilder;
//!
//! let config = ConfigBuilder::new()
//!     .with_access_key("LTAI5tExampleId", "example-secret")
//!     .add_gateway_region("cn-hangzhou")
//!     .with_restart_cache_dir("/var/cache/my-app/kms")
//!     .build()?;
//! assert!(config.restart_cache_dir.is_some());
//! # Ok(()) }
//! # demo().unwrap();
//! ```
//!
//! **What it does.**
//!
//! * After every successful fetch the value is written to one file per secret in that directory:
//!   atomically (a temporary file renamed over the old one), mode 600, never through a symbolic
//!   link, on a blocking thread so no reader waits for the disk. A failed write is a warning; the
//!   value is still served from memory.
//! * The file is read only when a secret's **first** fetch in this process fails with a retryable
//!   error (connection, TLS, timeout, throttling, 5xx). KMS answers such as "secret not found" or
//!   "no permission" never bring back a saved value. The value is served only within the memory
//!   cache's bounds: until the key's `ExpireTimestamp`, else until its original fetch time plus
//!   `max_staleness_ms` if that is set (without either, like the memory cache, for as long as
//!   KMS stays down). Meanwhile the fetch retries with backoff (`refresh_retry_base_ms`,
//!   `refresh_retry_max_ms`); its first success replaces the restored value and rewrites the
//!   file. `health()` reports the restored secret as stale until then.
//! * Files that are symbolic links, not regular files, readable or writable by other users,
//!   truncated, modified, written for another secret or by another identity, of another format
//!   version or past their bounds are ignored with a warning that names the file and the reason
//!   (e.g. `restart cache file /var/cache/my-app/kms/3f…amcrc for secret 'acs/ram/user/app'
//!   ignored: it was written under another KMS identity`); they never make anything fail. A
//!   directory that is a symbolic link, not a directory or open to other users (`chmod 700` it)
//!   turns the cache off with a warning; the provider then works from memory only.
//!
//! **How it is protected.** Each file is sealed with AES-256-GCM (`ring`) under a key derived
//! with HKDF-SHA256 from secret material of the KMS identity in the configuration: the RSA
//! PKCS#1 v1.5 / SHA-256 signature the first KMS instance's ClientKey makes over a fixed label
//! (deterministic, and only the private key can make it), or, for shared-gateway identities
//! without an instance, the ClientKey in the same way, or the AccessKey secret
//! (`credentials_type` `ak`, `token`, and the caller's secret for `ram_role`). The secret name,
//! the identity (its kind and key id) and the format version are authenticated with the
//! ciphertext, so a file copied from another secret or from another application does not open.
//! File names are a hash of identity and secret name. Identities without a long-lived secret
//! (`sts_token`, `ecs_ram_role`, `oidc_role_arn`, and custom clients only) cannot derive a key that survives a
//! restart: configuring `restart_cache_dir` with them is a [`ConfigError`](crate::ConfigError)
//! naming the key. Changing the ClientKey (or the order of the instances) changes the key:
//! old files are then ignored with a warning and replaced by the next successful fetch.
//!
//! **Threat model.**
//!
//! * *An attacker with the disk (a copied volume, a backup, a stolen snapshot) but not the
//!   identity* gains nothing about the secrets: the files are AES-256-GCM ciphertext under a key
//!   only the ClientKey's private key (or the AccessKey secret) can derive. They learn that the
//!   application caches secrets, how many, roughly how large each value is and when each was
//!   last written (file sizes and times), and the identity and secret-name hashes (which confirm a
//!   guessed key id or secret name). They can delete or roll back files (replace one with an
//!   older file of the same secret and identity): the provider would then serve that older key
//!   after a restart during an outage, but never past its own bounds. Set `max_staleness_ms` if
//!   an old key must not be served after a given age.
//! * *An attacker with the disk and the identity file* (the ClientKey and its password, or the
//!   AccessKey) can decrypt every file. That is what the identity gives them anyway (they can call
//!   KMS themselves and get the current key), plus the old keys the files hold, for whatever
//!   lifetime those keys still have before they are rotated and deleted. Keep the cache directory
//!   on a volume with the same protection as the identity file, and not on one that is backed up
//!   more widely.
//! * *Root on the host* (or anyone who can read this process's memory or files as its user) gains
//!   everything: they can read the identity file and the keys in memory regardless of this cache.
//!   The cache adds nothing to protect against them and takes nothing away.
//!
//! **Why it is off by default.** It writes AccessKeys to disk, where they outlive the process and
//! can end up in backups and snapshots, and it lets a restarted process serve a key KMS may have
//! rotated meanwhile. Both are the right trade for a fleet that must survive restarts during a
//! KMS outage; neither should be chosen for you. Without it the provider never writes a secret to
//! disk.
//!
//! **Limits.** `ring`'s key objects are not zeroized when dropped (the derivation input, the
//! plaintext buffers and the file buffers are). The directory's owner is not checked (only its
//! mode). Files of secrets no longer used are not deleted; remove them with the directory.
//!
//! # Talking to KMS
//!
//! Two backends, both behind the same [`KmsClient`](crate::KmsClient) trait: the **KMS instance
//! API** of a dedicated instance (`{instanceId}.cryptoservice.kms.aliyuncs.com`, ClientKey of an
//! application access point, protobuf over TLS trusting exactly the instance CA) and the **shared
//! gateway** (`kms.{regionId}.aliyuncs.com`, or `kms-vpc.{regionId}.aliyuncs.com` in a VPC, or the
//! `endpoint` of a `cache_client_region_id` entry; RPC signature v1, or V3 `ACS3-HMAC-SHA256`),
//! whose OpenAPI a KMS instance also serves on its own host name to RAM callers (the **instance
//! gateway**, V3, trusting exactly the instance CA; see
//! [which signature is sent](#which-signature-is-sent)).
//!
//! ## KMS instance API: what goes on the wire
//!
//! One `POST /` over HTTPS (HTTP/1.1) per attempt, byte-compatible with the official SDKs (checked
//! against the three golden requests recorded from `alibabacloud-dkms-gcs` 1.0.2, for all three
//! ClientKey PKCS#12 profiles):
//!
//! | header | value |
//! | --- | --- |
//! | `accept`, `content-type` | `application/x-protobuf` |
//! | `host` | the endpoint host, plus `:port` when the port is not 443 |
//! | `date` | IMF-fixdate, e.g. `Thu, 01 Feb 2024 08:00:00 GMT` (new for every attempt) |
//! | `user-agent` | `aliyun-managed-credentials/<version>` |
//! | `x-kms-apiversion` / `x-kms-apiname` / `x-kms-signaturemethod` | `dkms-gcs-0.2` / `GetSecretValue` / `RSA_PKCS1_SHA_256` |
//! | `x-kms-acccesskeyid` (three c's) | the ClientKey `KeyId` |
//! | `content-length`, `content-sha256` | body length; upper-case hex SHA-256 of the body |
//! | `authorization` | `Bearer ` + base64 RSASSA-PKCS1-v1_5/SHA-256 signature |
//!
//! The body is the proto3 `GetSecretValueRequest` (empty/false fields omitted). The string to sign is
//! `POST\n<content-sha256>\n<content-type>\n<date>\n` + the sorted `x-kms-*` headers as
//! `name:value\n` + `/`.
//!
//! ### Instance TLS policy
//!
//! * rustls with the **ring** provider, set on the client's own `rustls::ClientConfig`; no
//!   process-global provider is installed.
//! * Trust anchors: **exactly** the certificates of `caFilePath` (the instance root CA and the
//!   regional Second CA); no system roots. `caFilePath` is required unless `ignoreSslCerts=true`.
//! * The server certificate must be valid for the endpoint host (webpki name check); SNI is the
//!   endpoint host. No client certificate is sent.
//! * `connectTo` (our extension, like curl's `--connect-to`): the TCP connection goes to that
//!   `ip:port`, while SNI, the certificate name check and the `host` header stay on the endpoint.
//!   Proxies from the environment are not used for such an endpoint.
//! * `ignoreSslCerts=true` accepts **any** server certificate and name (handshake signatures are
//!   still verified). It logs a `WARN` once per client. This is the only place in the crate that
//!   turns certificate checks off.
//! * TLS failures are reported as transport errors of kind TLS with the rustls reason and a hint,
//!   e.g. `TLS handshake failed: invalid peer certificate: UnknownIssuer (unknown issuer: the
//!   server certificate is not issued by the CA in caFilePath; ...)` or `... certificate not valid
//!   for name ... (name mismatch: ...)`.
//!
//! ### Timeouts, size cap, retries
//!
//! | config key | default | effect |
//! | --- | --- | --- |
//! | `connect_timeout_ms` | 5000 | TCP connect + TLS handshake |
//! | `request_timeout_ms` | 10000 | whole attempt, including reading the body |
//! | `max_response_bytes` | 1048576 | larger `Content-Length` is refused before reading; a streamed body is cut off as soon as it passes the cap; error names `max_response_bytes` |
//! | `max_attempts` | 4 | requests per fetch (1 + 3 retries, like the SDKs) |
//! | `retry_base_delay_ms` / `retry_max_delay_ms` | 200 / 5000 | capped exponential backoff with full jitter |
//!
//! Every attempt is rebuilt and re-signed with a fresh `date`. Retried: transport failures
//! (connect, TLS, timeout, dropped connection), the codes `Rejected.Throttling`,
//! `ServiceUnavailableTemporary`, `InternalFailure`, and 5xx answers that are not KMS error bodies
//! (e.g. an HTML 502 from a proxy). Every other error (e.g. `SignatureNotMatch`,
//! `Forbidden.NoPermission`, `Unauthorized`) is returned after one request. One HTTP client per
//! instance endpoint, so connections are kept alive and reused.
//!
//! ### Instance answers and errors
//!
//! * 2xx: protobuf `GetSecretValueResponse` → `SecretValue`; `SecretData` goes straight into a
//!   zeroizing string, the body buffer is zeroized as well. A 2xx with a text/HTML/JSON content
//!   type, an undecodable body or neither `SecretName` nor `SecretData` is an invalid-response
//!   [`KmsError`](crate::KmsError) (status, content type, length — never the body).
//! * 4xx/5xx: protobuf `Error` → a service `KmsError` with HTTP status, code, message, request id,
//!   endpoint and secret name. An empty body, a body without `ErrorCode` or a non-protobuf (HTML)
//!   body is an invalid-response error naming status, content type, length and the first characters
//!   of the (error) page.
//! * Each fetch runs in the tracing span `kms_instance_get_secret_value` with `endpoint`, `secret`,
//!   `attempt` and `request_id`; secret data is never logged.
//!
//! ## Shared gateway: what is sent
//!
//! `GetSecretValue`, API version `2016-01-20`, RPC signature version 1.0, exactly as the official
//! v1 clients (Python/Java/Go) send it: `POST /` with an empty body and every parameter in the
//! query string.
//!
//! | parameter | value |
//! | --- | --- |
//! | `SecretName`, `VersionStage`, `VersionId` | from the request (`ACSCurrent` by default) |
//! | `FetchExtendedConfig` | `true` (needed for `ExtendedConfig` / rotation metadata) |
//! | `Version`, `Action`, `Format` | `2016-01-20`, `GetSecretValue`, `JSON` |
//! | `RegionId` | the entry's `regionId` |
//! | `Timestamp` | UTC, second precision, `2024-02-01T08:00:00Z`, **new on every attempt** |
//! | `SignatureNonce` | 128 random bits as 32 hex digits, **new on every attempt** |
//! | `SignatureMethod` / `SignatureType` | `SHA256withRSA` / `PRIVATEKEY` (ClientKey), `HMAC-SHA1` / empty (all others) |
//! | `SignatureVersion` | `1.0` |
//! | `AccessKeyId` | the ClientKey's `KeyId`, the AccessKey id or the STS id |
//! | `SecurityToken` | STS, RAM-role and ECS-role credentials only |
//! | `Signature` | last |
//!
//! With V3 (`ACS3-HMAC-SHA256`, the default on an instance gateway, or `"signatureVersion":"v3"`)
//! the same `POST /` carries only `SecretName`, `VersionStage`, `VersionId` and
//! `FetchExtendedConfig=true` in the query, and the headers `host` (the bare endpoint, `host:port`
//! when the port is not 443), `x-acs-version`, `x-acs-action`, `user-agent`, `x-acs-date`,
//! `x-acs-signature-nonce` (new on every attempt), `accept: application/json`,
//! `content-type: application/x-www-form-urlencoded`, `x-acs-content-sha256` (of the empty body),
//! for STS-type credentials `x-acs-accesskey-id` and `x-acs-security-token`, and
//! `Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<all of the above>,Signature=<hex>`.
//! The signer reproduces every V3 request captured from the official Python v2 client (shared
//! gateway, VPC gateway, instance gateway; AccessKey and OIDC/STS) byte for byte
//! (`src/kms/gateway/tests/acs3_vectors.rs`).
//!
//! The string to sign is `POST&%2F&` + the RFC 3986 encoding of the canonical query (parameters
//! sorted by name, each `pct(name)=pct(value)`, joined by `&`) — the canonical query is
//! percent-encoded twice. HMAC-SHA1 uses `AccessKeySecret + "&"` as key; ClientKeys sign with
//! RSASSA-PKCS1-v1_5/SHA-256. `tests/gateway_conformance.rs` reproduces, byte for byte, every
//! intermediate (canonical query, string to sign, signature, request target) of the official-SDK
//! captures in `tests/fixtures/gateway/golden_vectors.json` (ClientKey, AccessKey, STS token, ECS
//! role, RAM role incl. the `AssumeRole` call) and `rpc_fixed_vectors.json`.
//!
//! ### Caller identity (`credentials_type`)
//!
//! How the application authenticates to the gateway ([`KmsIdentity`](crate::config::KmsIdentity)):
//!
//! | `credentials_type` | config keys | how it signs |
//! | --- | --- | --- |
//! | `client_key` | `client_key_private_key_path`, `client_key_password_from_file_path` / `client_key_password_from_env_variable` / env `client_key_password` | ClientKey loaded once at construction; `SHA256withRSA`, `AccessKeyId` = KeyId |
//! | `ak` | `credentials_access_key_id`, `credentials_access_secret` | HMAC-SHA1 |
//! | `token` | `credentials_access_token_id`, `credentials_access_token` (used as an AccessKey pair, like the official clients) | HMAC-SHA1 |
//! | `sts_token` | `credentials_access_key_id`, `credentials_access_secret`, `credentials_security_token` | HMAC-SHA1 with the STS secret, `SecurityToken` signed in the query |
//! | `sts` / `ram_role` | AK pair + `credentials_role_arn`, `credentials_role_session_name`, optional `credentials_policy`, `credentials_duration_seconds` (default 3600), `credentials_sts_endpoint` (default `sts.aliyuncs.com`, HTTPS) | STS `AssumeRole` (RPC v1, HMAC-SHA1 with the AK), then as an STS token |
//! | `ecs_ram_role` | `credentials_role_name` (optional), `credentials_ecs_metadata_endpoint` (default `100.100.100.200`, plain HTTP) | IMDSv2: `PUT /latest/api/token` with `X-aliyun-ecs-metadata-token-ttl-seconds: 21600`, then `GET /latest/meta-data/ram/security-credentials/<role>` with `X-aliyun-ecs-metadata-token`; falls back to IMDSv1 (no token) when the token call fails; the role name is discovered from `…/security-credentials/` when not configured |
//!
//! Role credentials (RAM role ARN, ECS role) are fetched lazily on the first request, cached, and
//! fetched again **15 minutes before `Expiration`** (never before half of their lifetime, so short
//! sessions are still used). Only one fetch runs at a time; concurrent requests wait for it. The
//! refresh deadline is kept on the monotonic clock, measured from the remaining lifetime at fetch
//! time. When a refresh fails while the current credentials are still valid, they keep being used
//! (warning logged) and the refresh is retried after 30 s; only expired credentials make requests
//! fail. The metadata service is always called without a proxy.
//!
//! ### Gateway answers and errors
//!
//! The answer is JSON: `SecretData` and `ExtendedConfig` are JSON documents inside strings,
//! `VersionStages` is `{"VersionStage": [...]}` (a bare list or single string is accepted too),
//! unknown members are ignored. Errors are typed [`KmsError`](crate::KmsError)s that never contain
//! a secret, the security token, the signature or the request URL:
//!
//! * a POP error body → a service error with HTTP status, `Code`, `Message`, `RequestId` (body,
//!   else `x-acs-request-id`) and details `HostId: …; Recommend: …`; `SignatureDoesNotMatch`
//!   messages have the server's string-to-sign replaced by a verdict ("same string as ours: the
//!   secret is wrong" or "a different string: a proxy rewrote the request"), because that string
//!   contains the `SecurityToken`;
//! * a body that is not a POP error (HTML from a proxy, …) → an invalid-response error naming the
//!   status and content type, retryable when 5xx;
//! * a 2xx body that is not the expected JSON → an invalid-response error (error category, line and
//!   column, never the body); bodies above `max_response_bytes` are refused;
//! * STS refusals are service errors whose endpoint is the STS endpoint and whose message starts
//!   with `STS AssumeRole of <arn> with AccessKey <id> failed`; metadata failures are
//!   invalid-response or transport errors naming the metadata endpoint and `credentials_role_name`;
//! * bad configuration (empty or malformed `regionId`, an endpoint with a scheme or path, port 0,
//!   unreadable or empty `caFilePath`, empty AccessKey id/secret, ClientKey problems) fails when the
//!   provider is built, naming the key to fix.
//!
//! ### Gateway retries
//!
//! As for the instance API (`max_attempts` 4, full-jitter backoff from 200 ms capped at 5 s):
//! `Rejected.Throttling`, `ServiceUnavailableTemporary`, `InternalFailure`, transport failures
//! (connect, TLS, timeout, dropped connection) and non-POP 5xx answers are retried; every attempt
//! fetches the current caller credentials and is signed again with a new `SignatureNonce` and
//! `Timestamp`. Everything else (`Forbidden.*`, `InvalidAccessKeyId.NotFound`,
//! `SignatureDoesNotMatch`, `IllegalTimestamp`, …) fails at once.
//!
//! ### Gateway TLS
//!
//! rustls with the ring provider, TLS 1.2/1.3, certificate and host-name verification always on —
//! the gateway code has no way to turn it off (the official v1 SDKs disable verification for the
//! gateway; we do not). Trust anchors are the Mozilla roots compiled in by `webpki-roots`, plus every
//! certificate of the entry's optional `caFilePath`, which is trusted **in addition** (a
//! TLS-intercepting corporate proxy, LocalKms). Why `webpki-roots` and not the platform store:
//! installing a platform verifier into a rustls config goes through rustls' custom-verifier escape
//! hatch, which this crate allows in exactly one place (the instance client's `ignoreSslCerts`);
//! compiled-in roots also behave identically in minimal containers without `/etc/ssl`, and corporate
//! roots are covered by `caFilePath`. The trade-off: new public roots arrive with a `webpki-roots`
//! update, not with OS updates. The same roots (and `caFilePath`) are used for STS. `connectTo` pins
//! the endpoint's host name to an address while TLS is still verified against the host name.
//!
//! # Identity: ClientKey, password, CA file
//!
//! What you download from the KMS console becomes a signer and a TLS trust store: the **ClientKey**
//! of an application access point (RSA key, signs every KMS-instance request with
//! `RSA_PKCS1_SHA_256`), its **password**, and the instance **CA file**. AccessKey/STS callers of the
//! shared gateway use the HMAC-SHA1 signer instead. Problems are reported as
//! [`IdentityError`](crate::IdentityError)s.
//!
//! ## ClientKey formats accepted
//!
//! * JSON object `{"KeyId": "KAAP.…", "PrivateKeyData": "<standard base64 PKCS#12>"}` as the console
//!   (`clientKey_<KeyId>.json`) or Terraform writes it: compact or pretty-printed, any member order,
//!   unknown members ignored, line-wrapped base64 tolerated. From a file or inline
//!   ([`ClientKeySource`](crate::config::ClientKeySource); inline content is shown as
//!   `inline content` in errors).
//! * `KeyId` must be a non-empty string of printable ASCII (it becomes an HTTP header and a line of the
//!   string-to-sign); it is not required to start with `KAAP.`.
//! * The PKCS#12 must hold an RSA private key of 2048–4096 bits with public exponent ≥ 65537 (ring's
//!   signing range; real ClientKeys are RSA-2048). The certificate whose public key matches the key is
//!   used for the expiry check; other certificates are ignored. If there is more than one key, the
//!   first is used (warning).
//!
//! PKCS#12 profiles tested (decoder: `p12-keystore` 0.4.1, pure Rust):
//!
//! | fixture | profile | result |
//! | --- | --- | --- |
//! | `clientKey_…_legacy.json` | `openssl pkcs12 -export -legacy`: RC2-40 cert bag, 3DES key bag, HMAC-SHA1 MAC, 2048 it. | opens; golden signatures match |
//! | `clientKey_…_alibabalike.json` | `-legacy -nomaciter`: MAC iterations field omitted (= real ClientKeys) | opens; golden signatures match |
//! | `clientKey_…_aes256.json` | OpenSSL 3 default: PBES2/PBKDF2-SHA256/AES-256-CBC, HMAC-SHA256 MAC | opens; golden signatures match |
//! | `real-alibaba-clientkey/clientKey_real.json` | a real Alibaba-issued ClientKey (confidential-containers test data) | opens; signature verifies with the certificate's public key |
//! | `gateway/clientKey_…_legacy.json` | legacy, second key | opens; reproduces the gateway `SHA256withRSA` vector |
//! | `identity/clientKey_{ec,rsa1024,nokey,expired}.json` | generated by `tests/fixtures/identity/make_fixtures.py` | `KeyNotRsa`, `RsaKeyRejected`, `Pkcs12NoPrivateKey`, `ClientKeyExpired` |
//!
//! ## Password sources
//!
//! The sources form an ordered list (the configuration decides the order, see
//! [ClientKey password order](#clientkey-password-order)); the first source that yields a value wins:
//!
//! | source | behaviour |
//! | --- | --- |
//! | file | must exist, be readable UTF-8 and non-empty — a configured file that is missing, unreadable or empty is an **error**, never a silent fall-through. Surrounding white space (CR/LF, spaces, tabs, a UTF-8 BOM) is trimmed. A file starting with `{` is read as `{"ClientKeyPassword": "..."}` (the form confidential-containers uses). On unix a world-readable file logs a warning (`chmod 600`). |
//! | environment variable | unset → falls through; set to white space only → falls through (listed as "empty"); set → value trimmed like a file; not valid Unicode → error. |
//! | inline | builder only; used as given. |
//!
//! If nothing yields a value, the error (`PasswordMissing`) lists every source tried by file path or
//! variable name and state (`environment variable client_key_password (unset)`), never a value.
//!
//! ## Identity errors (one variant per bad input)
//!
//! `ClientKeyFileMissing`, `Read` (other I/O), `ClientKeyFormat` (not UTF-8 / not a JSON object),
//! `ClientKeyNotJson` (line, column), `ClientKeyMissingKeyId` (missing / not a string / empty / not
//! printable ASCII), `ClientKeyMissingPrivateKeyData`, `PrivateKeyDataNotBase64`, `NotPkcs12`,
//! `WrongPassword` ("the password does not open ClientKey KAAP.… (file): …" — never an ASN.1 or MAC
//! message), `Pkcs12` (unsupported algorithm), `Pkcs12NoPrivateKey`, `KeyNotRsa`, `RsaKeyRejected`,
//! `ClientKeyExpired`, `PasswordFileMissing`, `PasswordFileUnreadable`, `PasswordFileNotUtf8`,
//! `PasswordFileEmpty`, `PasswordFileJson`, `PasswordEnvNotUnicode`, `PasswordMissing`,
//! `CaFileMissing`, `CaFileEmpty`, `CaFileNotPem` (says whether it found DER — with the `openssl x509
//! -inform DER` command to convert it — binary data, text, or PEM without a certificate), `CaFile`
//! (broken PEM armour), `CaCertificateInvalid` (position of the bad block), `Signing`. Each message
//! names the file (or variable) and what to do. JSON parse errors report only line and column, because
//! serde_json messages can quote the offending value.
//!
//! ## Certificate expiry policy
//!
//! * No warning while more than 180 whole days are left; then a warning at the tightest threshold
//!   reached (180, 90, 30, 7 days), and "expired" after `notAfter`.
//! * Loading a ClientKey or CA file emits **one** `tracing::warn!` per certificate within a threshold,
//!   naming subject, file, date and days left. The dates also appear in `health()`.
//! * **Expired ClientKey certificate → error `ClientKeyExpired`**: KMS rejects expired access point
//!   keys, so failing at start-up with "create a new ClientKey for the application access point in the
//!   KMS console" beats an opaque 401 later. A ClientKey certificate that is not yet valid only warns
//!   (usually clock skew).
//! * **Expired or not-yet-valid CA certificate → warning only**: the bundle still loads; TLS
//!   verification then fails with its own precise error if that certificate is actually needed.
//!
//! ## Zeroization (what is and is not wiped)
//!
//! * Wiped on drop: the ClientKey file bytes, the `PrivateKeyData` string, its
//!   white-space-stripped copy, the decoded PKCS#12 DER, password file bytes, the password, env
//!   values read, the `secret&` HMAC key we build, the fetched `SecretData`, secrets in configuration.
//! * **Not wiped, honestly**: ring's `RsaKeyPair` keeps the private key (CRT components, Montgomery
//!   forms) for the ClientKey's lifetime and does not zeroize on drop; `p12-keystore` holds the
//!   decrypted PKCS#8 in a plain `Vec<u8>` and its KDF/BMPString password copies are not zeroized;
//!   ring's `hmac::Key` keeps the padded key state; `serde_json` may use an internal scratch buffer for
//!   strings with escapes; the process environment keeps env-var passwords; `std::fs::read` can leave
//!   a copy if the file grew while being read; third-party adapters keep their own `String`s. Keep
//!   the process memory private (no core dumps) if that matters.
//! * `Debug` of a ClientKey shows KeyId, origin and certificate only; passwords and secrets print
//!   redacted; no error or log event carries the password or key bytes (tested).
//!
//! # Testing with LocalKms
//!
//! `LocalKms` (module `testing`, cargo feature `test-util`) is an in-process KMS emulator. It speaks
//! the KMS instance API (`{instanceId}.cryptoservice.kms.aliyuncs.com`) over **real HTTPS on
//! 127.0.0.1**, issues **real ClientKeys** and checks **every request like the service does** — so
//! code that works against LocalKms signs, hashes and verifies TLS exactly as it must against a real
//! KMS instance. It serves the shared gateway protocol too (below). The crate's own tests, examples
//! and the quickstart run against it; you can use it in your integration tests too.
//!
//! ```toml
//! [dev-dependencies]
//! aliyun-managed-credentials = { version = "0.1", features = ["test-util"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! In a `#[tokio::test]`:
//!
//! ```no_run
//! # #[cfg(feature = "test-util")]
//! # async fn my_service_survives_a_rotation() -> Result<(), Box<dyn std::error::Error>> {
//! use aliyun_managed_credentials::testing::{Fault, LocalKms};
//! use aliyun_managed_credentials::ManagedCredentialsProvider;
//!
//! let kms = LocalKms::start().await?;                    // random instance id, temp dir, ephemeral port
//! let ap = kms.issue_access_point(&["acs/ram/user/*"]);  // ClientKey + password + CA + properties file
//! let first = kms.put_ram_credential("acs/ram/user/app");
//!
//! // Point the code under test at the written config file (in-cloud form) ...
//! let provider = ManagedCredentialsProvider::from_properties_file(&ap.properties_file).await?;
//! // ... or at the typed entry: kms.instance_config(&ap)
//! let ak = provider.get_access_key("acs/ram/user/app").await?;
//! assert_eq!(ak.access_key_id(), first.access_key_id);
//!
//! let second = kms.rotate("acs/ram/user/app");           // new ACSCurrent, old key becomes ACSPrevious
//! kms.revoke_previous("acs/ram/user/app");               // downstream now rejects `first`
//! assert!(!kms.is_access_key_valid(&first.access_key_id));
//!
//! kms.push_fault(Fault::throttling());                   // next request: 429 Rejected.Throttling
//! kms.push_fault(Fault::DropConnection);                 // then: connection closed, no answer
//! // ... exercise your code, then observe what it sent:
//! assert!(kms.request_count("acs/ram/user/app") <= 4);
//! for r in kms.requests() {
//!     tracing::info!("{} {} {} {}", r.date, r.key_id, r.secret_name, r.outcome);
//! }
//! provider.close().await;
//! kms.shutdown().await;                                  // dropping it stops it too
//! # let _ = second;
//! # Ok(()) }
//! ```
//!
//! The written `managed_credentials_providers.properties` looks like
//!
//! ```text
//! cache_client_dkms_config_info=[{"regionId":"cn-hangzhou","endpoint":"kst-loc….cryptoservice.kms.aliyuncs.com:40123","clientKeyFile":"/tmp/localkms-…/clientKey_KAAP.….json","passwordFromFilePath":"/tmp/localkms-…/clientKey_KAAP.…_Password.txt","caFilePath":"/tmp/localkms-…/PrivateKmsCA_kst-loc….pem","ignoreSslCerts":false,"connectTo":"127.0.0.1:40123"}]
//! ```
//!
//! `connectTo` is this crate's extension (like curl's `--connect-to`): connect to that address but
//! verify TLS for the endpoint name. No DNS or `/etc/hosts` changes are needed.
//!
//! The ClientKey and password files are secrets: on unix they are written owner-only (0600),
//! atomically (temporary file, then rename) and never through a symbolic link; a directory given
//! to `LocalKmsBuilder::dir` that LocalKms creates is 0700.
//!
//! ## What it emulates
//!
//! * **PKI like a real instance**: `Private KMS Root CA` → `Private KMS <region> Second CA`
//!   (CA:TRUE, pathlen 0) → server leaf for `{instanceId}.cryptoservice.kms.aliyuncs.com` (SAN). The
//!   server presents leaf + Second CA; the CA file `PrivateKmsCA_<instanceId>.pem` holds root then
//!   Second CA. `ServerCertificate::SelfSigned` (untrusted) and `ServerCertificate::WrongName`
//!   (trusted chain, leaf for another host) exist for negative TLS tests. CA/server keys are ECDSA
//!   P-256. TLS 1.2/1.3 via rustls + ring, HTTP/1.1.
//! * **ClientKeys in the exact Alibaba PKCS#12 profile**:
//!   `{"KeyId":"KAAP.<uuid>","PrivateKeyData":<base64 PFX>}` with cert bag
//!   `pbeWithSHAAnd40BitRC2-CBC`, key bag `pbeWithSHAAnd3-KeyTripleDES-CBC`, 2048 iterations,
//!   HMAC-SHA1 MAC with the iterations field *omitted*, `localKeyID` on both bags, self-signed
//!   RSA-2048 cert `CN=<instanceId>-client, OU=Aliyun, O=Alibaba, L=Hangzhou, ST=Zhejiang, C=CN`,
//!   5 years. Password: 32 lower-case hex chars, the file ends with a newline (like the console
//!   download). `openssl pkcs12 -legacy -info` shows `MAC: sha1, Iteration 1`,
//!   `pbeWithSHA1And40BitRC2-CBC, Iteration 2048`, `pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048`.
//!   The RSA keys come from a pool of eight pre-generated keys (ring cannot generate RSA keys), so
//!   they are test keys only.
//! * **Request verification**, in this order, with the service's codes (error bodies are protobuf
//!   `Error` with a fresh RequestId):
//!
//!   | check | answer |
//!   | --- | --- |
//!   | `x-kms-acccesskeyid`, `x-kms-apiname`, `x-kms-apiversion`, `x-kms-signaturemethod`, `date`, `authorization` present | 400 `MissingParameter` |
//!   | `content-type: application/x-protobuf` | 415 `InvalidContentType` |
//!   | `Date` is an IMF-fixdate (`Thu, 01 Feb 2024 08:00:00 GMT`) | 400 `InvalidParam` "The Param Date is invalid." |
//!   | `Date` within ±15 min | 400 `RequestTimeTooSkewed` |
//!   | `x-kms-apiversion` = `dkms-gcs-0.2` | 400 `InvalidApiVersion` |
//!   | `x-kms-signaturemethod` = `RSA_PKCS1_SHA_256` | 400 `InvalidParam` |
//!   | `Authorization: Bearer <base64>` | 400 `InvalidParam` "The Param Authorization is invalid." |
//!   | `content-sha256` = upper-case hex SHA-256 of the body | 400 `InvalidParam` "The Param Content-SHA256 is invalid." |
//!   | KeyId is a known access point | 404 `Unauthorized` |
//!   | RSA PKCS#1 v1.5 SHA-256 signature over the string-to-sign (verified with ring) | 401 `SignatureNotMatch` |
//!   | `x-kms-apiname` = `GetSecretValue` (the only API emulated) | 400 `InvalidApiName` |
//!   | access point policy allows the secret (`*`, `prefix*`, exact) | 403 `Forbidden.NoPermission` |
//!   | secret / version / stage exists | 404 `Forbidden.ResourceNotFound` |
//!   | body > 3 MiB | 413 |
//!
//! * **Secrets**: RAM credentials (`SecretType` `RAMCredentials`, `SecretData`
//!   `{"AccessKeyId","AccessKeySecret","GenerateTimestamp"[,"ExpireTimestamp"]}`, `ExtendedConfig`
//!   `{"SecretSubType":"RamUserAccessKey","UserName":…,"CustomData":{}}`, `AutomaticRotation`
//!   `Enabled`, `RotationInterval` `604800s`, `NextRotationDate`, `LastRotationDate`, `VersionId`,
//!   `VersionStages` ACSCurrent/ACSPrevious; `VersionStage` and `VersionId` in the request are
//!   honoured), Generic text and binary (base64) secrets. AccessKey ids look like `LTAI` + 20
//!   alphanumerics, secrets 30 alphanumerics. `AccessKeyPair` and `AccessPoint` print redacted.
//! * **Faults** (`push_fault` FIFO, `push_fault_for(secret, …)` checked first,
//!   `set_fault_always(Some(…))` until `clear_faults()`): `Delay(d)` then a normal answer;
//!   `Error { http_status, code, message }`; `DropConnection` (the TCP/TLS connection is closed
//!   without any HTTP answer); `Garbage { http_status }` (an HTML body); `Oversized { bytes }` (a
//!   well-formed 200 bigger than `bytes`, to test response size caps).
//! * **Observation**: `request_count(name)`, `total_requests()`, `requests()` (protocol, api name,
//!   secret, version stage, `Date` and signature as sent, KeyId, outcome code, HTTP status) — e.g. to
//!   assert that every retry was re-signed with a fresh `Date`.
//! * Several LocalKms can run at once (no globals); each has its own PKI, port, keys and store.
//!
//! ## The gateway protocol, STS and ECS metadata
//!
//! LocalKms also serves the shared gateway on its own loopback port as `kms.{region}.aliyuncs.com`
//! (TLS leaf signed by the LocalKms CA), sharing the secret store, rotation, scripted faults and
//! request log with the instance API. Its verification is written independently of the client's
//! signing code:
//!
//! * required parameters (`Missing<Name>`), `SignatureVersion=1.0`;
//! * `Timestamp` format and skew ≤ 15 min → `IllegalTimestamp` (`set_gateway_clock_offset` skews
//!   the server clock);
//! * ClientKeys (`KAAP.…`) of issued access points: RSA signature and `SignatureType=PRIVATEKEY`,
//!   access-point policy; registered AccessKeys and STS credentials: HMAC-SHA1, `SecurityToken`
//!   match (`MissingSecurityToken`, `InvalidSecurityToken.MismatchWithAccessKey`) and expiry
//!   (`InvalidSecurityToken.Expired`), allowed-secret patterns;
//! * `InvalidAccessKeyId.NotFound` (unknown key), `SignatureDoesNotMatch` (with the server
//!   string-to-sign, like the service), `SignatureNonceUsed` (replayed nonce),
//!   `InvalidAction.NotFound`, `MissingSecretName`, `Forbidden.NoPermission`,
//!   `Forbidden.ResourceNotFound` — all as POP JSON bodies with `RequestId`, `HostId`, `Recommend`.
//!
//! It also runs a fake STS (`AssumeRole`, HTTPS on `127.0.0.1` with an IP-SAN leaf from the same CA,
//! HMAC-verified against registered AccessKeys, issuing STS credentials the gateway accepts) and a
//! fake ECS metadata service (plain HTTP, IMDSv2 tokens that can be switched off, role discovery,
//! role credentials with a configurable lifetime). API: `gateway_endpoint()`, `gateway_addr()`,
//! `gateway_config()`, `register_access_key(&patterns)`, `revoke_caller(id)`,
//! `issue_sts_token(&patterns, lifetime)`, `sts_endpoint()`, `sts_request_count()`,
//! `push_sts_fault(fault)`, `ecs_metadata_endpoint()`, `set_ecs_role(Some(name))`,
//! `set_ecs_imdsv2(bool)`, `set_ecs_credential_lifetime(d)`, `ecs_metadata_requests()`,
//! `set_gateway_clock_offset(secs)`, `gateway_nonces()`.
//!
//! The same fake STS answers the anonymous `AssumeRoleWithOIDC` of RRSA callers: it rejects any
//! AccessKey, signature, security token, `Authorization` or `x-acs-*` header, checks `Timestamp`,
//! and verifies provider ARN, role ARN and the OIDC token against what it issued, answering the
//! documented STS codes (401 `AuthenticationFail.NoPermission`,
//! `AuthenticationFail.OIDCToken.Invalid`, `.InvalidSignature`, `.Expired`). The sessions it
//! issues go into the same caller registry the gateway verifies. API:
//! `register_oidc_role(&patterns)` (writes the token file; returns an `OidcRole` with
//! `role_arn`, `oidc_provider_arn`, `token_file` and `environment()`), `rotate_oidc_token(&role)`
//! (the old token is then refused as expired), `oidc_sts_requests()` (method, query, body and
//! header names, session name, which token generation was sent; never the token),
//! `oidc_properties(&role, from_environment)`, `expire_sts_session(id)` (the gateway then answers
//! `InvalidSecurityToken.Expired`), `set_sts_fault_always(Some(fault))` (an STS outage).
//!
//! Both gateways verify V3 (`ACS3-HMAC-SHA256`) too, recomputing the canonical request from what
//! arrived (query, the `SignedHeaders`, SHA-256 of the body) and the HMAC with the caller's
//! secret: `IncompleteSignature` (malformed `Authorization`, another algorithm, `host` or an
//! `x-acs-*` header left unsigned), `SignatureDoesNotMatch` (also for a lying
//! `x-acs-content-sha256`), `IllegalTimestamp` (`x-acs-date` skew), `SignatureNonceUsed`, and the
//! same key, token and permission codes as above. The instance listener
//! (`{instanceId}.cryptoservice.kms.aliyuncs.com`, instance CA) answers OpenAPI requests of RAM
//! callers — anything with `x-acs-action`, an `ACS3-` `Authorization` or a query string — and the
//! instance API for the rest, so a test reaches the instance gateway by name over real TLS with
//! `instance_gateway_config()` (a `cache_client_region_id` entry with `connectTo`). The request log
//! says which protocol arrived (`gateway`, `gateway-v3`, `instance-gateway`,
//! `instance-gateway-v3`), and `tls_handshake_failures()` counts refused handshakes.
//!
//! ## Standalone
//!
//! ```sh
//! cargo run --features test-util --example local_kms -- --dir /tmp/lk [--port 8443] [--secret acs/ram/user/app ...]
//! ```
//!
//! creates an access point allowed to read everything and one RAM credential per `--secret` (default
//! `acs/ram/user/app`), writes the CA file, ClientKey, password file,
//! `managed_credentials_providers.properties` and `local_kms.json` (endpoint, host, port, ca_file,
//! key_id, client_key_file, password_file, properties_file, secret_names) into the directory, prints
//! a summary and serves until Ctrl-C / SIGTERM.
//!
//! ## Checked against the official SDK
//!
//! The official Python SDK `alibabacloud-dkms-gcs==1.0.2` fetches a secret from LocalKms unchanged
//! (ClientKey opened by pyOpenSSL, CA file verified by OpenSSL including the host name, signature
//! verified by LocalKms):
//!
//! ```sh
//! python3 -m venv /tmp/pyenv && /tmp/pyenv/bin/pip install alibabacloud-dkms-gcs==1.0.2
//! cargo run --features test-util --example local_kms -- --dir /tmp/lk &
//! /tmp/pyenv/bin/python tests/python/dkms_gcs_fetch.py /tmp/lk/local_kms.json
//! ```
//!
//! Result (2026-11-23, Python 3.11, OpenSSL 3.0): exit 0, the SDK returned all 13 fields —
//! `SecretType` `RAMCredentials`, `SecretData` with the AccessKeyId LocalKms printed,
//! `VersionStages` `["ACSCurrent"]`, `RotationInterval` `604800s`, `ExtendedConfig`
//! `{"SecretSubType":"RamUserAccessKey","UserName":"app","CustomData":{}}`, `AutomaticRotation`
//! `Enabled`, a uuid-like `RequestId`. The same check runs as an opt-in test (without the variable
//! it prints a note and passes):
//!
//! ```sh
//! LOCALKMS_PYTHON_SDK=1 cargo test --features test-util --lib official_python_sdk
//! ```
//!
//! The three golden requests captured from that SDK also verify against LocalKms's string-to-sign
//! (`golden_requests_verify_with_the_server_string_to_sign`).
//!
//! ## LocalKms numbers
//!
//! Measured on the 2-core dev box: `LocalKms::start()` 1.4 ms (debug) / 1.1 ms (release);
//! `issue_access_point` 94 ms (debug) / 2.7 ms (release) — RSA signing of the ClientKey certificate
//! and 2 × 2048 PBE iterations; `put_ram_credential` 0.12 ms (debug).
//!
//! # Fault matrix
//!
//! `tests/fault_matrix.rs` drives the provider over real TLS against LocalKms through each
//! fault, with a 1 s request timeout, 2 attempts per endpoint and a refresh backoff of
//! 0.5–1 s (full jitter). For each fault: what a cold read (nothing cached) gets, the KMS requests it cost,
//! the extra requests 20 more cold reads cost right after (the shared backoff: only a retry
//! that falls due meanwhile, 2 attempts, never one per read), how long until a read succeeds once KMS is back,
//! how many of 200 reads failed while a key was cached and KMS was failing (always 0: the last
//! good key is served), and how long until the background retry brings the new key once KMS is
//! back. Produced by:
//!
//! ```sh
//! cargo test --all-features --test fault_matrix -- --nocapture
//! ```
//!
//! | fault | cold read gets | KMS requests | requests for 20 more cold reads | cold recovery | failed reads with a key cached | recovery to the new key |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | connection dropped before the answer | transport: connection failed, retryable | 2 | 0 | 96 ms | 0/200 | 338 ms |
//! | connection reset mid-body | transport: connection failed, retryable | 2 | 2 | 1054 ms | 0/200 | 215 ms |
//! | KMS answers after the request timeout (1 s) | transport: timed out, retryable | 2 | 0 | 227 ms | 0/200 | 480 ms |
//! | slow body (4 pieces, 400 ms apart) | transport: timed out, retryable | 2 | 0 | 391 ms | 0/200 | 268 ms |
//! | 502 with an HTML body (proxy) | invalid answer (HTTP 502), retryable | 2 | 0 | 183 ms | 0/200 | 50 ms |
//! | oversized body (2 MiB, cap 1 MiB) | invalid answer (HTTP 200) | 1 | 0 | 391 ms | 0/200 | 213 ms |
//! | throttling storm (every request 429) | `Rejected.Throttling` | 2 | 0 | 200 ms | 0/200 | 235 ms |
//! | malformed SecretData | `SecretError` (SecretData rejected) | 1 | 1 | 580 ms | 0/200 | 463 ms |
//! | KMS hands out an already expired key | `SecretError::Expired` (not served) | 1 | 0 | 233 ms | 0/200 | 455 ms |
//! | TLS handshake fails (untrusted server certificate) | transport: TLS failed, retryable | 0 | — | — | — | — |
//! | connection refused | transport: connection failed, retryable | 0 (nothing listens) | — | — | — | — |
//! | the KMS client panics | a failed attempt naming the endpoint, never "closed" | 1 | — | — | — | — |
//! | clock steps forward 3 h (NTP, resume) | — | — | — | — | — | overdue refresh within 60 s (`a_wall_clock_step_is_followed_within_a_minute`, paused time) |
//! | the runtime that built the provider shuts down | misses: closed | 0 | 0 | — | 0 until ExpireTimestamp | — (`provider_whose_runtime_is_gone_serves_until_expiry_and_reports_closed`) |
//!
//! Timings are wall-clock on the 2-core build VM and vary run to run; the test asserts the
//! invariants (no failed read with a key cached, the backoff, recovery within 10 s), not the
//! milliseconds. The clock-step, runtime-shutdown and panic rows run in the tests named in them
//! (paused tokio time where dates must move without waiting).
//!
//! # Fleet scale
//!
//! What happens when thousands of pods run this provider against one account's KMS quota: the
//! shared gateway allows 450 `GetSecretValue` calls per second per account and region, the
//! smallest KMS instance about 1,000. `examples/fleet` runs N real providers (the cache,
//! scheduler, backoff and forced-refresh code of this crate, each built with
//! [`ProviderBuilder`](crate::ProviderBuilder), a custom [`Clock`](crate::Clock) and its own
//! [`KmsClient`](crate::KmsClient)) in one process on tokio's paused clock, against a simulated
//! KMS that serves a managed RAM credential, answers `Rejected.Throttling` (HTTP 400, the
//! gateway's documented status) above 450 requests in a second, rotates the key (optionally
//! deleting the old AccessKey) and can be down (`ServiceUnavailableTemporary`, 503). Each pod
//! reads its key every 10 s (60 s over the simulated day) at its own phase; a read that gets a
//! deleted key makes the call fail with `InvalidAccessKeyId.NotFound` and calls `report_rejected`,
//! as an application does.
//!
//! ```text
//! cargo run --release --example fleet --features test-util -- --pods 1000,10000 --out docs/fleet
//! ```
//!
//! (3 min 22 s wall for both sizes on the shared 2-core VM, `nice`d, 103 MB peak RSS.) It prints
//! the table below and writes `docs/fleet/summary.csv`, one CSV per scenario (requests, answers,
//! busiest second, pods on the current key and pods whose last answer was an error, per second or
//! per minute) and one chart per scenario drawn from it (`docs/fleet/<scenario>_<pods>.png`,
//! shown in the README). `tests/fleet.rs` runs the same scenarios with 300 pods and the quota
//! scaled to 13/s and asserts the invariants (no failed read while a key is held, quota kept or
//! throttled pods retried to success with a bounded number of requests, every pod on the new key).
//!
//! Scenarios: **steady_day** (pods started over one hour, 25 h, no rotation);
//! **scheduled_rotation** (the key rotates at the `NextRotationDate` the pods were told; the old
//! key stays valid); **revoked_rotation** (out of schedule: new version current and the old
//! AccessKey deleted at the same moment); **cold_start** (every pod starts at the same second);
//! **kms_outage** (KMS down for one hour while most pods' 6-hourly refresh falls due);
//! **synced_file_rotation** (the file source, see below).
//! Figures: peak = the busiest second; mean = all requests over the simulated time; *failed
//! reads* = the provider gave no key to a pod that had one (must be 0); *not-ready* = reads of a
//! cold pod before its first key; *revoked-key reads* = reads that got the deleted key, recovered
//! by `report_rejected` at once or failed (KMS throttled); *new key* = seconds from the event
//! (rotation; start; end of the outage, for the pods that were stale then) until each pod had
//! the new key; *heap per pod* = the largest growth of live heap while the pods ran, over all
//! pods (`stats_alloc`; includes about 150 bytes of simulation bookkeeping per pod).
//!
//! | scenario | pods | peak QPS | mean QPS | requests | throttled | unavailable | failed reads | not-ready reads | revoked-key reads (recovered / failed) | new key p50 / p99 / max (s) | heap per pod |
//! |---|---|---|---|---|---|---|---|---|---|---|---|
//! | steady_day | 1,000 | 4 | 0.05 | 4,837 | 0 | 0 | 0 | 0 | 0 / 0 | – | 3.4 KiB |
//! | scheduled_rotation | 1,000 | 10 | 0.14 | 2,000 | 0 | 0 | 0 | 0 | 0 / 0 | 445 / 595 / 599 | 3.4 KiB |
//! | revoked_rotation | 1,000 | 110 | 0.14 | 2,000 | 0 | 0 | 0 | 0 | 1,000 / 0 | 4.0 / 9.0 / 9.0 | 3.4 KiB |
//! | cold_start | 1,000 | 1,000 | 0.43 | 1,550 | 550 | 0 | 0 | 2 | 0 / 0 | 1.0 / 10.0 / 11.0 | 3.6 KiB |
//! | kms_outage | 1,000 | 15 | 0.67 | 19,278 | 0 | 17,278 | 0 | 0 | 0 / 0 | 93 / 280 / 292 | 7.3 KiB |
//! | steady_day | 10,000 | 11 | 0.54 | 48,368 | 0 | 0 | 0 | 0 | 0 / 0 | – | 3.4 KiB |
//! | scheduled_rotation | 10,000 | 50 | 1.39 | 20,000 | 0 | 0 | 0 | 0 | 0 / 0 | 451 / 597 / 600 | 3.4 KiB |
//! | revoked_rotation | 10,000 | **3,332** | 3.37 | 48,488 | 28,488 | 0 | 0 | 0 | 9,794 / 6,517 | 11.0 / 29.0 / 29.0 | 4.1 KiB |
//! | cold_start | 10,000 | **10,000** | 6.97 | 25,114 | 15,114 | 0 | 0 | 5,600 | 0 / 0 | 11.0 / 29.0 / 30.0 | 3.9 KiB |
//! | kms_outage | 10,000 | 94 | 6.84 | 196,885 | 0 | 176,885 | 0 | 0 | 0 / 0 | 88 / 271 / 299 | 7.4 KiB |
//! | synced_file_rotation | 1,000 | 1 | 0.01 | 3 | 0 | 0 | 0 | 0 | 0 / 0 | 111 / 112 / 112 | 24.2 KiB |
//! | synced_file_rotation | 10,000 | 1 | 0.01 | 3 | 0 | 0 | 0 | 0 | 0 / 0 | 112 / 112 / 112 | 24.0 KiB |
//!
//! 20,000 pods, the three scenarios that move with N (`--pods 20000 --scenario scheduled_rotation
//! --scenario revoked_rotation --scenario cold_start`, 2 min 56 s wall, 203 MB peak RSS; the
//! revoked row re-run alone after the change described below was reverted, 41 s; not in
//! `docs/fleet`):
//!
//! | scenario | pods | peak QPS | requests | throttled | revoked-key reads (recovered / failed) | not-ready reads | new key p50 / p99 / max (s) | heap per pod |
//! |---|---|---|---|---|---|---|---|---|
//! | scheduled_rotation | 20,000 | 97 | 40,000 | 0 | 0 / 0 | 0 | 451 / 597 / 600 | 3.5 KiB |
//! | revoked_rotation | 20,000 | 8,085 | 141,749 | 101,749 | 19,865 / 35,053 | 0 | 22.0 / 48.0 / 49.0 | 4.6 KiB |
//! | cold_start | 20,000 | 20,000 | 72,678 | 52,678 | 0 / 0 | 33,793 | 22.0 / 57.0 / 60.0 | 4.3 KiB |
//!
//! The scheduled rotation's peak doubles with the fleet (N / jitter), as expected; the two
//! scenarios that are over the quota by construction take about twice as long to drain.
//!
//! **Secrets synced by the cluster: KMS load independent of N.** `synced_file_rotation` runs the
//! file source ([Secrets synced by the cluster](#secrets-synced-by-the-cluster-kubernetes)): one operator,
//! modelled on ack-secret-manager (its `--polling-interval`, 120 s by default in
//! `cmd/manager/main.go` at `223ebff`), sends `GetSecretValue` to the same simulated KMS (same
//! quota) every 120 s and writes the `SecretData` JSON with `testing::KubeletAtomicWriter` (the
//! kubelet's atomic writer, feature `test-util`) into a temporary directory, at
//! `acs/ram/user/fleet-app`; each pod is a provider built with `with_secret_files(dir, 2 s)` (the
//! default poll) that reads the real files in tokio's blocking pool. Pods start over the first
//! minute; the key rotates at 130 s, 10 s after an operator poll, so the operator writes it at 240
//! s (110 s later, near its worst case); the run ends at 300 s.
//!
//! ```text
//! cargo run --release --example fleet --features test-util -- --pods 1000,10000 --scenario synced_file_rotation --out docs/fleet
//! ```
//!
//! (1 min 35 s wall for both sizes, `nice`d on the shared 2-core VM: 7 s for 1,000 pods, 88 s for
//! 10,000; 113 MB peak RSS.) KMS got **3 requests at 1,000 and at 10,000 pods** (the operator's
//! polls at 0, 120 and 240 s; peak 1/s, none throttled): the pods put no load on it. No failed or
//! not-ready read (269,701 reads at 10,000 pods). Every pod served the new key 0.97 or 1.97 s after
//! the operator's write (pods start, and so poll, on whole simulated seconds; one poll of 2 s at
//! most), so 111–112 s after the rotation: the time to the new key is the operator's delay plus one
//! poll, whatever N. In a cluster the kubelet's propagation of the Secret into the volume (its sync
//! period, about a minute) comes on top; it is not modelled, the operator writes the volume
//! directly. The price is on the pods' side: each reads its files every 2 s (7,600 allocations per
//! pod over the run's 150 polls, against 120–480 per KMS pod over hours), and the heap per pod is
//! 24 KiB against 3.4 KiB for a KMS pod. **That heap grows with the run**: 24.2 KiB after 300 s and
//! 67.6 KiB after 900 s at 1,000 pods (the same scenario, only longer; one-off runs, not kept),
//! about 145 bytes per pod and poll. The same pods fetching from KMS every 2 s instead
//! (`refresh_max_interval_ms` 2 s, no jitter, quota raised; also one-off) stay at 3.4 KiB after 300
//! s and after 900 s, so the cache's refresh loop is not it. Nor is the file source:
//! `tests/secret_files_heap.rs` runs 50 providers, each with a waiting `subscribe` receiver,
//! polling a synced file every 2 s, 400 polls each, under a counting allocator, once from a plain
//! file and once from a volume `testing::KubeletAtomicWriter` updates (`..data` swaps, a new key
//! between measurements, as in the simulation), and the live heap does not grow (a
//! 145-byte-per-poll leak would be 2 MB). So the growth is in the simulation's
//! own file-mode code; not located further.
//! The paused clock does not move while a blocking read runs — tokio inhibits its auto-advance
//! while a `spawn_blocking` task is alive on a current-thread runtime; the operator's writes
//! measured 0 s of simulated time, and `tests/fleet.rs` checks both that and a blocking task
//! against a pending timer. Chart: `docs/fleet/synced_file_rotation_10000.png`.
//!
//! **The HTTP clients' own retries multiply the load under throttling.** With
//! `--http-attempts 4` (the clients' default `max_attempts`, modelled; see below) at 10,000 pods:
//! revoked rotation 120,334 requests of which 100,334 throttled (3.5× the 28,488 without),
//! peak 10,186/s, p99 28 s (29 s without); cold start 67,307 requests, 57,307 throttled (3.8×),
//! peak 36,361/s, p99 27 s (29 s without). They buy a second or two of latency for almost four times the
//! load on an already throttled KMS, because the cache already retries with its own backoff. For
//! a large fleet on the shared gateway, set `max_attempts=1` (or 2) in the properties file; the
//! default stays 4, the official SDKs' 1 + 3, which is right for a single application.
//!
//! ## What the simulation exercises, and what not
//!
//! It runs the provider's whole cache engine: single-flight fetches, the scheduler and its
//! jitter, stale-if-error, the shared backoff of a failed fetch and the background retries
//! (capped exponential, full jitter), the rate-limited forced refresh. It does **not** run the
//! per-request HTTP retries inside the gateway and instance clients (`max_attempts`,
//! `retry_base_delay_ms`, `retry_max_delay_ms`, in `kms::backoff`): they sit behind the
//! [`KmsClient`](crate::KmsClient) trait that the simulation replaces, and running them means a
//! real TLS connection and signature per request — socket waits do not mix with a paused clock
//! (it jumps ahead while a socket is pending and fires the request timeouts), and 10,000 pods of
//! TLS handshakes and RSA signatures would cost far more CPU than the cache. `--http-attempts 4`
//! repeats each throttled or failed request up to 4 times with the clients' default backoff
//! (200 ms doubling, full jitter) to show how much they add; it models the policy, it is not the
//! clients' code.
//!
//! ## The defaults, and what the operator must set
//!
//! * **Steady state, scheduled rotation, outage: under 450/s at 10,000 pods with the defaults**,
//!   no failed read. A scheduled rotation sends each pod to KMS within `rotation_delay` plus
//!   `jitter` (5 + 5 min) after `NextRotationDate`, so about N / jitter requests per second. The default
//!   jitter was **raised from 60 s to 5 min** for this: 60 s gives about 170/s at 10,000 pods
//!   (N / jitter, estimated; measured with 60 s only at 1,000 pods: peak 25/s), over the quota
//!   from roughly 25,000 pods; 5 min gives the 50/s peak above,
//!   which by extrapolation (the peak grows with N / jitter) stays under 450/s to roughly 80,000
//!   pods. The cost is that pods switch up to 10 min after the rotation, while the old
//!   key is still valid (the official clients take 5–15 min). During an outage every pod keeps
//!   serving its key (stale-if-error); the pods whose refresh failed retry with backoff capped at
//!   `refresh_retry_max_ms` (5 min), so they come back within 5 min of recovery without a spike.
//! * **Revoked rotation: cannot stay under 450/s.** When the old key is deleted at the moment of
//!   rotation, every pod needs one request as soon as its calls fail — 10,000 pods reading every
//!   10 s notice within 10 s, 1,000/s before any retry. The provider keeps it converging:
//!   throttled pods retry with backoff, and the reports of a pod whose forced refresh was
//!   throttled are bounded by its forced-refresh tokens (5, one more per 10 min). Each pod fails
//!   well under one call on average (6,517 failed calls over 10,000 pods), p99 29 s to
//!   the new key. We tried holding `report_rejected` back while a throttled fetch's retry was
//!   pending: 14 % fewer throttled requests, but the last pods waited on exponentially growing
//!   backoff (p99 39.5 s instead of 29 s, max 74 s instead of 29 s) and 55 % more calls failed,
//!   so it was reverted. To stay under the quota the operator must not delete the old key at
//!   once: rotate, let the fleet switch (within `refresh_max_interval_ms` + jitter, 6 h 5 min by
//!   default, or lower it before an emergency rotation), then delete the old key; or point the
//!   fleet at a KMS instance (higher quota); or keep N ≤ 450 × the time over which pods notice.
//! * **Cold start of every pod at once: cannot stay under 450/s.** Every pod must fetch once, so
//!   the first second carries N requests whatever the tuning. The shared backoff keeps it bounded
//!   (2.5 requests per pod, every pod served within 30 s, reads before that get the throttling
//!   error, none after). The operator must spread restarts to at most ~450 pod starts per second
//!   (a rolling update's `maxSurge`/`maxUnavailable`), or use a KMS instance.
//! * **`refresh_retry_base_ms` stays 1 s.** A larger base cuts throttled requests but delays the
//!   last pods: cold start at 10,000 pods, 15,125 / 14,416 / 12,249 throttled requests and the
//!   last pod served after 30 / 40 / 55 s with 1 / 3 / 10 s (`--retry-base-ms`). None gets under
//!   the quota, and a single transient failure of a cold read is retried sooner with 1 s.
//!
//! # Benchmarks
//!
//! Criterion, release profile, on the shared 2-vCPU AMD EPYC build VM (other builds running, so
//! expect ±30 % between runs).
//!
//! ```sh
//! cargo bench --bench provider --features test-util -- --warm-up-time 1 --measurement-time 2
//! cargo bench --bench instance_fetch --features test-util -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! | what | measured |
//! | --- | --- |
//! | baseline: `RwLock<HashMap<String, Arc<_>>>` get + `Arc` clone, same run | 33.8–38.6 ns |
//! | `moka::sync::Cache::get`, same run | 151–154 ns (3.9–4.5×) |
//! | cached `get_access_key().await` | 12.1–19.3 ns (0.34–0.57× the same run's baseline; target ≤ 1.0×: met) |
//! | cached `cached_access_key()` (sync, by name) | 17.4–19.0 ns (0.46–0.53×) |
//! | per-secret handle `AccessKeyProvider::cached()` | 15.3–16.4 ns (0.40–0.46×; target ≤ 0.5×: met) |
//! | per-secret handle `with_cached(..)` (lends, no `Arc` clone) | 3.6–6.4 ns (0.11–0.17×) |
//! | plain loop, 1 thread, per read: baseline / `cached_access_key` / handle `cached()` | 35.6–41.0 / 10.5–15.0 / 6.2–7.2 ns |
//! | same loop, 2 threads on one key, per read on each thread: baseline / moka / `cached_access_key` / handle `cached()` / handle `with_cached` | 148–184 / 358–423 / 15.2–18.8 / 9.4–10.9 / 8.9–9.3 ns |
//! | aggregate reads on 2 threads vs 1 thread (same loop): baseline / `cached_access_key` / handle `cached()` | 0.39–0.55× / 1.11–1.83× / 1.29–1.42× (target ≥ 1×, and above the baseline's: met) |
//! | allocations per cached read | 0 |
//! | heap per cached RAM credential (1 000 secrets) | ≈ 1.5 KB |
//! | cold fetch through the cache, in-memory KMS client | 19–24 µs |
//! | cold fetch through the cache, LocalKms over TLS on loopback | 0.8–1.0 ms |
//! | one instance-API request: build + RSA-2048 sign + encode | 0.95–1.14 ms |
//! | decode a 432-byte RAM-credential answer | 1.1–1.4 µs |
//! | credentials endpoint, 1 000 cached calls from the official Python client | 10.6 ms |
//!
//! RSA-2048 signing dominates a KMS request and is paid once per refresh, never on a cache hit.
//!
//! The hit rows are three runs of `cargo bench --bench provider --features test-util --
//! --warm-up-time 1 --measurement-time 3 hit_` (2026-11-29, 19:56–19:59 UTC, load average
//! 1.0–1.6: no other process running); each ratio is against the same run's baseline. What a
//! hit does:
//!
//! * **Nothing shared is written** beyond the `Arc` clone, and that `Arc` is this thread's own.
//!   Each publication stamps the slot with a process-wide generation; each thread remembers the
//!   last four slots it read, with the (generation, snapshot) it saw and *its own copy* of the
//!   AccessKey. A handle hit is one atomic load of the slot's generation, a scan of that memo and
//!   the clone of a reference count no other thread touches; by name, the memo entry is found by
//!   (provider, name), so there is no `arc-swap` load of the name map and no hash. So cloning
//!   reads scale with threads (before the per-thread copy, `cached()` on two threads took 43 ns
//!   per read, 2.6× one thread's, on the one shared reference count). Keys handed out on
//!   separate reads are equal but not necessarily `Arc::ptr_eq` (a miss, a fetch and `subscribe()`
//!   hand out the shared `Arc`, hits this thread's copy): compare ids and versions. The cost: a copy of each key per thread
//!   that reads it again (about 200 bytes, made at the thread's first hit of a new version, so a
//!   thread cycling through more secrets than it remembers copies nothing; zeroized on drop),
//!   and up to four slots kept alive per thread until it reads other secrets or exits.
//! * **`Error` is two words.** Its variants box the stage errors (up to 152 bytes, with the
//!   endpoint, secret name and request id), so `Result<Arc<AccessKey>, Error>` comes back in
//!   registers. Before, moving the 152-byte result through the layers of a hit, and out of
//!   `get_access_key`'s future, was most of the hit's cost (perf: `memmove`), and
//!   `get_access_key().await` ran at 1.32× the baseline.
//!
//! **Lending (`with_cached`) versus cloning (`cached()`):** with the per-thread copy the clone
//! is uncontended, so lending saves only the clone and drop of that count: 9–12 ns a read under
//! criterion's one-thread loop, about 1 ns in the plain two-thread loop.
//! It is still the read for a signer that needs the key for one signature only (no `Arc`
//! outlives the call), but `cached()` or `get_access_key` are as good for everything else.
//!
//! ## Provider runs in detail
//!
//! Historical: the first version's runs, before the per-thread memo, the per-thread key copy and
//! the two-word `Error` (the table above is current). Criterion median \[95 % CI\] of two runs
//! (`--features test-util` for the LocalKms row):
//!
//! | benchmark | run 1 | run 2 |
//! | --- | --- | --- |
//! | baseline: `HashMap<String, Arc<AccessKey>>::get` + `Arc` clone, 1 thread | 30.1 ns \[28.0–32.5\] | 28.2 ns \[27.8–28.6\] |
//! | `cached_access_key` (the hot path), 1 thread | 44.2 ns \[41.8–46.6\] (1.47×) | 50.9 ns \[48.9–52.6\] (1.80×) |
//! | `get_access_key().await` (criterion `to_async`, includes executor overhead) | 53.8 ns \[50.6–57.4\] | 43.3 ns \[41.8–45.0\] |
//! | baseline, 2 threads on the same key (per op, per thread) | 40.9 ns \[39.5–42.5\] | 60.7 ns \[57.2–64.6\] |
//! | `cached_access_key`, 2 threads on the same key | 70.1 ns \[61.9–78.1\] (1.71×) | 78.9 ns \[74.3–84.0\] (1.30×) |
//! | allocations per cached hit (`stats_alloc`, 100 000 hits) | 0 | 0 |
//! | live heap per cached secret (1 000 RAM credentials) | 1 358 B | 1 430 B |
//! | cold fetch, in-memory `KmsClient` (parse, install, schedule, single-flight task) | 22.4 µs | 18.9 µs \[17.4–21.0\] |
//! | cold fetch, LocalKms over TLS (RSA-SHA256 signature, kept-alive TLS 1.3 on 127.0.0.1, protobuf) | — | 791 µs \[772–811\] |
//!
//! The bench counts allocations with `stats_alloc`'s instrumented system allocator (no `unsafe` of
//! our own anywhere; the library is `#![forbid(unsafe_code)]`). A third run, after the merge of all
//! modules: baseline 21.8 ns, `cached_access_key` 46.7 ns (2.1×), `get_access_key().await`
//! 39.9 ns (1.8×), 2 threads 42.2 ns vs 69.4 ns (1.6×), 0 allocations per hit, 1 358 B per cached
//! secret, cold fetch 24.2 µs in memory and 953 µs against LocalKms over TLS. The ratio moves
//! between 1.3× and 2.1× from run to run on this shared 2-vCPU VM.
//!
//! With the std SipHash map the hit measured 57 ns (2.6× the baseline); `foldhash` brought it under
//! 2×. The 2-thread cost was dominated by the shared `Arc` reference count that both the baseline
//! and we bumped (now each thread clones its own copy). Memory per secret: the `Secret` (with the secret data text) plus the parsed
//! `AccessKey` (id, zeroizing secret, version, stages), the slot (locks, token bucket, schedule),
//! the map entry and the name, measured as live heap bytes after fetching 1 000 secrets.
//!
//! ## Instance client runs in detail
//!
//! Load average 5–6 during these runs; criterion medians with 95 % CI, two runs each. The first
//! two rows came from an `instance_client` bench that called the request builder and decoder
//! directly; those are private now and the bench is gone, so they are historical figures, not
//! re-measured. `instance_fetch` now runs through the public API (`refresh_now`).
//!
//! | benchmark | run 1 | run 2 |
//! | --- | --- | --- |
//! | build + sign (RSA-2048) + encode one request (`instance/build_sign_encode`) | 0.95 ms \[0.92–0.98\] | 1.14 ms \[1.04–1.27\] |
//! | decode the recorded 432-byte RAM-credential response (`instance/decode_response_432B`) | 1.4 µs \[1.3–1.5\] | 1.1 µs \[1.0–1.2\] |
//! | full fetch against LocalKms on loopback, kept-alive TLS connection, LocalKms verifying the signature (`instance/fetch_localkms_loopback`) | 1.02 ms \[1.00–1.05\] | 1.87 ms \[1.59–2.19\] |
//!
//! RSA-2048 signing dominates the client-side cost (the network round trip on loopback adds little);
//! it is paid once per KMS request, never on a cache hit. Numbers on this loaded VM vary by up to 2x
//! between runs.
//!
//! # Why this one
//!
//! | | this crate | official Java / Go / Python providers |
//! | --- | --- | --- |
//! | cached read | lock-free, no allocation, ~40–50 ns ([benchmarks](#benchmarks)) | locks / interned-string synchronisation |
//! | KMS outage | last good key served until its hard expiry, background retries with capped exponential backoff and real jitter | reads block, then fail; next try a full TTL later |
//! | concurrent cold callers | exactly one KMS request (tested with 1 000 callers) | one per caller (Python serialises and still double-fetches) |
//! | dead key reported | one rate-limited forced refresh; caller learns whether a *different* key exists before retrying | replays even when no new key was obtained |
//! | TLS | always verified (instance CA only, host name checked); `ignoreSslCerts` honoured but logged | v1 clients disable checks on the shared gateway |
//! | configuration | one documented Java-`.properties` grammar, no hidden merging, unknown keys reported, errors name file/line/key | four parsers, silent merging of other files and the environment |
//! | secrets | zeroized on drop, redacted in `Debug`, never in errors or logs | secret text in exception messages and logs |
//! | ClientKeys | every PKCS#12 profile incl. the real Alibaba one (MAC iterations omitted, RC2-40); expiry warned 180/90/30/7 days ahead | not checked |
//! | testing | `LocalKms`: real HTTPS emulator of both KMS APIs, for your own tests too | — |
//!
//! # Test suites
//!
//! Everything: `cargo test --all-features` (what `.ci/run` runs, after `cargo fmt --check` and
//! `cargo clippy -D warnings`). Tests of internals are unit tests next to their code (filter
//! them by module path); `tests/` holds only tests that use the public API. Per area:
//!
//! ```sh
//! # configuration: parser proptests (18 tests, ~3 s debug), loading (33 tests, < 1 s)
//! cargo test --all-features --test config_load
//! cargo test --all-features --lib config
//!
//! # identity: ClientKey profiles, passwords, CA files, golden signatures (66 tests, ~4.3 s debug)
//! cargo test --all-features --lib identity
//!
//! # secrets synced by the cluster: against the kubelet's AtomicWriter, step for step
//! # (11 unit tests, ~2 s debug; 5 public-API tests, < 1 s)
//! cargo test --all-features --lib secret_files
//! cargo test --all-features --test secret_files
//!
//! # KMS instance API: golden vectors, unit tests, real TLS against LocalKms, keep-alive and size cap
//! cargo test --all-features --lib kms::instance
//!
//! # shared and instance gateway: golden vectors (RPC v1 and V3), end to end through LocalKms
//! cargo test --all-features --lib kms::gateway
//! cargo test --all-features --test instance_gateway
//!
//! # RRSA / OIDC: AssumeRoleWithOIDC vectors, LocalKms end to end, token re-read, STS outage,
//! # refused-session invalidation (OIDC, RAM role, ECS role), config and environment fallbacks
//! cargo test --all-features --lib oidc
//! cargo test --all-features --test oidc_rrsa
//!
//! # provider: engine under paused tokio time (29 tests, < 0.1 s), against LocalKms (11 tests, ~4.5 s)
//! cargo test --all-features --lib -- cache secret
//! cargo test --all-features --test provider
//!
//! # integrations: retry helper, adapters, credentials endpoint, credential-process (16 tests, ~3 s debug)
//! cargo test --all-features --test integrations_retry --test integrations_reqsign --test integrations_adapters --test integrations_endpoint --test integrations_credential_process
//! cargo test --all-features --lib integrations
//!
//! # restart cache: file format, key derivation, bad files and directories, proptests (14 tests,
//! # ~1.5 s debug); restarts against LocalKms with KMS down (6 tests, ~2.5 s debug)
//! cargo test --features test-util --lib cache::restart
//! cargo test --features test-util --test restart_cache
//!
//! # LocalKms itself (12 tests, ~3 s debug) and its unit tests (PKCS#12 profile, store, faults)
//! cargo test --features test-util --lib testing
//!
//! # fuzz corpus replay: every committed seed and regression input through its parser (< 2 s)
//! cargo test --features fuzzing --test fuzz_corpus
//! ```
//!
//! What they cover, in short:
//!
//! * `identity_signing`: for each of the three fixture profiles, `Bearer ` + base64 signature of each
//!   golden string-to-sign equals the official Python SDK's Authorization byte for byte (3 × 3); the
//!   gateway `SHA256withRSA` vector; the real Alibaba ClientKey's signature verifies against the
//!   public key taken from its certificate (and a flipped bit does not); RFC 2202 HMAC-SHA1 cases
//!   1–7; the three gateway AccessKey/STS HMAC-SHA1 vectors. Property tests: ClientKey JSON on
//!   arbitrary text/bytes, PKCS#12 on randomly mutated and truncated real PFX bytes, CA files on
//!   arbitrary bytes and mutated PEM: no panic, no secret in any error.
//! * `instance_api`: success (RAM credential and Generic secret), `SignatureNotMatch` (wrong
//!   private key), `Forbidden.NoPermission`, `Forbidden.ResourceNotFound`, `Unauthorized` (revoked
//!   access point), retries of `Rejected.Throttling` / `ServiceUnavailableTemporary` /
//!   `InternalFailure` / dropped connections / proxy 502 pages with a distinct date and signature per
//!   attempt, one request for non-retryable codes, a 200 ms request timeout, an untrusted server
//!   certificate, a certificate for another name, `ignoreSslCerts` against a self-signed server and an
//!   oversized answer.
//! * `gateway_api`: every credential type end to end; every error code above; retries of
//!   throttling / 503 / 500 / 502-HTML / dropped connections with a distinct nonce and signature per
//!   attempt and `max_attempts` exhaustion; RAM-role and ECS-role credentials cached, refreshed
//!   15 min before expiry (tokio clock advanced, no real waiting) and kept when a refresh fails;
//!   IMDSv2 use, IMDSv1 fallback and role discovery; TLS refused without `caFilePath` and for a wrong
//!   host name; missing region, malformed endpoint, missing CA file, empty secret, malformed and
//!   oversized answers.
//! * Provider unit tests (paused time): 1 000 cold callers → 1 fetch; refresh at
//!   `NextRotationDate + delay`, every `max_interval`, before `ExpireTimestamp`; stale-if-error with
//!   backoff until the hard expiry, then the error, then recovery; forced refresh outcomes and the
//!   token bucket; failover, remembering the good endpoint, no failover on non-retryable codes,
//!   hedging after `hedge_delay`; no torn id/secret under 50 concurrent rotations; subscribers;
//!   jitter spread; `close()` and drop stop the scheduler; independent providers and prefetch
//!   (fail-fast or not); generic/binary secrets; the official schedule vectors
//!   (`tests/fixtures/gateway/refresh_strategy_vectors.json`) for both the official function and ours.
//! * Provider integration tests (LocalKms, real time with sub-second intervals because LocalKms
//!   checks request dates against the wall clock): properties file end to end (RAM, generic, binary,
//!   not-found code, ClientKey expiry in health); rotation picked up after `NextRotationDate`; each
//!   rejection code then rate limiting; stale-if-error through an outage (`set_fault_always` 503)
//!   until `max_staleness`, then recovery; failover and hedging between two LocalKms instances;
//!   exactly one request for 1 000 concurrent callers on a cold and on an expired secret; jitter
//!   spread over 8 providers; `close()` stops background requests; the blocking facade; a proptest
//!   that concurrent readers never see a torn id/secret while the key is rotated under them; shared
//!   gateway alone and instance → gateway failover.
//!
//! Test vectors under `tests/fixtures/` are copies of the project's captured vectors (official SDKs
//! with pinned clocks); `tests/fixtures/real-alibaba-clientkey/` is a real Alibaba-issued test
//! ClientKey from `confidential-containers/guest-components` (Apache-2.0), see its README.
//!
//! ## Fuzzing
//!
//! Every parser of untrusted bytes has a cargo-fuzz target in `fuzz/` (see `fuzz/README.md`):
//! the properties text, whole configuration files (with the JSON entries of
//! `cache_client_dkms_config_info` / `cache_client_region_id`), ClientKey JSON and PKCS#12, CA
//! files, KMS instance protobuf answers, gateway JSON answers and errors, STS and ECS metadata
//! answers, `SecretData`, and raw HTTP bytes sent to the local credentials endpoint. The property
//! is that no input panics or hangs. The targets reach the private parsers through doc-hidden
//! entry points (`testing::fuzzing`, cargo feature `fuzzing`, not an API). The seed corpus
//! (`fuzz/seeds/`, made from `tests/fixtures/` by `fuzz/make_seeds.py`) and minimized crashers
//! (`fuzz/regressions/`) are replayed on stable by `cargo test` (above), so CI catches
//! regressions; the campaign itself needs cargo-fuzz:
//!
//! ```sh
//! cargo install cargo-fuzz
//! # every target for 180 s, one after the other, starting from the seeds; prints executions and time
//! fuzz/campaign.sh
//! # one target by hand (RUSTC_BOOTSTRAP=1 lets stable accept cargo-fuzz's nightly flags)
//! RUSTC_BOOTSTRAP=1 cargo fuzz run config fuzz/corpus/config fuzz/seeds/config -- -max_total_time=180
//! # a crash: minimize it, keep it as a regression, fix the parser (panic -> typed error)
//! RUSTC_BOOTSTRAP=1 cargo fuzz tmin config fuzz/artifacts/config/crash-<hash>
//! ```
//!
//! Minimized crashers go to `fuzz/regressions/<target>/` and the parser is fixed to return a typed
//! error. The last campaign (180 s per target, 21.3 million executions in all) found no crash,
//! panic, hang or out-of-memory; `fuzz/README.md` has the executions and time per target.
