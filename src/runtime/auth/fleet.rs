//! The fleet's access token in Redis (feature `redis`): one process at a
//! time refreshes it under a lock, the others read it; stored sealed.
//!
//! A [`TokenSource`](super::source::TokenSource) around the LWA exchange:
//! the token cache asks it, as it asks LWA alone without Redis. Commands
//! go through the seller's [`Shared`] handle, which falls back (and the
//! source with it, to LWA in this process) while Redis is away.

use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha2::Sha256;
use tokio::time::Instant;

use super::AccessToken;
use crate::shared::{Lua, Shared, TOKEN_SEAL_INFO, lock, spawn};

/// How often a process waiting for another one's token refresh looks for it.
const TOKEN_POLL: Duration = Duration::from_millis(25);

/// How long the token refresh lock lives without its holder renewing it:
/// a holder that dies (killed mid-refresh) costs the fleet this, not the
/// LWA timeout (issue 20). The holder renews it every third of this.
const LOCK_TTL: Duration = Duration::from_secs(1);

/// Deletes KEYS[1] only if it still holds ARGV[1]: a lock released by its
/// holder, or the token that Amazon refused (a newer one is kept).
const COMPARE_AND_DELETE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Extends KEYS[1]'s life to ARGV[2] ms if it still holds ARGV[1]: the
/// refresh lock, renewed by its holder only.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// The token and its remaining time to live, in one round trip.
const READ_TOKEN: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false then return {} end
return {v, redis.call('PTTL', KEYS[1])}
";
static COMPARE_AND_DELETE_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(COMPARE_AND_DELETE));
static RENEW_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(RENEW));
static READ_TOKEN_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(READ_TOKEN));

/// One seller's token in Redis, sealed with the application's key. Cheap
/// to clone.
#[derive(Clone)]
pub(crate) struct FleetToken {
    shared: Shared,
    sealer: Arc<Sealer>,
    /// The last token this process saw refused: never taken from Redis
    /// again, even before the compare-and-delete has landed.
    refused: Arc<Mutex<Option<AccessToken>>>,
}

impl std::fmt::Debug for FleetToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetToken")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// What [`FleetToken::token`] gives back.
pub(crate) enum SharedToken<R> {
    /// Another process's token from Redis, fresh for this long.
    Read(AccessToken, Duration),
    /// This process's own fetch.
    Fetched(R),
}

impl FleetToken {
    /// The seller's token over `shared`, sealed under a key derived from
    /// `client_secret`.
    pub(crate) fn new(shared: Shared, client_secret: &str) -> Self {
        Self {
            shared,
            sealer: Arc::new(Sealer::new(client_secret)),
            refused: Arc::default(),
        }
    }

    /// A token from Redis, or from `fetch` run by this process while it
    /// holds the fleet's refresh lock (others wait for it, at most
    /// `wait_limit`); `fetch` runs locally when Redis cannot be used.
    /// `shareable` says what of a fetched answer to store for the others
    /// (the token and how long it stays fresh).
    pub(crate) async fn token<F>(
        &self,
        lock_ttl: Duration,
        wait_limit: Duration,
        fetch: F,
        shareable: impl FnOnce(&F::Output) -> Option<(AccessToken, Duration)>,
    ) -> SharedToken<F::Output>
    where
        F: Future,
    {
        let start = Instant::now();
        let lock_id = uuid::Uuid::new_v4().to_string();
        let keys = self.shared.keys();
        loop {
            match self.read_token().await {
                None => break,
                Some(Some(found)) => return SharedToken::Read(found.0, found.1),
                Some(None) => {}
            }
            let take = redis::cmd("SET")
                .arg(&keys.token_lock)
                .arg(&lock_id)
                .arg("NX")
                .arg("PX")
                .arg(lock_ttl.min(LOCK_TTL).as_millis().max(1) as u64)
                .to_owned();
            match self.shared.query::<Option<String>>(&take).await {
                None => break,
                Some(Some(_)) => {
                    // Checked again under the lock: the previous holder may
                    // have stored a token and released the lock between our
                    // read and our SET (seen in CI as a second LWA request).
                    if let Some(Some(found)) = self.read_token().await {
                        self.release_lock(&lock_id).await;
                        return SharedToken::Read(found.0, found.1);
                    }
                    let fetched = self.holding_lock(&lock_id, lock_ttl, fetch).await;
                    if let Some((token, ttl)) = shareable(&fetched) {
                        self.store_token(&token, ttl).await;
                    }
                    self.release_lock(&lock_id).await;
                    return SharedToken::Fetched(fetched);
                }
                Some(None) => {
                    if start.elapsed() >= wait_limit {
                        tracing::warn!(
                            "another process has held the token refresh lock for {wait_limit:?}; \
                             refreshing here"
                        );
                        break;
                    }
                    tokio::time::sleep(TOKEN_POLL).await;
                }
            }
        }
        SharedToken::Fetched(fetch.await)
    }

