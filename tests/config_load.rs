//! Loading `managed_credentials_providers.properties` into `Config`: both official forms, every
//! key, every error, the builder, and the example file at the repository root.

mod log_capture;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented environment variable naming the properties file.
const CONFIG_FILE_ENV: &str = "ALIYUN_MANAGED_CREDENTIALS_FILE";

use aliyun_managed_credentials::config::{
    ClientKeySource, Config, ConfigBuilder, ConfigError, Endpoint, GatewayEndpointConfig,
    HttpConfig, InstanceEndpointConfig, KmsIdentity, PasswordSource, RefreshConfig, RetryConfig,
    SecretString,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_properties_str(text, "/base", "test.properties")
}

fn err(text: &str) -> (ConfigError, String) {
    let e = load(text).expect_err("configuration should be rejected");
    let msg = e.to_string();
    (e, msg)
}

fn ep(host: &str, port: u16) -> Endpoint {
    Endpoint {
        host: host.into(),
        port,
    }
}

fn env(name: &str) -> PasswordSource {
    PasswordSource::EnvVar(name.into())
}

fn file(path: &str) -> PasswordSource {
    PasswordSource::File(path.into())
}

const GW: &str = "cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"}]\n";

// ---------------------------------------------------------------- the two official forms

#[test]
fn on_premises_form() {
    let dir = fixtures().join("onprem");
    let path = dir.join("managed_credentials_providers.properties");
    let config = Config::from_properties_file(&path).unwrap();
    assert_eq!(config.source.as_deref(), Some(path.as_path()));
    assert_eq!(
        config.identity,
        Some(KmsIdentity::ClientKey {
            key: ClientKeySource::File(dir.join("keys/clientKey_KAAP.test.json")),
            password: vec![
                file("/secure/clientKey_KAAP.test_Password.txt"),
                env("MY_CLIENT_KEY_PASSWORD"),
                env("client_key_password"),
            ],
        })
    );
    assert!(config.instances.is_empty());
    assert_eq!(
        config.gateways,
        vec![
            GatewayEndpointConfig {
                region_id: "cn-hangzhou".into(),
                endpoint: ep("kms.cn-hangzhou.aliyuncs.com", 443),
                vpc: false,
                ca_file: None,
                connect_to: None,
                signature: None,
            },
            GatewayEndpointConfig {
                region_id: "cn-shanghai".into(),
                endpoint: ep("kms-vpc.cn-shanghai.aliyuncs.com", 443),
                vpc: true,
                ca_file: None,
                connect_to: None,
                signature: None,
            },
            GatewayEndpointConfig {
                region_id: "cn-beijing".into(),
                endpoint: ep("kms.cn-beijing.example.com", 8443),
                vpc: false, // the string "false" means false (unlike the Python client)
                ca_file: Some(dir.join("ca/gw.pem")),
                connect_to: Some("127.0.0.1:9443".parse().unwrap()),
                signature: None,
            },
        ]
    );
    assert_eq!(
        config.secret_names,
        vec!["acs/ram/user/app1", "acs/ram/user/app2"]
    );
    assert_eq!(config.version_stage, "ACSCurrent");
}

#[test]
fn in_cloud_form() {
    let dir = fixtures().join("incloud");
    let config =
        Config::from_properties_file(dir.join("managed_credentials_providers.properties")).unwrap();
    assert_eq!(config.identity, None);
    assert!(config.gateways.is_empty());
    let top = [env("TOP_LEVEL_PW"), env("client_key_password")];
    let i = &config.instances;
    assert_eq!(i.len(), 3);

    assert_eq!(i[0].region_id, "cn-hangzhou");
    assert_eq!(
        i[0].endpoint,
        ep("kst-hzz1.cryptoservice.kms.aliyuncs.com", 443)
    );
    assert_eq!(
        i[0].client_key,
        ClientKeySource::File(dir.join("keys/ck1.json"))
    );
    let mut expected = vec![PasswordSource::File(dir.join("pw/ck1.txt"))];
    expected.extend(top.clone());
    assert_eq!(i[0].password, expected);
    assert_eq!(i[0].ca_file, Some(dir.join("ca/PrivateKmsCA_kst-hzz1.pem")));
    assert!(!i[0].ignore_ssl_certs);
    assert_eq!(i[0].connect_to, None);

    // No clientKeyFile: falls back to the top-level client_key_private_key_path.
    assert_eq!(
        i[1].client_key,
        ClientKeySource::File(dir.join("shared/clientKey_default.json"))
    );
    assert_eq!(i[1].endpoint.port, 8443);
    let mut expected = vec![
        env("CK2_PASSWORD"),
        PasswordSource::File(dir.join("pw/from_name.txt")),
    ];
    expected.extend(top.clone());
    assert_eq!(i[1].password, expected);
    assert!(i[1].ignore_ssl_certs, "the string \"true\" is accepted");
    assert_eq!(i[1].ca_file, None);
    assert_eq!(
        i[1].connect_to,
        Some("127.0.0.1:18443".parse::<SocketAddr>().unwrap())
    );

    // Inline ClientKey content given as a JSON object.
    match &i[2].client_key {
        ClientKeySource::Inline(s) => {
            let v: serde_json::Value = serde_json::from_str(s.expose()).unwrap();
            assert_eq!(v["KeyId"], "KAAP.inline");
            assert_eq!(v["PrivateKeyData"], "cHJpdmF0ZQ==");
        }
        other => panic!("expected inline content, got {other:?}"),
    }
    assert_eq!(i[2].ca_file, Some(PathBuf::from("/etc/kms/ca3.pem")));
    assert_eq!(i[2].password, top.to_vec());
    assert_eq!(config.secret_names, vec!["acs/ram/user/app1"]);
}

