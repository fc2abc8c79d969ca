//! RRSA / OIDC (`credentials_type=oidc_role_arn`): the `ALIBABA_CLOUD_*` environment variables
//! that Alibaba Cloud Kubernetes (RRSA) injects into a pod, filled into
//! [`KmsIdentity::OidcRoleArn`] when the configuration is loaded or built, and the one step of the
//! official default credential chain this crate follows (no `credentials_type` + complete RRSA
//! environment → OIDC). See `shared/protocol/oidc-and-external.md` Part 1 for the official rules.
//!
//! Environment variables are read here and nowhere else, through an [`Env`] lookup so that tests
//! never touch the process environment.

use std::path::PathBuf;

use super::types::{Config, KmsIdentity};

/// `ALIBABA_CLOUD_ROLE_ARN`: the RAM role to assume.
pub(crate) const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
/// `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`: the OIDC identity provider registered in RAM.
pub(crate) const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
/// `ALIBABA_CLOUD_OIDC_TOKEN_FILE`: the projected service-account token.
pub(crate) const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
/// `ALIBABA_CLOUD_ROLE_SESSION_NAME`.
pub(crate) const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
/// `ALIBABA_CLOUD_STS_REGION`.
pub(crate) const ENV_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
/// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED` (`true`, case-insensitive, selects `sts-vpc.{region}`).
pub(crate) const ENV_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";
/// `ALIBABA_CLOUD_ACCESS_KEY_ID`: first in the official default chain; only warned about here.
const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";

/// Looks up an environment variable: `Some` only for a non-empty value.
pub(crate) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// The process environment (non-UTF-8 and empty values count as unset, with a warning for the
/// former).
pub(crate) fn process_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            tracing::warn!(
                variable = name,
                "environment variable {name} is not valid UTF-8 and is ignored"
            );
            None
        }
    }
}

/// Whether the three variables RRSA always injects are set.
fn rrsa_environment(env: &Env<'_>) -> bool {
    [ENV_ROLE_ARN, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE]
        .iter()
        .all(|name| env(name).is_some())
}

/// Completes the identity from the environment:
/// * no `credentials_type`, shared-gateway endpoints configured and the RRSA variables
///   (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`)
///   all set → `oidc_role_arn`, as the official default chain picks it;
/// * an `oidc_role_arn` identity: each field not given falls back to its variable.
///
/// Explicit values always win. Validation (required fields, VPC without region) comes after.
pub(crate) fn resolve_from_env(config: &mut Config, env: &Env<'_>) {
    if config.identity.is_none() && !config.gateways.is_empty() && rrsa_environment(env) {
        tracing::info!(
            origin = %config.origin_name(),
            "no credentials_type is set and the RRSA environment ({ENV_ROLE_ARN}, {ENV_OIDC_PROVIDER_ARN}, {ENV_OIDC_TOKEN_FILE}) is: using oidc_role_arn, like the official default credential chain"
        );
        if env(ENV_ACCESS_KEY_ID).is_some() {
            tracing::warn!(
                origin = %config.origin_name(),
                "{ENV_ACCESS_KEY_ID} is set too: the official default chain would use that AccessKey before RRSA; this crate never reads AccessKeys from the environment and uses RRSA. Set credentials_type to choose explicitly"
            );
        }
        config.identity = Some(KmsIdentity::OidcRoleArn {
            role_arn: None,
            oidc_provider_arn: None,
            oidc_token_file: None,
            role_session_name: None,
            policy: None,
            duration: None,
            sts_region_id: None,
            sts_vpc: None,
            sts_endpoint: None,
        });
    }
    let Some(KmsIdentity::OidcRoleArn {
        role_arn,
        oidc_provider_arn,
        oidc_token_file,
        role_session_name,
        sts_region_id,
        sts_vpc,
        ..
    }) = config.identity.as_mut()
    else {
        return;
    };
    fill(role_arn, env, ENV_ROLE_ARN);
    fill(oidc_provider_arn, env, ENV_OIDC_PROVIDER_ARN);
    if oidc_token_file.is_none() {
        *oidc_token_file = env(ENV_OIDC_TOKEN_FILE).map(PathBuf::from);
    }
    fill(role_session_name, env, ENV_ROLE_SESSION_NAME);
    fill(sts_region_id, env, ENV_STS_REGION);
    if sts_vpc.is_none() {
        *sts_vpc = env(ENV_VPC_ENDPOINT_ENABLED).map(|value| {
            let on = value.eq_ignore_ascii_case("true");
            if !on && !value.eq_ignore_ascii_case("false") {
                tracing::warn!(
                    variable = ENV_VPC_ENDPOINT_ENABLED,
                    "{ENV_VPC_ENDPOINT_ENABLED}={value:?} is neither `true` nor `false`: taken as false, as the official clients do"
                );
            }
            on
        });
    }
}