    /// Runs `fetch` while renewing the refresh lock `lock_id` every third
    /// of its life, so the lock outlives a slow LWA but not its holder.
    async fn holding_lock<F: Future>(
        &self,
        lock_id: &str,
        lock_ttl: Duration,
        fetch: F,
    ) -> F::Output {
        let ttl = lock_ttl.min(LOCK_TTL);
        let every = (ttl / 3).max(Duration::from_millis(1));
        tokio::pin!(fetch);
        loop {
            tokio::select! {
                fetched = &mut fetch => return fetched,
                () = tokio::time::sleep(every) => {
                    let mut renew = RENEW_LUA.key(&self.shared.keys().token_lock);
                    renew.arg(lock_id).arg(ttl.as_millis().max(1) as u64);
                    let _: Option<i64> = self.shared.run(&renew).await;
                }
            }
        }
    }

    /// Amazon refused `token`: delete it from Redis if it is still the
    /// shared one, and never read it back here.
    pub(crate) fn invalidate_token(&self, token: &AccessToken) {
        *lock(&self.refused) = Some(token.clone());
        let this = self.clone();
        let token = token.clone();
        spawn(async move { this.delete_token(&token).await });
    }

    /// `Some(None)`: no token in Redis; `None`: Redis unusable.
    async fn read_token(&self) -> Option<Option<(AccessToken, Duration)>> {
        let key = &self.shared.keys().token;
        let found: Vec<redis::Value> = self.shared.run(&READ_TOKEN_LUA.key(key)).await?;
        let (sealed, ttl_ms) = match found.as_slice() {
            [redis::Value::BulkString(sealed), redis::Value::Int(ttl_ms)] => (sealed, *ttl_ms),
            _ => return Some(None),
        };
        // A value that does not open (an older plain-text token, another
        // application's, altered) or is no header value counts as no token:
        // one is fetched and stored over it. Its content is never logged.
        let opened = self
            .sealer
            .open(key, sealed)
            .and_then(AccessToken::from_shared);
        let Some(token) = opened else {
            tracing::debug!(
                "the access token stored in Redis does not open with this application's key \
                 (older format, another application's, or altered): fetching a new one"
            );
            return Some(None);
        };
        if ttl_ms <= 0 {
            return Some(None);
        }
        let refused = lock(&self.refused).clone();
        if refused.as_ref() == Some(&token) {
            self.delete_token(&token).await;
            return Some(None);
        }
        Some(Some((token, Duration::from_millis(ttl_ms as u64))))
    }

    async fn store_token(&self, token: &AccessToken, ttl: Duration) {
        if ttl < Duration::from_millis(1) {
            return;
        }
        let key = &self.shared.keys().token;
        let store = redis::cmd("SET")
            .arg(key)
            .arg(self.sealer.seal(key, token.expose()))
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .to_owned();
        let _: Option<()> = self.shared.query(&store).await;
    }

    async fn release_lock(&self, lock_id: &str) {
        let mut release = COMPARE_AND_DELETE_LUA.key(&self.shared.keys().token_lock);
        release.arg(lock_id);
        let _: Option<i64> = self.shared.run(&release).await;
    }

    async fn delete_token(&self, token: &AccessToken) {
        let key = &self.shared.keys().token;
        // Sealing is deterministic: the stored value of this token.
        let mut delete = COMPARE_AND_DELETE_LUA.key(key);
        delete.arg(self.sealer.seal(key, token.expose()));
        let _: Option<i64> = self.shared.run(&delete).await;
    }
}