#[test]
fn client_key_content_as_string() {
    // In .properties a backslash escapes the next character, so JSON string escapes are doubled.
    let c = load(
        r#"cache_client_dkms_config_info=[{"regionId":"r","endpoint":"kst-1.cryptoservice.kms.aliyuncs.com","clientKeyContent":"{\\\"KeyId\\\":\\\"K\\\"}","ignoreSslCerts":true}]"#,
    )
    .unwrap();
    assert_eq!(
        c.instances[0].client_key,
        ClientKeySource::Inline(SecretString::from("{\"KeyId\":\"K\"}"))
    );
}

// ---------------------------------------------------------------- credentials types

#[test]
fn every_credentials_type() {
    let c = load(&format!("credentials_type=ak\ncredentials_access_key_id=LTAI1\ncredentials_access_secret=s3cr=t#1\n{GW}")).unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::AccessKey {
            access_key_id: "LTAI1".into(),
            access_key_secret: "s3cr=t#1".into()
        })
    );

    let c = load(&format!("credentials_type=token\ncredentials_access_token_id=T1\ncredentials_access_token=tok\n{GW}")).unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::AccessKey {
            access_key_id: "T1".into(),
            access_key_secret: "tok".into()
        })
    );

    let c = load(&format!("credentials_type=sts_token\ncredentials_access_key_id=STS.1\ncredentials_access_secret=s\ncredentials_security_token=tok\n{GW}")).unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::StsToken {
            access_key_id: "STS.1".into(),
            access_key_secret: "s".into(),
            security_token: "tok".into()
        })
    );

    for ty in ["sts", "ram_role", "RAM_ROLE"] {
        let c = load(&format!(
            "credentials_type={ty}\ncredentials_access_key_id=LTAI1\ncredentials_access_secret=s\n\
             credentials_role_arn=acs:ram::123:role/app\ncredentials_role_session_name=sess\n\
             credentials_policy={{\"Version\":\"1\"}}\ncredentials_duration_seconds=3600\n\
             credentials_sts_endpoint=sts-vpc.cn-hangzhou.aliyuncs.com\n{GW}"
        ))
        .unwrap();
        assert_eq!(
            c.identity,
            Some(KmsIdentity::RamRoleArn {
                access_key_id: "LTAI1".into(),
                access_key_secret: "s".into(),
                role_arn: "acs:ram::123:role/app".into(),
                role_session_name: "sess".into(),
                policy: Some("{\"Version\":\"1\"}".into()),
                duration: Some(Duration::from_secs(3600)),
                sts_endpoint: Some(ep("sts-vpc.cn-hangzhou.aliyuncs.com", 443)),
            }),
            "{ty}"
        );
    }

    let c = load(&format!("credentials_type=ecs_ram_role\ncredentials_role_name=EcsRole\ncredentials_ecs_metadata_endpoint=http://127.0.0.1:8080\n{GW}")).unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::EcsRamRole {
            role_name: Some("EcsRole".into()),
            metadata_endpoint: Some(ep("127.0.0.1", 8080)),
        })
    );
    let c = load(&format!("credentials_type=ecs_ram_role\n{GW}")).unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::EcsRamRole {
            role_name: None,
            metadata_endpoint: None
        })
    );

    let c = load(&format!(
        "credentials_type=client_key\nclient_key_private_key_path=ck.json\n{GW}"
    ))
    .unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::ClientKey {
            key: ClientKeySource::File("/base/ck.json".into()),
            password: vec![env("client_key_password")],
        })
    );
}

// ---------------------------------------------------------------- our keys

#[test]
fn extra_keys_and_mcp_keys() {
    let c = load(&format!(
        "credentials_type=ecs_ram_role\n{GW}version_stage=ACSPrevious\nconnect_timeout_ms=1500\nrequest_timeout_ms=2500\n\
         max_response_bytes=4096\nmax_attempts=2\nretry_base_delay_ms=10\nretry_max_delay_ms=20\n\
         rotation_interval=3600000\ndelay_interval=1000\nrefresh_expiry_buffer_ms=30000\nrefresh_jitter_ms=0\n\
         max_staleness_ms=60000\nrefresh_retry_base_ms=100\nrefresh_retry_max_ms=200\n\
         rejected_key_error_codes= A , B.C ,,\nforced_refresh_burst=2\nforced_refresh_period_ms=5000\n\
         prefetch_fail_fast=TRUE\nhedge_delay_ms=750\nmonitor_period_milliseconds=3600000\nmonitor_customer_milliseconds=x\n"
    ))
    .unwrap();
    assert_eq!(c.version_stage, "ACSPrevious");
    assert_eq!(c.http.connect_timeout, Duration::from_millis(1500));
    assert_eq!(c.http.request_timeout, Duration::from_millis(2500));
    assert_eq!(c.http.max_response_bytes, 4096);
    assert_eq!(c.http.retry.max_attempts, 2);
    assert_eq!(c.http.retry.base_delay, Duration::from_millis(10));
    assert_eq!(c.http.retry.max_delay, Duration::from_millis(20));
    let r = &c.refresh;
    assert_eq!(r.max_interval, Duration::from_secs(3600));
    assert_eq!(r.rotation_delay, Duration::from_secs(1));
    assert_eq!(r.expiry_buffer, Duration::from_secs(30));
    assert_eq!(r.jitter, Duration::ZERO);
    assert_eq!(r.max_staleness, Some(Duration::from_secs(60)));
    assert_eq!(r.retry_base, Duration::from_millis(100));
    assert_eq!(r.retry_max, Duration::from_millis(200));
    assert_eq!(r.rejected_key_codes, vec!["A", "B.C"]);
    assert_eq!(r.forced_refresh_burst, 2);
    assert_eq!(r.forced_refresh_period, Duration::from_secs(5));
    assert!(r.prefetch_fail_fast);
    assert_eq!(r.hedge_delay, Duration::from_millis(750));
}

