//! Handing the managed AccessKey to other code. The pieces every signer uses are at the crate
//! root ([`ProvideAccessKey`](crate::ProvideAccessKey), [`AccessKeyProvider`](crate::AccessKeyProvider),
//! [`with_access_key`](crate::with_access_key), [`RpcRequest`](crate::RpcRequest)); this module
//! holds what sits behind a cargo feature: adapters for third-party signing crates, each a thin
//! wrapper over the one shared cache, and the local credentials endpoint for other languages.

pub(crate) mod credentials;
pub(crate) mod retry;
pub(crate) mod rpc;

#[cfg(feature = "endpoint")]
#[cfg_attr(docsrs, doc(cfg(feature = "endpoint")))]
pub mod endpoint;
#[cfg(feature = "ossify")]
#[cfg_attr(docsrs, doc(cfg(feature = "ossify")))]
pub mod ossify;
#[cfg(feature = "reqsign")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqsign")))]
pub mod reqsign;
#[cfg(feature = "rusty-oss")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusty-oss")))]
pub mod rusty_oss;