/// Seals access tokens for Redis: XChaCha20-Poly1305 under a key derived
/// from the client secret, the Redis key name as associated data.
///
/// The nonce is derived from the key name and the token (HMAC-SHA256 under
/// a second derived key), so a token always seals to the same value: the
/// compare-and-delete of a refused token (`COMPARE_AND_DELETE`) compares
/// the stored value with the sealed token, without opening it in Lua. Two
/// equal values then reveal that they hold the same token, nothing more
/// (the construction is SIV's; every token is distinct anyway).
struct Sealer {
    aead: chacha20poly1305::XChaCha20Poly1305,
    nonce_key: [u8; 32],
}

/// Prefix of a sealed value: the format's version.
const SEALED_PREFIX: &str = "v1.";

impl Sealer {
    fn new(client_secret: &str) -> Self {
        use chacha20poly1305::KeyInit;
        let hkdf = hkdf::Hkdf::<Sha256>::new(None, client_secret.as_bytes());
        let mut okm = [0u8; 64];
        // 64 bytes is far below HKDF-SHA256's limit (255 x 32): never fails.
        let _ = hkdf.expand(TOKEN_SEAL_INFO.as_bytes(), &mut okm);
        let (key, nonce_key) = okm.split_at(32);
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(nonce_key);
        Self {
            aead: chacha20poly1305::XChaCha20Poly1305::new(key.into()),
            nonce_key: nonce,
        }
    }

    fn nonce(&self, key_name: &str, token: &str) -> chacha20poly1305::XNonce {
        use hkdf::hmac::{Hmac, Mac};
        // Any key length is valid for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.nonce_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(key_name.as_bytes());
        mac.update(&[0]);
        mac.update(token.as_bytes());
        let tag = mac.finalize().into_bytes();
        *chacha20poly1305::XNonce::from_slice(&tag[..24])
    }

    /// `v1.` and the base64 of nonce and ciphertext.
    fn seal(&self, key_name: &str, token: &str) -> String {
        use base64::Engine as _;
        use chacha20poly1305::aead::{Aead, Payload};
        let nonce = self.nonce(key_name, token);
        let payload = Payload {
            msg: token.as_bytes(),
            aad: key_name.as_bytes(),
        };
        // Encryption fails only past ChaCha20's 256 GiB message limit.
        let sealed = self.aead.encrypt(&nonce, payload).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        )
    }

    /// The token, if `sealed` was sealed by this application for `key_name`.
    fn open(&self, key_name: &str, sealed: &[u8]) -> Option<String> {
        use base64::Engine as _;
        use chacha20poly1305::aead::{Aead, Payload};
        let encoded = sealed.strip_prefix(SEALED_PREFIX.as_bytes())?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let payload = Payload {
            msg: ciphertext,
            aad: key_name.as_bytes(),
        };
        let plain = self
            .aead
            .decrypt(chacha20poly1305::XNonce::from_slice(nonce), payload)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_only_under_its_key_name_and_client_secret() {
        let sealer = Sealer::new("amzn1.oa2-cs.v1.secret");
        let sealed = sealer.seal("p:{a}:token:x", "Atza|bearer-token");
        assert!(sealed.starts_with("v1."), "{sealed}");
        assert!(!sealed.contains("bearer"), "{sealed}");
        // Deterministic: the compare-and-delete finds the stored value.
        assert_eq!(sealed, sealer.seal("p:{a}:token:x", "Atza|bearer-token"));
        assert_ne!(sealed, sealer.seal("p:{b}:token:x", "Atza|bearer-token"));
        assert_eq!(
            sealer.open("p:{a}:token:x", sealed.as_bytes()).as_deref(),
            Some("Atza|bearer-token")
        );
        assert_eq!(sealer.open("p:{b}:token:x", sealed.as_bytes()), None);
        let other = Sealer::new("amzn1.oa2-cs.v1.other");
        assert_eq!(other.open("p:{a}:token:x", sealed.as_bytes()), None);
        for bad in ["Atza|bearer-token", "v1.", "v1.!!", "v1.AAAA", ""] {
            assert_eq!(sealer.open("p:{a}:token:x", bad.as_bytes()), None, "{bad}");
        }
        let mut altered = sealed.into_bytes();
        altered[10] ^= 1;
        assert_eq!(sealer.open("p:{a}:token:x", &altered), None);
    }
}