#[test]
fn defaults_when_keys_absent() {
    let c = load(&format!("credentials_type=ecs_ram_role\n{GW}")).unwrap();
    assert_eq!(c.refresh, RefreshConfig::default());
    assert_eq!(c.http, Default::default());
    assert_eq!(c.version_stage, "ACSCurrent");
    assert!(c.secret_names.is_empty());
}

#[test]
fn our_refresh_keys_win_over_mcp_keys() {
    let (c, logs) = log_capture::capture_logs(|| {
        load(&format!("credentials_type=ecs_ram_role\n{GW}rotation_interval=1000\nrefresh_max_interval_ms=2000\n")).unwrap()
    });
    assert_eq!(c.refresh.max_interval, Duration::from_secs(2));
    assert!(logs.contains("`refresh_max_interval_ms` is used"), "{logs}");
}

// ---------------------------------------------------------------- warnings

#[test]
fn unknown_keys_warn_with_suggestion() {
    let (c, logs) = log_capture::capture_logs(|| {
        load(&format!(
            "credentials_type=ecs_ram_role\n{GW}secret_name=acs/x\ntotally_unrelated_key=1\ncredentials_access_secret=hidden-secret\n"
        ))
        .unwrap()
    });
    assert!(c.secret_names.is_empty());
    assert!(
        logs.contains("test.properties, line 3: unknown key `secret_name` is ignored (did you mean `secret_names`?)"),
        "{logs}"
    );
    assert!(
        logs.contains("unknown key `totally_unrelated_key` is ignored\n")
            || logs.contains("unknown key `totally_unrelated_key` is ignored "),
        "{logs}"
    );
    assert!(
        logs.contains(
            "`credentials_access_secret` is ignored because credentials_type is `ecs_ram_role`"
        ),
        "{logs}"
    );
    assert!(!logs.contains("hidden-secret"), "{logs}");
}

#[test]
fn unknown_json_fields_warn_with_suggestion() {
    let (_, logs) = log_capture::capture_logs(|| {
        load("credentials_type=ecs_ram_role\ncache_client_region_id=[{\"regionId\":\"cn-hangzhou\",\"VPC\":true}]\n").unwrap()
    });
    assert!(
        logs.contains("entry 1: unknown field `VPC` is ignored (did you mean `vpc`?)"),
        "{logs}"
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn error_missing_file_names_path() {
    let path = fixtures().join("does-not-exist.properties");
    let e = Config::from_properties_file(&path).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("does-not-exist.properties (given in code; does not exist)"),
        "{msg}"
    );
    assert!(msg.contains(CONFIG_FILE_ENV), "{msg}");
}

#[test]
fn error_unreadable_file() {
    // A directory cannot be read as a file.
    let e = Config::from_properties_file(fixtures()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e:?}");
    assert!(
        e.to_string().contains("cannot read configuration file"),
        "{e}"
    );
}

#[test]
fn default_location_precedence_and_search_list() {
    // The only test in this binary that touches the variable.
    let onprem = fixtures().join("onprem/managed_credentials_providers.properties");
    let incloud = fixtures().join("incloud/managed_credentials_providers.properties");
    std::env::set_var(CONFIG_FILE_ENV, &onprem);
    let c = Config::from_default_location().unwrap();
    assert_eq!(c.source.as_deref(), Some(onprem.as_path()));
    // An explicit path beats the variable.
    let c = Config::from_properties_file(&incloud).unwrap();
    assert_eq!(c.source.as_deref(), Some(incloud.as_path()));

    std::env::set_var(CONFIG_FILE_ENV, fixtures().join("missing.properties"));
    let msg = Config::from_default_location().unwrap_err().to_string();
    assert!(msg.contains("missing.properties (from environment variable ALIYUN_MANAGED_CREDENTIALS_FILE; does not exist)"), "{msg}");

    std::env::remove_var(CONFIG_FILE_ENV);
    let e = Config::from_default_location().unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::NotFound { .. }), "{msg}");
    assert!(
        msg.contains("environment variable ALIYUN_MANAGED_CREDENTIALS_FILE (not set)"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "managed_credentials_providers.properties (working directory; does not exist)"
        ),
        "{msg}"
    );
}

#[test]
fn error_malformed_unicode_escape() {
    let (e, msg) = err("credentials_type=ak\n\ncredentials_access_secret=Qz7\\u12xy\n");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert!(msg.starts_with("test.properties: line 3, in the value of key `credentials_access_secret`: malformed \\uXXXX escape"), "{msg}");
    assert!(!msg.contains("Qz7"), "{msg}");
}