fn fill(field: &mut Option<String>, env: &Env<'_>, name: &str) {
    if field.as_deref().is_none_or(|v| v.trim().is_empty()) {
        *field = env(name);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::config::{ConfigBuilder, ConfigError, GatewayEndpointConfig};

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const RRSA: &[(&str, &str)] = &[
        (
            ENV_ROLE_ARN,
            "acs:ram::1234567890123456:role/kms-reader-rrsa",
        ),
        (
            ENV_OIDC_PROVIDER_ARN,
            "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0123456789abcdef0123456789abcdef",
        ),
        (
            ENV_OIDC_TOKEN_FILE,
            "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
        ),
    ];

    fn empty_oidc() -> KmsIdentity {
        oidc(None, None)
    }

    fn gateway_builder() -> ConfigBuilder {
        ConfigBuilder::new().add_gateway(GatewayEndpointConfig::for_region("cn-hangzhou"))
    }

    #[test]
    fn absent_type_with_rrsa_environment_selects_oidc_from_env() {
        let mut env = RRSA.to_vec();
        env.extend([
            (ENV_ROLE_SESSION_NAME, "app-prod-rrsa"),
            (ENV_STS_REGION, "cn-hangzhou"),
            (ENV_VPC_ENDPOINT_ENABLED, "TRUE"),
        ]);
        let config = gateway_builder().build_with_env(&env_of(&env)).unwrap();
        assert_eq!(
            config.identity,
            Some(KmsIdentity::OidcRoleArn {
                role_arn: Some(RRSA[0].1.into()),
                oidc_provider_arn: Some(RRSA[1].1.into()),
                oidc_token_file: Some(RRSA[2].1.into()),
                role_session_name: Some("app-prod-rrsa".into()),
                policy: None,
                duration: None,
                sts_region_id: Some("cn-hangzhou".into()),
                sts_vpc: Some(true),
                sts_endpoint: None,
            })
        );
    }

    #[test]
    fn the_file_loader_applies_the_same_rules() {
        use crate::config::properties::Properties;
        let load = |text: &str, env: &[(&str, &str)]| {
            let props = Properties::parse(text, "rrsa.properties").unwrap();
            crate::config::file::from_properties_with_env(
                &props,
                std::path::Path::new("/etc/app"),
                "rrsa.properties",
                None,
                &env_of(env),
            )
        };
        let gw = "cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"}]\n";
        // No credentials_type + RRSA environment: OIDC from the environment.
        let config = load(gw, RRSA).unwrap();
        let Some(KmsIdentity::OidcRoleArn { role_arn, .. }) = config.identity else {
            panic!("not OIDC: {:?}", config.identity)
        };
        assert_eq!(role_arn.as_deref(), Some(RRSA[0].1));
        // Explicit type: file keys win, the environment fills the rest; a relative token path
        // in the file is relative to the file's directory.
        let text = format!(
            "credentials_type=oidc_role_arn\ncredentials_oidc_token_file_path=token\ncredentials_sts_region_id=cn-beijing\n{gw}"
        );
        let mut env = RRSA.to_vec();
        env.push((ENV_STS_REGION, "cn-hangzhou"));
        let config = load(&text, &env).unwrap();
        let Some(KmsIdentity::OidcRoleArn {
            oidc_token_file,
            sts_region_id,
            oidc_provider_arn,
            ..
        }) = config.identity
        else {
            panic!("not OIDC")
        };
        assert_eq!(oidc_token_file, Some(PathBuf::from("/etc/app/token")));
        assert_eq!(sts_region_id.as_deref(), Some("cn-beijing"));
        assert_eq!(oidc_provider_arn.as_deref(), Some(RRSA[1].1));
        // Nothing in the environment: the error names the key, its line's file and the variable.
        let err = load(&text, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("rrsa.properties, line 1, key `credentials_type`")
                && err.contains("ALIBABA_CLOUD_ROLE_ARN"),
            "{err}"
        );
    }

    /// Scenario `v2_default_chain_rrsa_instance_gateway_fixed` (shared/vectors/dedicated-gateway,
    /// captured from the Python v2 client; the opt-in `official_python_v2_client_fetches_from_localkms`
    /// runs it against LocalKms): no `credentials_type`, only an instance-gateway entry, the RRSA
    /// variables with `ALIBABA_CLOUD_STS_REGION` and `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`.
    /// The Python client's default chain takes OIDC through `sts-vpc.cn-hangzhou.aliyuncs.com`
    /// with the session name from the environment; so do we.
    #[test]
    fn absent_type_with_rrsa_environment_and_an_instance_gateway_is_oidc_like_the_python_v2_client()
    {
        use crate::config::properties::Properties;
        let text = "cache_client_region_id=[{\"regionId\": \"cn-hangzhou\", \"endpoint\": \"kst-hzz65f1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com\", \"caFilePath\": \"kms_instance_ca.pem\"}]\n";
        let props = Properties::parse(text, "app.properties").unwrap();
        let mut env = RRSA.to_vec();
        env.extend([
            (ENV_ROLE_SESSION_NAME, "app-prod-rrsa"),
            (ENV_STS_REGION, "cn-hangzhou"),
            (ENV_VPC_ENDPOINT_ENABLED, "true"),
        ]);
        let config = crate::config::file::from_properties_with_env(
            &props,
            std::path::Path::new("/etc/app"),
            "app.properties",
            None,
            &env_of(&env),
        )
        .unwrap();
        assert_eq!(
            config.gateways[0].endpoint.host,
            "kst-hzz65f1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com"
        );
        let Some(KmsIdentity::OidcRoleArn {
            role_arn,
            role_session_name,
            sts_region_id,
            sts_vpc,
            sts_endpoint,
            ..
        }) = config.identity
        else {
            panic!("not OIDC: {:?}", config.identity)
        };
        assert_eq!(role_arn.as_deref(), Some(RRSA[0].1));
        assert_eq!(role_session_name.as_deref(), Some("app-prod-rrsa"));
        // Region + VPC, no explicit endpoint: sts-vpc.cn-hangzhou.aliyuncs.com (the host rule
        // is checked against the captures in kms/gateway/tests/oidc_vectors.rs).
        assert_eq!(sts_region_id.as_deref(), Some("cn-hangzhou"));
        assert_eq!(sts_vpc, Some(true));
        assert_eq!(sts_endpoint, None);
    }

    #[test]
    fn absent_type_without_complete_rrsa_environment_stays_an_error() {
        // Two of three variables: not RRSA (the official chain needs all three).
        let err = gateway_builder()
            .build_with_env(&env_of(&RRSA[..2]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::MissingIdentity { .. }), "{err}");
        assert!(err.to_string().contains("ALIBABA_CLOUD_ROLE_ARN"), "{err}");
        // Without shared-gateway endpoints the identity is not used: nothing is selected.
        let config = ConfigBuilder::new().build_with_env(&env_of(RRSA)).unwrap();
        assert_eq!(config.identity, None);
    }

    #[test]
    fn explicit_values_win_over_the_environment() {
        let identity = KmsIdentity::OidcRoleArn {
            role_arn: Some("acs:ram::1:role/explicit".into()),
            oidc_provider_arn: None,
            oidc_token_file: Some("/explicit/token".into()),
            role_session_name: None,
            policy: None,
            duration: Some(Duration::from_secs(900)),
            sts_region_id: Some("cn-shanghai".into()),
            sts_vpc: Some(false),
            sts_endpoint: None,
        };
        let mut env = RRSA.to_vec();
        env.extend([
            (ENV_STS_REGION, "cn-hangzhou"),
            (ENV_VPC_ENDPOINT_ENABLED, "true"),
        ]);
        let config = gateway_builder()
            .with_identity(identity)
            .build_with_env(&env_of(&env))
            .unwrap();
        let Some(KmsIdentity::OidcRoleArn {
            role_arn,
            oidc_provider_arn,
            oidc_token_file,
            sts_region_id,
            sts_vpc,
            ..
        }) = config.identity
        else {
            panic!("not OIDC")
        };
        assert_eq!(role_arn.as_deref(), Some("acs:ram::1:role/explicit"));
        assert_eq!(oidc_provider_arn.as_deref(), Some(RRSA[1].1));
        assert_eq!(oidc_token_file, Some(PathBuf::from("/explicit/token")));
        assert_eq!(sts_region_id.as_deref(), Some("cn-shanghai"));
        assert_eq!(sts_vpc, Some(false));
    }

    #[test]
    fn missing_required_values_name_key_and_variable() {
        for (present, missing_key, missing_env) in [
            (&RRSA[1..], "credentials_role_arn", ENV_ROLE_ARN),
            (
                &[RRSA[0], RRSA[2]][..],
                "credentials_oidc_provider_arn",
                ENV_OIDC_PROVIDER_ARN,
            ),
            (
                &RRSA[..2],
                "credentials_oidc_token_file_path",
                ENV_OIDC_TOKEN_FILE,
            ),
        ] {
            let err = gateway_builder()
                .with_identity(empty_oidc())
                .build_with_env(&env_of(present))
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(missing_key) && text.contains(missing_env),
                "{text}"
            );
        }
    }

    #[test]
    fn vpc_without_region_is_an_error_not_a_silent_public_endpoint() {
        let mut env = RRSA.to_vec();
        env.push((ENV_VPC_ENDPOINT_ENABLED, "true"));
        let err = gateway_builder().build_with_env(&env_of(&env)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err:?}");
        assert!(
            text.contains("credentials_sts_region_id") && text.contains(ENV_STS_REGION),
            "{text}"
        );
        // An explicit endpoint makes the region unnecessary.
        let endpoint = "sts-vpc.cn-hangzhou.aliyuncs.com".parse().unwrap();
        gateway_builder()
            .with_identity(oidc(None, Some(endpoint)))
            .build_with_env(&env_of(&env))
            .unwrap();
    }

    /// An `oidc_role_arn` identity with everything else left to the environment.
    fn oidc(
        duration: Option<Duration>,
        sts_endpoint: Option<crate::config::Endpoint>,
    ) -> KmsIdentity {
        KmsIdentity::OidcRoleArn {
            role_arn: None,
            oidc_provider_arn: None,
            oidc_token_file: None,
            role_session_name: None,
            policy: None,
            duration,
            sts_region_id: None,
            sts_vpc: None,
            sts_endpoint,
        }
    }

    #[test]
    fn duration_outside_the_sts_range_is_rejected() {
        for seconds in [899, 43201] {
            let identity = oidc(Some(Duration::from_secs(seconds)), None);
            let err = gateway_builder()
                .with_identity(identity)
                .build_with_env(&env_of(RRSA))
                .unwrap_err();
            assert!(matches!(err, ConfigError::InvalidNumber { .. }), "{err:?}");
            assert!(err.to_string().contains("900"), "{err}");
        }
    }

    #[test]
    fn a_vpc_value_other_than_true_is_false() {
        for (value, expected) in [("true", true), ("True", true), ("1", false), ("no", false)] {
            let mut env = RRSA.to_vec();
            env.extend([
                (ENV_VPC_ENDPOINT_ENABLED, value),
                (ENV_STS_REGION, "cn-hangzhou"),
            ]);
            let config = gateway_builder().build_with_env(&env_of(&env)).unwrap();
            let Some(KmsIdentity::OidcRoleArn { sts_vpc, .. }) = config.identity else {
                panic!("not OIDC")
            };
            assert_eq!(sts_vpc, Some(expected), "{value}");
        }
    }
}
