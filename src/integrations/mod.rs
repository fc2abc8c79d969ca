//! Handing the managed AccessKey to other code. The pieces every signer uses are at the crate
//! root ([`ProvideAccessKey`](crate::ProvideAccessKey), [`AccessKeyProvider`](crate::AccessKeyProvider),
//! [`with_access_key`](crate::with_access_key), [`RpcRequest`](crate::RpcRequest)); this module
//! holds what sits behind a cargo feature and needs a name of its own: the local credentials
//! endpoint for other languages and the `rusty-oss` push adapter. The other adapters are trait
//! impls on [`AccessKeyProvider`](crate::AccessKeyProvider) (listed on its page): `reqsign`
//! (`ProvideCredential`), `ossify` (`CredentialsProvider`), `object-store`
//! (`object_store::CredentialProvider` for `AmazonS3`) and `sls`
//! (`aliyun_log_rust_sdk::CredentialsProvider`, Alibaba's official Log Service SDK).

pub(crate) mod credentials;
pub(crate) mod retry;
pub(crate) mod rpc;

#[cfg(feature = "endpoint")]
#[cfg_attr(docsrs, doc(cfg(feature = "endpoint")))]
pub mod endpoint;
// Adapters that only implement a third-party trait for `AccessKeyProvider` are private
// modules: the impls show on `AccessKeyProvider`'s page, nothing else is public.
#[cfg(feature = "object-store")]
mod object_store;
#[cfg(feature = "ossify")]
mod ossify;
#[cfg(feature = "reqsign")]
mod reqsign;
#[cfg(feature = "rusty-oss")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusty-oss")))]
pub mod rusty_oss;
#[cfg(feature = "sls")]
mod sls;