#[test]
fn error_not_utf8() {
    let e = Config::from_properties_file(fixtures().join("not_utf8.properties")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert!(
        msg.contains("not_utf8.properties: line 3: the file is not valid UTF-8"),
        "{msg}"
    );
}

#[test]
fn error_bad_json_syntax() {
    let (e, msg) = err(
        "credentials_type=ecs_ram_role\ncache_client_region_id=[{\"regionId\":\"cn-hangzhou\",}]\n",
    );
    assert!(matches!(e, ConfigError::InvalidJson { .. }), "{e:?}");
    assert!(
        msg.starts_with("test.properties, line 2, key `cache_client_region_id`: not valid JSON ("),
        "{msg}"
    );
    assert!(msg.contains("column"), "{msg}");
}

#[test]
fn error_json_field_of_wrong_type_names_entry_and_field() {
    let (e, msg) = err("credentials_type=ecs_ram_role\ncache_client_region_id=[{\"regionId\":\"a\"},{\"regionId\":\"b\",\"endpoint\":42}]\n");
    assert!(matches!(e, ConfigError::InvalidJson { .. }), "{e:?}");
    assert_eq!(
        msg,
        "test.properties, line 2, key `cache_client_region_id`, entry 2, field `endpoint`: expected a string, found a number"
    );
}

#[test]
fn error_json_not_a_list_or_entry_not_an_object() {
    let (_, msg) = err("cache_client_dkms_config_info={\"regionId\":\"a\"}\n");
    assert!(
        msg.contains("key `cache_client_dkms_config_info`: expected a JSON list"),
        "{msg}"
    );
    assert!(msg.contains("wrap the entries in [ ]"), "{msg}");
    let (_, msg) = err("cache_client_dkms_config_info=[\"a\"]\n");
    assert!(
        msg.contains("entry 1: expected a JSON object {...}, found a string"),
        "{msg}"
    );
}

#[test]
fn error_client_key_content_wrong_type_hides_value() {
    let (_, msg) = err("cache_client_dkms_config_info=[{\"regionId\":\"a\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"clientKeyContent\":123456789,\"ignoreSslCerts\":true}]\n");
    assert!(msg.contains("entry 1, field `clientKeyContent`: expected the ClientKey JSON as a string or an object, found a number"), "{msg}");
    assert!(!msg.contains("123456789"), "{msg}");
}

#[test]
fn error_missing_json_fields() {
    let (e, msg) = err("cache_client_region_id=[{\"vpc\":true}]\ncredentials_type=ecs_ram_role\n");
    assert!(matches!(e, ConfigError::MissingField { .. }), "{e:?}");
    assert!(msg.contains("line 1, key `cache_client_region_id`, entry 1, field `regionId`: required field is missing or empty"), "{msg}");

    let (_, msg) = err("cache_client_dkms_config_info=[{\"regionId\":\"a\",\"clientKeyFile\":\"k.json\",\"caFilePath\":\"ca.pem\"}]\n");
    assert!(msg.contains("entry 1, field `endpoint`: required"), "{msg}");

    let (_, msg) = err("cache_client_dkms_config_info=[{\"regionId\":\"a\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"caFilePath\":\"ca.pem\"}]\n");
    assert!(msg.contains("field `clientKeyFile`: required"), "{msg}");
    assert!(msg.contains("client_key_private_key_path"), "{msg}");

    let (_, msg) = err("\ncache_client_dkms_config_info=[{\"regionId\":\"a\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"clientKeyFile\":\"k.json\"}]\n");
    assert!(
        msg.contains(
            "line 2, key `cache_client_dkms_config_info`, entry 1, field `caFilePath`: required"
        ),
        "{msg}"
    );
    assert!(msg.contains("ignoreSslCerts"), "{msg}");
}

#[test]
fn error_conflicting_client_key_sources() {
    let (e, msg) = err("cache_client_dkms_config_info=[{\"regionId\":\"a\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"clientKeyFile\":\"k.json\",\"clientKeyContent\":\"{}\",\"ignoreSslCerts\":true}]\n");
    assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e:?}");
    assert!(msg.contains("keep only one"), "{msg}");
}

#[test]
fn error_password_file_path_name_refers_to_missing_key() {
    let (_, msg) = err("cache_client_dkms_config_info=[{\"regionId\":\"a\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"clientKeyFile\":\"k.json\",\"passwordFromFilePathName\":\"pw_path\",\"ignoreSslCerts\":true}]\n");
    assert!(msg.contains("field `passwordFromFilePathName`: names the key `pw_path`, which is not set in this file"), "{msg}");
}

#[test]
fn error_unknown_credentials_type_lists_allowed_values() {
    let (e, msg) = err(&format!("{GW}credentials_type=oidc\n"));
    assert!(
        matches!(e, ConfigError::UnknownCredentialsType { .. }),
        "{e:?}"
    );
    assert_eq!(
        msg,
        "test.properties, line 2, key `credentials_type`: unknown credentials_type `oidc`; allowed values: client_key, ak, token, sts, ram_role, ecs_ram_role, oidc_role_arn, sts_token"
    );
}

#[test]
fn error_required_key_missing_for_type() {
    let cases = [
        ("ak", "credentials_access_key_id=LTAI1\n", "credentials_access_secret"),
        ("ak", "credentials_access_secret=s\n", "credentials_access_key_id"),
        ("token", "credentials_access_token_id=T\n", "credentials_access_token"),
        ("sts_token", "credentials_access_key_id=a\ncredentials_access_secret=s\n", "credentials_security_token"),
        ("ram_role", "credentials_access_key_id=a\ncredentials_access_secret=s\ncredentials_role_session_name=x\n", "credentials_role_arn"),
        ("sts", "credentials_access_key_id=a\ncredentials_access_secret=s\ncredentials_role_arn=x\n", "credentials_role_session_name"),
        ("client_key", "client_key_password_from_env_variable=X\n", "client_key_private_key_path"),
    ];
    for (ty, extra, missing) in cases {
        let (e, msg) = err(&format!("{GW}credentials_type={ty}\n{extra}"));
        assert!(matches!(e, ConfigError::MissingKey { .. }), "{e:?}");
        assert_eq!(
            msg,
            format!("test.properties, line 2, key `credentials_type`: `{missing}` is required when credentials_type is `{ty}`; add a line `{missing}=...`")
        );
    }
    // An empty value counts as missing.
    let (_, msg) = err(&format!(
        "{GW}credentials_type=ak\ncredentials_access_key_id=a\ncredentials_access_secret=   \n"
    ));
    assert!(
        msg.contains("`credentials_access_secret` is required"),
        "{msg}"
    );
}

