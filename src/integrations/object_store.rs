//! object_store (the store behind DataFusion, Polars, delta-rs, ...): [`AccessKeyProvider`]
//! implements `object_store::CredentialProvider<Credential = object_store::aws::AwsCredential>`,
//! so `AmazonS3` can sign SigV4 requests to OSS's S3-compatible endpoint with the managed key.
//!
//! `AmazonS3` asks its credential provider on every request and keeps nothing, so no synthetic
//! expiry is involved: each request is signed with whatever key the shared cache holds at that
//! moment (a cache hit, answered from memory). The key is converted to an `AwsCredential` once per
//! key, not per request.
//!
//! object_store has no hook to report a rejected credential; see the impl's documentation (and
//! the manual) for reporting a 403 `InvalidAccessKeyId` with `with_access_key`/`report_rejected`.

use std::sync::Arc;

use ::object_store::aws::AwsCredential;
use ::object_store::CredentialProvider;
use arc_swap::ArcSwapOption;
use zeroize::Zeroize;

use super::credentials::{AccessKeyProvider, CredentialError, ProvideAccessKey};
use crate::kms::BoxFuture;
use crate::secret::AccessKey;

/// The last key handed to object_store and its `AwsCredential`, shared by the clones of one
/// handle: a cache hit costs an `Arc` clone instead of two `String` copies of the key.
#[derive(Default)]
pub(super) struct AwsCredentialMemo(ArcSwapOption<Converted>);

struct Converted {
    key: Arc<AccessKey>,
    credential: Arc<AwsCredential>,
}

impl Drop for Converted {
    // `AwsCredential` is object_store's type and does not zeroize. When the memo is the last
    // holder (no request in flight still signing with it), wipe the secret copy ourselves.
    fn drop(&mut self) {
        wipe_if_unique(&mut self.credential);
    }
}

/// Zeroizes the secret if nobody else holds `credential`; whether it did.
fn wipe_if_unique(credential: &mut Arc<AwsCredential>) -> bool {
    match Arc::get_mut(credential) {
        Some(credential) => {
            credential.secret_key.zeroize();
            true
        }
        None => false,
    }
}

impl AwsCredentialMemo {
    fn credential_for(&self, key: &Arc<AccessKey>) -> Arc<AwsCredential> {
        if let Some(memo) = &*self.0.load() {
            // Not `Arc::ptr_eq`: each thread reads its own copy of the key.
            if memo.key.same_key(key) {
                return Arc::clone(&memo.credential);
            }
        }
        let credential = Arc::new(AwsCredential {
            key_id: key.access_key_id().to_owned(),
            secret_key: key.access_key_secret().to_owned(),
            token: None,
        });
        // Two racing requests at a key change both convert; the last store wins, both are right.
        self.0.store(Some(Arc::new(Converted {
            key: Arc::clone(key),
            credential: Arc::clone(&credential),
        })));
        credential
    }
}

/// `AmazonS3Builder::with_credentials(Arc::new(provider.access_key_provider(name)))`: every
/// request is signed with the current managed key, read from the shared cache (no I/O on a hit).
///
/// A key the service rejects (HTTP 403, S3 code `InvalidAccessKeyId`) is not seen by this
/// provider: object_store has no invalidation hook. Run the call through
/// [`with_access_key`](crate::with_access_key) with a function that reads the S3 error code; it
/// reports the code with [`report_rejected`](crate::ProvideAccessKey::report_rejected) and replays
/// the call once if a different key is current by then:
///
/// ```no_run
/// # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use aliyun_managed_credentials::with_access_key;
/// use object_store::{aws::AmazonS3Builder, path::Path, ObjectStoreExt, PutPayload};
///
/// /// The S3 error code (`<Code>` of the XML body) of a 401/403 answer.
/// fn s3_error_code(e: &object_store::Error) -> Option<String> {
///     let (object_store::Error::PermissionDenied { source, .. }
///     | object_store::Error::Unauthenticated { source, .. }) = e
///     else {
///         return None;
///     };
///     let text = source.to_string();
///     let start = text.find("<Code>")? + "<Code>".len();
///     let len = text[start..].find("</Code>")?;
///     Some(text[start..start + len].to_owned())
/// }
///
/// let creds = provider.access_key_provider("acs/ram/user/app");
/// let store = AmazonS3Builder::new()
///     .with_endpoint("https://my-bucket.s3.oss-cn-hangzhou.aliyuncs.com")
///     .with_virtual_hosted_style_request(true)
///     .with_region("cn-hangzhou")
///     .with_bucket_name("my-bucket")
///     .with_credentials(Arc::new(creds.clone()))
///     .build()?;
/// let path = Path::from("dir/a.txt");
/// let payload = PutPayload::from_static(b"hello");
/// // The store reads the key from the same cache the closure's key comes from.
/// with_access_key(&creds, s3_error_code, |_key| store.put(&path, payload.clone())).await?;
/// # Ok(()) }
/// ```
impl CredentialProvider for AccessKeyProvider {
    type Credential = AwsCredential;

    // The trait is declared with `#[async_trait]`; this is its expansion, written out so the
    // crate needs no proc-macro dependency for one method.
    fn get_credential<'life0, 'async_trait>(
        &'life0 self,
    ) -> BoxFuture<'async_trait, ::object_store::Result<Arc<AwsCredential>>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            // Ready at once on a cache hit (no I/O; no allocation but a thread's first copy of
            // a new key version); a fetch only when nothing
            // usable is cached (first call, or a key past its expiry).
            let key = self
                .access_key()
                .await
                .map_err(|source| ::object_store::Error::Generic {
                    store: "aliyun-managed-credentials",
                    source: Box::new(CredentialError {
                        secret_name: Arc::from(self.secret_name()),
                        source,
                    }),
                })?;
            Ok(self.aws_memo().credential_for(&key))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::credentials::tests::key;

    #[test]
    fn one_conversion_per_key() {
        let memo = AwsCredentialMemo::default();
        let a = Arc::new(key("A", None, None));
        let first = memo.credential_for(&a);
        assert_eq!(first.key_id, "A");
        assert_eq!(first.secret_key, "s-A");
        assert!(first.token.is_none());
        assert!(Arc::ptr_eq(&first, &memo.credential_for(&a)), "same Arc");
        // The same key in a new snapshot (a refresh that found no rotation) converts nothing.
        let a_again = Arc::new(key("A", None, None));
        assert!(Arc::ptr_eq(&first, &memo.credential_for(&a_again)));
        drop(first);

        let b = Arc::new(key("B", None, None));
        let second = memo.credential_for(&b);
        assert_eq!(second.key_id, "B");
        assert_eq!(second.secret_key, "s-B");
        assert!(Arc::ptr_eq(&second, &memo.credential_for(&b)));
    }

    #[test]
    fn the_secret_copy_is_wiped_only_when_no_request_holds_it() {
        let mut credential = Arc::new(AwsCredential {
            key_id: "A".into(),
            secret_key: "s-A".into(),
            token: None,
        });
        let in_flight = Arc::clone(&credential);
        assert!(!wipe_if_unique(&mut credential));
        assert_eq!(
            in_flight.secret_key, "s-A",
            "a signing request keeps its copy"
        );
        drop(in_flight);
        assert!(wipe_if_unique(&mut credential));
        assert!(credential.secret_key.is_empty());
    }
}