#[test]
fn error_no_endpoint() {
    let (e, msg) =
        err("credentials_type=ak\ncredentials_access_key_id=a\ncredentials_access_secret=s\n");
    assert!(matches!(e, ConfigError::NoEndpoint { .. }), "{e:?}");
    assert!(
        msg.starts_with("test.properties: no KMS endpoint configured"),
        "{msg}"
    );
    let (e, _) = err("# empty\n");
    assert!(matches!(e, ConfigError::NoEndpoint { .. }), "{e:?}");
}

/// `credentials_type=oidc_role_arn` with every official v2 key (the properties text of the
/// captured `v2_oidc_instance_gateway_fixed` run, shared/vectors/dedicated-gateway, plus
/// `credentials_duration_seconds`, which crashes the official Python client, and our
/// `credentials_sts_vpc`). Every value is given, so the process environment does not matter.
#[test]
fn oidc_role_arn_with_every_key() {
    let text = "credentials_type=oidc_role_arn\n\
        credentials_role_arn=acs:ram::1234567890123456:role/kms-reader-rrsa\n\
        credentials_oidc_provider_arn=acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0123456789abcdef0123456789abcdef\n\
        credentials_oidc_token_file_path=rrsa/token\n\
        credentials_role_session_name=app-prod-rrsa\n\
        credentials_policy={\"Version\":\"1\"}\n\
        credentials_duration_seconds=3600\n\
        credentials_sts_region_id=cn-hangzhou\n\
        credentials_sts_vpc=true\n\
        credentials_sts_endpoint=sts-vpc.cn-hangzhou.aliyuncs.com\n";
    let c = load(&format!("{text}{GW}")).unwrap();
    assert_eq!(
        c.identity,
        Some(KmsIdentity::OidcRoleArn {
            role_arn: Some("acs:ram::1234567890123456:role/kms-reader-rrsa".into()),
            oidc_provider_arn: Some("acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0123456789abcdef0123456789abcdef".into()),
            oidc_token_file: Some(PathBuf::from("/base/rrsa/token")),
            role_session_name: Some("app-prod-rrsa".into()),
            policy: Some("{\"Version\":\"1\"}".into()),
            duration: Some(Duration::from_secs(3600)),
            sts_region_id: Some("cn-hangzhou".into()),
            sts_vpc: Some(true),
            sts_endpoint: Some(ep("sts-vpc.cn-hangzhou.aliyuncs.com", 443)),
        })
    );
    // The builder takes the same identity and yields the same configuration.
    let built = ConfigBuilder::new()
        .with_identity(c.identity.clone().unwrap())
        .add_gateway_region("cn-hangzhou")
        .build()
        .unwrap();
    assert_eq!(built.identity, c.identity);

    let (e, msg) = err(&format!("{}{GW}", text.replace("=3600", "=600")));
    assert!(matches!(e, ConfigError::InvalidNumber { .. }), "{e:?}");
    assert!(
        msg.contains("credentials_duration_seconds") && msg.contains("900"),
        "{msg}"
    );
    let (e, msg) = err(&format!("{}{GW}", text.replace("=3600", "=1h")));
    assert!(matches!(e, ConfigError::InvalidNumber { .. }), "{e:?}");
    assert!(msg.contains("line 7"), "{msg}");
    let (e, msg) = err(&format!(
        "{}{GW}",
        text.replace("sts_vpc=true", "sts_vpc=yes")
    ));
    assert!(matches!(e, ConfigError::InvalidBool { .. }), "{e:?}");
    assert!(msg.contains("credentials_sts_vpc"), "{msg}");
}

#[test]
fn error_gateway_without_caller_credential() {
    let (e, msg) = err(GW);
    assert!(matches!(e, ConfigError::MissingIdentity { .. }), "{e:?}");
    assert!(msg.contains("no credentials_type is set"), "{msg}");
}

#[test]
fn error_bad_numbers() {
    for (line, expected) in [
        (
            "connect_timeout_ms=5s",
            "`5s` is not valid: expected a whole number of milliseconds",
        ),
        (
            "max_attempts=-1",
            "`-1` is not valid: expected a whole number of attempts",
        ),
        (
            "credentials_duration_seconds=1h",
            "`1h` is not valid: expected a whole number of seconds",
        ),
        (
            "max_attempts=0",
            "`0` is not valid: expected a whole number of at least 1",
        ),
        (
            "request_timeout_ms=0",
            "`0` is not valid: expected a number of milliseconds greater than 0",
        ),
    ] {
        let text = format!("credentials_type=sts\ncredentials_access_key_id=a\ncredentials_access_secret=s\ncredentials_role_arn=r\ncredentials_role_session_name=n\n{GW}{line}\n");
        let (e, msg) = err(&text);
        assert!(matches!(e, ConfigError::InvalidNumber { .. }), "{e:?}");
        let key = line.split('=').next().unwrap();
        assert!(
            msg.starts_with(&format!("test.properties, line 7, key `{key}`: {expected}")),
            "{msg}"
        );
    }
    let (e, msg) = err(&format!(
        "credentials_type=ecs_ram_role\n{GW}retry_base_delay_ms=900\nretry_max_delay_ms=100\n"
    ));
    assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e:?}");
    assert!(msg.contains("line 3, key `retry_base_delay_ms`: retry_base_delay_ms (900 ms) is larger than retry_max_delay_ms (100 ms)"), "{msg}");
}

#[test]
fn error_bad_booleans() {
    let (e, msg) = err(&format!(
        "credentials_type=ecs_ram_role\n{GW}prefetch_fail_fast=yes\n"
    ));
    assert!(matches!(e, ConfigError::InvalidBool { .. }), "{e:?}");
    assert_eq!(msg, "test.properties, line 3, key `prefetch_fail_fast`: `yes` is not a boolean: write `true` or `false`");

    let (_, msg) = err("credentials_type=ecs_ram_role\ncache_client_region_id=[{\"regionId\":\"a\",\"vpc\":\"maybe\"}]\n");
    assert!(
        msg.contains("entry 1, field `vpc`: `maybe` is not a boolean"),
        "{msg}"
    );
    let (_, msg) = err("cache_client_dkms_config_info=[{\"regionId\":\"a\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"clientKeyFile\":\"k\",\"ignoreSslCerts\":1}]\n");
    assert!(
        msg.contains(
            "entry 1, field `ignoreSslCerts`: expected a boolean (true or false), found a number"
        ),
        "{msg}"
    );
}

#[test]
fn error_bad_endpoints() {
    for (endpoint, problem) in [
        (
            "http://kms.cn-hangzhou.aliyuncs.com",
            "plain http:// is not supported",
        ),
        ("kms.cn-hangzhou.aliyuncs.com/path", "a path is not allowed"),
        (
            "kms.cn-hangzhou.aliyuncs.com:99999",
            "port `99999` is not a number from 1 to 65535",
        ),
        ("kms.cn-hangzhou.aliyuncs.com:", "port `` is not a number"),
    ] {
        let (e, msg) = err(&format!("credentials_type=ecs_ram_role\ncache_client_region_id=[{{\"regionId\":\"a\"}},{{\"regionId\":\"b\",\"endpoint\":\"{endpoint}\"}}]\n"));
        assert!(matches!(e, ConfigError::InvalidEndpoint { .. }), "{e:?}");
        assert!(
            msg.starts_with(&format!("test.properties, line 2, key `cache_client_region_id`, entry 2, field `endpoint`: endpoint `{endpoint}` is invalid: {problem}")),
            "{msg}"
        );
    }
    let (_, msg) = err(&format!("credentials_type=sts\ncredentials_access_key_id=a\ncredentials_access_secret=s\ncredentials_role_arn=r\ncredentials_role_session_name=n\ncredentials_sts_endpoint=http://sts.aliyuncs.com\n{GW}"));
    assert!(
        msg.contains(
            "line 6, key `credentials_sts_endpoint`: endpoint `http://sts.aliyuncs.com` is invalid"
        ),
        "{msg}"
    );
    let (_, msg) = err("credentials_type=ecs_ram_role\ncache_client_region_id=[{\"regionId\":\"a\",\"connectTo\":\"localhost:1\"}]\n");
    assert!(
        msg.contains("entry 1, field `connectTo`: `localhost:1` is not valid: expected `ip:port`"),
        "{msg}"
    );
    let (_, msg) = err(
        "credentials_type=ecs_ram_role\ncache_client_region_id=[{\"regionId\":\"cn hangzhou\"}]\n",
    );
    assert!(
        msg.contains("field `regionId`: region id `cn hangzhou` may only contain"),
        "{msg}"
    );
}

#[test]
fn errors_and_debug_never_show_secrets() {
    let secrets = ["AkSecretValue", "TokenSecretValue", "StsTokenValue"];
    let base = "credentials_access_key_id=LTAIid\ncredentials_access_secret=AkSecretValue\ncredentials_access_token=TokenSecretValue\ncredentials_security_token=StsTokenValue\n";
    let bad_inputs = [
        format!("{base}credentials_type=nope\n{GW}"),
        format!("{base}credentials_type=token\n{GW}"),
        format!("{base}credentials_type=sts_token\n{GW}max_attempts=x\n"),
        format!("{base}credentials_type=sts_token\ncache_client_region_id=[{{]\n"),
        format!("{base}credentials_type=sts_token\n"),
    ];
    for text in &bad_inputs {
        let e = load(text).unwrap_err();
        for rendered in [e.to_string(), format!("{e:?}")] {
            for s in secrets {
                assert!(!rendered.contains(s), "{rendered}");
            }
        }
    }
    let ok = load(&format!("{base}credentials_type=sts_token\n{GW}")).unwrap();
    let dbg = format!("{ok:?}");
    for s in secrets {
        assert!(!dbg.contains(s), "{dbg}");
    }
    assert!(dbg.contains("LTAIid"));
}

// ---------------------------------------------------------------- builder

#[test]
fn builder_and_file_produce_equal_configs() {
    let text = String::from(
        "credentials_type=ak\ncredentials_access_key_id=LTAI1\ncredentials_access_secret=sec\n\
         cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"},{\"regionId\":\"cn-shanghai\",\"vpc\":true},{\"regionId\":\"cn-beijing\",\"endpoint\":\"gw.example.com:8443\"}]\n\
         cache_client_dkms_config_info=[{\"regionId\":\"cn-hangzhou\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"clientKeyFile\":\"ck.json\",\"passwordFromFilePath\":\"pw.txt\",\"caFilePath\":\"ca.pem\",\"connectTo\":\"127.0.0.1:4443\"}]\n\
         secret_names=a, b\nmax_attempts=3\nrequest_timeout_ms=7000\nrefresh_jitter_ms=0\nhedge_delay_ms=100\nprefetch_fail_fast=true\n"
    );
    let from_file = load(&text).unwrap();
    let instance = InstanceEndpointConfig::new(
        "cn-hangzhou",
        "kst-1.cryptoservice.kms.aliyuncs.com"
            .parse::<Endpoint>()
            .unwrap(),
        ClientKeySource::File("/base/ck.json".into()),
    );
    let mut instance = instance;
    instance.ca_file = Some("/base/ca.pem".into());
    instance.password = vec![file("/base/pw.txt"), env("client_key_password")];
    instance.connect_to = Some("127.0.0.1:4443".parse().unwrap());
    let http = HttpConfig {
        request_timeout: Duration::from_secs(7),
        retry: RetryConfig {
            max_attempts: 3,
            ..RetryConfig::default()
        },
        ..HttpConfig::default()
    };
    let refresh = RefreshConfig {
        jitter: Duration::ZERO,
        hedge_delay: Duration::from_millis(100),
        prefetch_fail_fast: true,
        ..RefreshConfig::default()
    };
    let mut beijing = GatewayEndpointConfig::for_region("cn-beijing");
    beijing.endpoint = "gw.example.com:8443".parse::<Endpoint>().unwrap();
    let from_builder = Config::builder()
        .with_access_key("LTAI1", "sec")
        .add_gateway_region("cn-hangzhou")
        .add_gateway(GatewayEndpointConfig::for_vpc_region("cn-shanghai"))
        .add_gateway(beijing)
        .add_instance_endpoint(instance)
        .with_secret_names(["a", "b"])
        .with_http(http)
        .with_refresh(refresh)
        .build()
        .unwrap();
    assert_eq!(from_file, from_builder);
}

#[test]
fn builder_overrides_file_values() {
    let path = fixtures().join("onprem/managed_credentials_providers.properties");
    let file = Config::from_properties_file(&path).unwrap();
    let mut without_gateways = file.clone();
    without_gateways.gateways.clear();
    let c = ConfigBuilder::from_config(without_gateways)
        .with_access_key("LTAI2", "s")
        .add_gateway_region("ap-southeast-1")
        .with_secret_names(["only"])
        .build()
        .unwrap();
    assert_eq!(c.source, file.source);
    assert!(matches!(c.identity, Some(KmsIdentity::AccessKey { .. })));
    assert_eq!(c.gateways.len(), 1);
    assert_eq!(
        c.gateways[0].endpoint,
        ep("kms.ap-southeast-1.aliyuncs.com", 443)
    );
    assert_eq!(c.secret_names, vec!["only"]);
    // Untouched values come from the file.
    assert_eq!(c.http, file.http);
}

#[test]
fn builder_applies_the_same_validation() {
    // A file must name an endpoint; a builder may not (custom KMS clients are added to the
    // provider builder; the provider reports `NoEndpoints` when there are none at all).
    let e = load("secret_names=a\n").unwrap_err();
    assert!(matches!(e, ConfigError::NoEndpoint { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("test.properties: no KMS endpoint"),
        "{e}"
    );
    let tuning_only = Config::builder().build().unwrap();
    assert!(tuning_only.instances.is_empty() && tuning_only.gateways.is_empty());

    let e = Config::builder()
        .add_gateway_region("cn-hangzhou")
        .build()
        .unwrap_err();
    assert!(matches!(e, ConfigError::MissingIdentity { .. }), "{e:?}");

    let e = "http://x".parse::<Endpoint>().unwrap_err();
    assert!(
        e.to_string().ends_with(
            "endpoint `http://x` is invalid: plain http:// is not supported, KMS and STS need HTTPS; write `host`, `host:port` or `https://host[:port]`"
        ),
        "{e}"
    );

    let e = Config::builder()
        .with_access_key("id", "")
        .add_gateway_region("cn-hangzhou")
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("`credentials_access_secret` is required"),
        "{e}"
    );

    let e = Config::builder()
        .add_instance_endpoint(InstanceEndpointConfig::new(
            "r",
            "kst-1.cryptoservice.kms.aliyuncs.com"
                .parse::<Endpoint>()
                .unwrap(),
            ClientKeySource::File("ck.json".into()),
        ))
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ConfigBuilder, key `cache_client_dkms_config_info`, entry 1, field `caFilePath`: required field is missing or empty; set \"caFilePath\" to the instance CA bundle downloaded from the KMS console (or, not recommended, \"ignoreSslCerts\": true)"
    );

    let http = HttpConfig {
        retry: RetryConfig {
            max_attempts: 0,
            ..RetryConfig::default()
        },
        ..HttpConfig::default()
    };
    let e = Config::builder()
        .with_identity(KmsIdentity::EcsRamRole {
            role_name: None,
            metadata_endpoint: None,
        })
        .add_gateway_region("cn-hangzhou")
        .with_http(http)
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ConfigBuilder, key `max_attempts`: `0` is not valid"),
        "{e}"
    );
}

// ---------------------------------------------------------------- example file

#[test]
fn example_file_at_repository_root_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("managed_credentials_providers.properties.example");
    let (c, logs) = log_capture::capture_logs(|| Config::from_properties_file(&path).unwrap());
    assert!(
        !logs.contains("WARN"),
        "the example must not produce warnings:\n{logs}"
    );
    assert!(matches!(c.identity, Some(KmsIdentity::ClientKey { .. })));
    assert_eq!(c.gateways.len(), 2);
    assert_eq!(c.instances.len(), 2);
    assert!(!c.secret_names.is_empty());
    assert!(c
        .instances
        .iter()
        .all(|i| i.ca_file.is_some() && !i.ignore_ssl_certs));
}

#[test]
fn durations_too_long_for_the_clock_are_rejected_naming_the_key() {
    // `Instant::now() + hedge_delay` used to panic inside a fetch with a huge value.
    let refresh = RefreshConfig {
        hedge_delay: Duration::MAX,
        ..RefreshConfig::default()
    };
    let e = Config::builder().with_refresh(refresh).build().unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ConfigBuilder, key `hedge_delay_ms`:"),
        "{e}"
    );
    let e = load(
        "credentials_type=ak\ncredentials_access_key_id=id\ncredentials_access_secret=s\n\
         cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"}]\nrefresh_max_interval_ms=18446744073709551615\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("refresh_max_interval_ms"), "{e}");
    assert!(e.to_string().contains("at most 315360000000 ms"), "{e}");
}

#[test]
fn restart_cache_dir_is_off_by_default_and_resolves_against_the_file() {
    let ak = format!(
        "credentials_type=ak\ncredentials_access_key_id=LTAI\ncredentials_access_secret=s\n{GW}"
    );
    assert_eq!(load(&ak).unwrap().restart_cache_dir, None);
    let c = load(&format!("{ak}restart_cache_dir=cache/restart\n")).unwrap();
    assert_eq!(
        c.restart_cache_dir,
        Some(Path::new("/base").join("cache/restart"))
    );
    let c = load(&format!("{ak}restart_cache_dir=/var/cache/app\n")).unwrap();
    assert_eq!(c.restart_cache_dir, Some(PathBuf::from("/var/cache/app")));
    // An empty value is absent, like every other key.
    assert_eq!(
        load(&format!("{ak}restart_cache_dir=\n"))
            .unwrap()
            .restart_cache_dir,
        None
    );
    assert_eq!(
        "restart_cache_dir"
            .parse::<aliyun_managed_credentials::config::ConfigKey>()
            .unwrap()
            .as_str(),
        "restart_cache_dir"
    );
    // A KMS instance ClientKey is a key source whatever credentials_type says.
    let instance = r#"cache_client_dkms_config_info=[{"regionId":"r","endpoint":"kst-1.cryptoservice.kms.aliyuncs.com","clientKeyFile":"k.json","ignoreSslCerts":true}]"#;
    let c = load(&format!("{instance}\nrestart_cache_dir=rc\n")).unwrap();
    assert_eq!(c.restart_cache_dir, Some(Path::new("/base").join("rc")));
}

#[test]
fn restart_cache_dir_needs_an_identity_with_a_long_lived_secret() {
    let sts = format!("credentials_type=sts_token\ncredentials_access_key_id=STS.1\ncredentials_access_secret=s\ncredentials_security_token=sts-token-value-x1\n{GW}restart_cache_dir=rc\n");
    let (e, msg) = err(&sts);
    assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e:?}");
    assert!(
        msg.starts_with("test.properties, line 6, key `restart_cache_dir`: cannot be used with credentials_type `sts_token`"),
        "{msg}"
    );
    assert!(msg.contains("remove restart_cache_dir"), "{msg}");
    assert!(!msg.contains("sts-token-value-x1"), "{msg}");
    let (_, msg) = err(&format!(
        "credentials_type=ecs_ram_role\n{GW}restart_cache_dir=rc\n"
    ));
    assert!(
        msg.contains("cannot be used with credentials_type `ecs_ram_role`"),
        "{msg}"
    );
    let (_, msg) = err(&format!(
        "credentials_type=oidc_role_arn\ncredentials_role_arn=acs:ram::1:role/r\ncredentials_oidc_provider_arn=acs:ram::1:oidc-provider/p\ncredentials_oidc_token_file_path=/var/run/token\n{GW}restart_cache_dir=rc\n"
    ));
    assert!(
        msg.contains("cannot be used with credentials_type `oidc_role_arn`"),
        "{msg}"
    );

    // The builder: same rule, named by the builder and the key.
    let e = ConfigBuilder::new()
        .with_identity(KmsIdentity::StsToken {
            access_key_id: "STS.1".into(),
            access_key_secret: SecretString::from("s"),
            security_token: SecretString::from("t"),
        })
        .add_gateway_region("cn-hangzhou")
        .with_restart_cache_dir("/var/cache/app")
        .build()
        .unwrap_err();
    assert!(
        e.to_string().starts_with("ConfigBuilder, key `restart_cache_dir`: cannot be used with credentials_type `sts_token`"),
        "{e}"
    );
    let e = ConfigBuilder::new()
        .with_restart_cache_dir("/var/cache/app")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("no KMS identity"), "{e}");
    let e = ConfigBuilder::new()
        .with_access_key("LTAI", "s")
        .add_gateway_region("cn-hangzhou")
        .with_restart_cache_dir("")
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("key `restart_cache_dir`: the directory is empty"),
        "{e}"
    );
    let c = ConfigBuilder::new()
        .with_access_key("LTAI", "s")
        .add_gateway_region("cn-hangzhou")
        .with_restart_cache_dir("relative/dir")
        .build()
        .unwrap();
    assert_eq!(c.restart_cache_dir, Some(PathBuf::from("relative/dir")));
}
