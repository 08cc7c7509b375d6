//! Building a [`Client`]: one builder for every setting, or the environment.

use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::Client;
use crate::auth::{LWA_TOKEN_URL, LwaCredentials, Secret, TokenProvider};
use crate::error::ConfigError;
use crate::rate_limit::{RateLimitSettings, RateLimiter};
use crate::region::Region;
use crate::retry::RetryPolicy;
use crate::runtime::hooks::{Inner, Runtime};
use crate::types::ShippingBusinessId;
use crate::validate::Validation;

/// Settings for a [`Client`]; start from [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    region: Option<Region>,
    sandbox: bool,
    endpoint: Option<String>,
    credentials: Option<LwaCredentials>,
    token_url: Option<String>,
    business_id: Option<ShippingBusinessId>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent_suffix: Option<String>,
    rate_limit: RateLimitSettings,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
    idempotency_keys: bool,
    validation: Validation,
    allow_insecure_http: bool,
    max_response_body: usize,
    call_deadline: Option<Duration>,
    #[cfg(feature = "redis")]
    redis: Option<crate::shared::RedisSettings>,
    /// An `App`'s one Redis connection, shared by its sellers' clients.
    #[cfg(feature = "redis")]
    redis_link: Option<std::sync::Arc<crate::shared::Link>>,
    tls_roots: Vec<Vec<u8>>,
    /// `http` is an `App`'s pool, made from these settings (so the
    /// attempt timeout is known, as for the client's own).
    pooled: bool,
    /// An `App`'s bound on attempts in flight over its pool.
    connections: Option<std::sync::Arc<crate::runtime::dial::Dials>>,
    /// An [`App`](crate::App)'s HTTP client for LWA and its bound, all
    /// sellers together: LWA is another host, with a pool of its own.
    lwa: Option<(reqwest::Client, std::sync::Arc<crate::runtime::dial::Dials>)>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            region: None,
            sandbox: false,
            endpoint: None,
            credentials: None,
            token_url: None,
            business_id: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent_suffix: None,
            rate_limit: RateLimitSettings::default(),
            retry: RetryPolicy::default(),
            http: None,
            idempotency_keys: true,
            validation: Validation::Enforce,
            allow_insecure_http: false,
            max_response_body: crate::decode::DEFAULT_RESPONSE_BODY_CAP,
            call_deadline: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            redis_link: None,
            tls_roots: Vec::new(),
            pooled: false,
            connections: None,
            lwa: None,
        }
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment; see
    /// [`ClientBuilder::from_env`] for the variables.
    pub fn from_env() -> Result<Client, ConfigError> {
        ClientBuilder::from_env()?.build()
    }

    /// The rate limiter this client and its clones share (its current plan
    /// per operation follows Amazon's `x-amzn-RateLimit-Limit`).
    pub fn rate_limiter(&self) -> &RateLimiter {
        crate::ClientInfo::inner(self).rate_limiter()
    }
}

impl ClientBuilder {
    /// The SP-API region whose host to call.
    pub fn region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// Use Amazon's sandbox host of the region.
    pub fn sandbox(mut self, sandbox: bool) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// An explicit base URL (a proxy, a test server); overrides the region's host.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Login with Amazon credentials. Without them no access token is sent
    /// (useful only against a local sandbox or mock).
    pub fn credentials(mut self, credentials: LwaCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The LWA token URL (default `https://api.amazon.com/auth/o2/token`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The shipping business sent on every request that does not set its
    /// own `x_amzn_shipping_business_id`.
    ///
    /// Without one, the client sends its region's business: `AmazonShipping_US`
    /// in North America, `AmazonShipping_JP` in the Far East, because Amazon
    /// answers a request without the header as `AmazonShipping_UK`, which for
    /// a US or Japanese seller gives plausible-looking wrong answers (issue
    /// 10). In Europe, which serves several businesses, and when only an
    /// [`endpoint`](Self::endpoint) says where, no header is sent, Amazon's
    /// default (`AmazonShipping_UK`) applies, and the client logs that once
    /// (`tracing` WARN).
    pub fn business_id(mut self, business: ShippingBusinessId) -> Self {
        self.business_id = Some(business);
        self
    }

    /// Time limit of one attempt, from sending to the whole body (default 30 s).
    /// It also bounds one LWA token refresh, which every waiting call shares
    /// ([`TokenProvider::with_timeout`]), even through a caller's own
    /// [`http_client`](Self::http_client). `Duration::MAX` means no limit
    /// (as does every duration setting).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time limit for establishing a connection (default 10 s;
    /// `Duration::MAX`: none).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Text appended to the user agent, e.g. `my-shop/2.1`.
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Client-side rate limiting (default: Amazon's usage plans).
    pub fn rate_limit(mut self, settings: RateLimitSettings) -> Self {
        self.rate_limit = settings;
        self
    }

    /// Retry bounds and backoff (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Send through this `reqwest::Client` (its own timeouts and proxy apply;
    /// [`timeout`](Self::timeout) and [`connect_timeout`](Self::connect_timeout) do not).
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`. The
    /// client this builder makes never follows a redirect (a 3xx is
    /// [`Error::Redirect`](crate::Error::Redirect) or
    /// [`AuthError::Redirect`](crate::auth::AuthError::Redirect)), but a
    /// `reqwest::Client` does not reveal its policy, and reqwest's default
    /// follows up to 10 redirects, resending the access token, the
    /// idempotency key and a purchase's body, or the LWA form with the
    /// client secret and refresh token, to wherever the `Location` points
    /// (reqwest strips only `Authorization`-style headers on a cross-host
    /// hop, not `x-amz-access-token`). A followed LWA redirect is detected
    /// afterwards (the answer came from another URL) and refused; an API one
    /// cannot be told apart from a normal answer.
    ///
    /// Compression: this crate turns on reqwest's `gzip` feature, and cargo
    /// builds one reqwest for the whole program, so a `reqwest::Client` asks
    /// for gzip (`Accept-Encoding: gzip`) and decodes it while streaming
    /// unless it was built with `.gzip(false)`; then it does not ask, and
    /// Amazon answers uncompressed. Both work, and
    /// [`max_response_body`](Self::max_response_body) counts the bytes the
    /// client hands over: decoded ones when it decodes. Only a client that
    /// sends `Accept-Encoding: gzip` itself (a default header) with gzip
    /// turned off gets bodies it cannot read: they fail as
    /// [`Error::Undecodable`](crate::Error::Undecodable), whose reason says
    /// the body is still gzip-encoded.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Also trust this root certificate (DER): a TLS-inspecting proxy's CA,
    /// or a test server's self-signed certificate. Added to the roots the
    /// `webpki-roots` feature selects (default: the operating system's).
    /// Not used with [`http_client`](Self::http_client).
    pub fn tls_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls_roots.push(der.into());
        self
    }

    /// Whether purchases without a caller-given `x-amzn-IdempotencyKey` get
    /// one (default true). Without a key a purchase that may have reached
    /// Amazon is never retried.
    pub fn idempotency_keys(mut self, enabled: bool) -> Self {
        self.idempotency_keys = enabled;
        self
    }

    /// What to do with a request that breaks the spec's constraints
    /// (default [`Validation::Enforce`]: refuse it, nothing is sent).
    /// [`Validation::Warn`] logs and sends, [`Validation::Off`] sends without
    /// checking: the escape hatch for a body Amazon accepts though its model
    /// forbids it.
    pub fn validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// Accept plain `http://` endpoints and token URLs on hosts other than
    /// loopback (default false). Over plain HTTP the client secret, refresh
    /// token and access tokens travel readable by anyone on the path, so
    /// only `127.0.0.0/8`, `::1` and `localhost` (a local sandbox, a test
    /// server) are allowed without this.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The largest API response body read, in bytes (default
    /// [`DEFAULT_RESPONSE_BODY_CAP`](crate::decode::DEFAULT_RESPONSE_BODY_CAP),
    /// 64 MiB; labels are the largest legitimate bodies). A `Content-Length`
    /// over it is refused before reading and a streamed body is cut once
    /// past it: [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge).
    /// A body costs at most about twice the cap in memory.
    ///
    /// The cap counts decompressed bytes. The client asks for gzip and
    /// decodes it while streaming, so a gzip bomb (a few MB on the wire
    /// expanding to gigabytes) is cut once its decoded bytes pass the cap;
    /// the `Content-Length` of a compressed answer (the size on the wire)
    /// is never taken for the decoded size, in either direction.
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// One bound on a whole call: the wait for an access token, the
    /// rate-limit wait, every attempt and every backoff together (default:
    /// the retry policy's `max_elapsed` plus [`timeout`](Self::timeout), 90 s
    /// with the defaults: a retry started just before `max_elapsed` may
    /// still run one full attempt). Past it the call ends with
    /// [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded); no
    /// retry starts that could not finish before it, judged by how long the
    /// last attempt took. `Duration::MAX` means no limit.
    pub fn call_deadline(mut self, deadline: Duration) -> Self {
        self.call_deadline = Some(deadline);
        self
    }

    /// Shares each seller's rate limits and access token with every process
    /// using the same Redis (feature `redis`): `rediss://host:6380` (TLS,
    /// with this client's provider and roots), `redis://` to loopback only
    /// unless [`RedisSettings::allow_insecure`](crate::shared::RedisSettings::allow_insecure),
    /// a password in the URL. See [`crate::shared`].
    #[cfg(feature = "redis")]
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        self.redis(crate::shared::RedisSettings::new(url))
    }

    /// Like [`redis_url`](Self::redis_url), with a key prefix or timeout.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, settings: crate::shared::RedisSettings) -> Self {
        self.redis = Some(settings);
        self
    }

    /// Reads the environment:
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `LWA_APP_ID`, `LWA_CLIENT_SECRET`, `SP_API_REFRESH_TOKEN` | credentials (all three required) |
    /// | `SP_API_REGION` | `na`, `eu` or `fe` (required unless the business id or `SP_API_ENDPOINT` says where) |
    /// | `SP_API_SANDBOX` | `true` selects Amazon's sandbox hosts |
    /// | `SP_API_ENDPOINT` | overrides the base URL |
    /// | `LWA_ENDPOINT` | overrides the token URL |
    /// | `AMAZON_SHIPPING_BUSINESS_ID` | default business, e.g. `AmazonShipping_UK`; unset: `AmazonShipping_US` in `na`, `AmazonShipping_JP` in `fe`, Amazon's default (`AmazonShipping_UK`, logged once) otherwise, see [`business_id`](Self::business_id) |
    /// | `SP_API_VALIDATION` | `enforce` (default), `warn` or `off`, see [`validation`](Self::validation) |
    /// | `SP_API_ALLOW_INSECURE_HTTP` | `true` allows plain-http endpoints on non-loopback hosts; see [`allow_insecure_http`](Self::allow_insecure_http) |
    /// | `SP_API_REDIS_URL` | share rate limits and the token through Redis (feature `redis`; set without it, a configuration error) |
    /// | `SP_API_REDIS_KEY_PREFIX` | prefix of the Redis keys (default `spapi-shipping`) |
    /// | `SP_API_REDIS_ALLOW_INSECURE` | `true` allows plain-text `redis://` to non-loopback hosts; see [`RedisSettings::allow_insecure`](crate::shared::RedisSettings::allow_insecure) (feature `redis`) |
    ///
    /// Every missing or malformed variable is named in one error
    /// ([`ConfigError::settings`]), and a business id outside `SP_API_REGION`
    /// names both variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// Every variable is checked before anything is refused, so one error
    /// names every missing or malformed variable
    /// ([`ConfigError::settings`] lists them): a first setup is fixed in one
    /// round rather than one variable at a time.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut problems = Problems::default();
        let mut required = |name: &str| {
            let value = get(name);
            if value.is_none() {
                problems.push(ConfigError::new(name, "not set"));
            }
            value.unwrap_or_default()
        };
        let credentials = LwaCredentials::new(
            required("LWA_APP_ID"),
            Secret::new(required("LWA_CLIENT_SECRET")),
            Secret::new(required("SP_API_REFRESH_TOKEN")),
        );
        let mut builder = Self::default().credentials(credentials);
        let region = get("SP_API_REGION").and_then(|region| {
            problems.check(
                region
                    .parse::<Region>()
                    .map_err(|e| ConfigError::new("SP_API_REGION", e.message)),
            )
        });
        builder.region = region;
        if let Some(sandbox) = get("SP_API_SANDBOX") {
            builder.sandbox = problems
                .check(parse_bool("SP_API_SANDBOX", &sandbox))
                .unwrap_or_default();
        }
        if let Some(allow) = get("SP_API_ALLOW_INSECURE_HTTP") {
            builder.allow_insecure_http = problems
                .check(parse_bool("SP_API_ALLOW_INSECURE_HTTP", &allow))
                .unwrap_or_default();
        }
        for name in ["SP_API_ENDPOINT", "LWA_ENDPOINT"] {
            let Some(value) = get(name) else { continue };
            let checked = parse_url(name, &value)
                .and_then(|url| check_transport(name, &url, builder.allow_insecure_http));
            if problems.check(checked).is_some() {
                builder = match name {
                    "SP_API_ENDPOINT" => builder.endpoint(value),
                    _ => builder.token_url(value),
                };
            }
        }
        let business = get("AMAZON_SHIPPING_BUSINESS_ID")
            .and_then(|id| problems.check(parse_business_id("AMAZON_SHIPPING_BUSINESS_ID", &id)));
        builder.business_id = business;
        if let Some(mode) = get("SP_API_VALIDATION") {
            let mode = mode
                .parse::<Validation>()
                .map_err(|e| ConfigError::new("SP_API_VALIDATION", e));
            if let Some(mode) = problems.check(mode) {
                builder = builder.validation(mode);
            }
        }
        let redis_insecure = get("SP_API_REDIS_ALLOW_INSECURE")
            .and_then(|allow| problems.check(parse_bool("SP_API_REDIS_ALLOW_INSECURE", &allow)));
        if let Some(url) = get("SP_API_REDIS_URL") {
            problems.check(builder.redis_from_env(
                url,
                get("SP_API_REDIS_KEY_PREFIX"),
                redis_insecure.unwrap_or_default(),
            ));
        }
        // Only when nothing was given: a malformed SP_API_REGION or
        // SP_API_ENDPOINT is already named above.
        let where_to = [
            "SP_API_REGION",
            "SP_API_ENDPOINT",
            "AMAZON_SHIPPING_BUSINESS_ID",
        ];
        if where_to.iter().all(|name| get(name).is_none()) {
            problems.push(ConfigError::new(
                "SP_API_REGION",
                "not set; expected na, eu or fe (or set SP_API_ENDPOINT)",
            ));
        }
        if let (Some(region), Some(business)) = (region, business) {
            let home = Region::of_business(business);
            if home != region {
                problems.push(ConfigError::new(
                    "SP_API_REGION, AMAZON_SHIPPING_BUSINESS_ID",
                    format!(
                        "AMAZON_SHIPPING_BUSINESS_ID={business} is served by the {home} region, \
                         not SP_API_REGION={region}"
                    ),
                ));
            }
        }
        problems.into_result(builder)
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client, ConfigError> {
        let region = self.region.or(self.business_id.map(Region::of_business));
        if let (Some(region), Some(business)) = (region, self.business_id) {
            let home = Region::of_business(business);
            if home != region {
                return Err(ConfigError::new(
                    "business_id",
                    format!("{business} is served by the {home} region, not {region}"),
                ));
            }
        }
        let mut base = match (&self.endpoint, region) {
            (Some(endpoint), _) => {
                let url = parse_url("endpoint", endpoint)?;
                check_transport("endpoint", &url, self.allow_insecure_http)?;
                url
            }
            (None, Some(region)) => parse_url("region", region.endpoint(self.sandbox))?,
            (None, None) => {
                return Err(ConfigError::new(
                    "region",
                    "no region, business id or endpoint: the client does not know where to send requests",
                ));
            }
        };
        self.check_bounds()?;
        let endpoint_auth = Self::endpoint_basic_auth(&mut base);
        let own_client = self.http.is_none() || self.pooled;
        let http = match self.http.clone() {
            Some(http) => http,
            None => self.own_http()?,
        };
        let tokens = match self.credentials.clone() {
            Some(credentials) => {
                let url = parse_url(
                    "token_url",
                    self.token_url.as_deref().unwrap_or(LWA_TOKEN_URL),
                )?;
                check_transport("token_url", &url, self.allow_insecure_http)?;
                // The refresh is bounded like one attempt, even through a
                // caller's HTTP client without timeouts.
                Some(
                    match &self.lwa {
                        Some((lwa_http, slots)) => {
                            TokenProvider::new(credentials, url, lwa_http.clone())
                                .with_slots(std::sync::Arc::clone(slots))
                        }
                        None => TokenProvider::new(credentials, url, http.clone()),
                    }
                    .with_timeout(self.timeout),
                )
            }
            None => None,
        };
        let user_agent = HeaderValue::from_str(&user_agent(self.user_agent_suffix.as_deref()))
            .map_err(|_| ConfigError::new("user_agent_suffix", "not a valid header value"))?;
        let business_id = self
            .business_id
            .or(match region {
                Some(Region::NorthAmerica) => Some(ShippingBusinessId::AmazonShippingUs),
                Some(Region::FarEast) => Some(ShippingBusinessId::AmazonShippingJp),
                Some(Region::Europe) | None => None,
            })
            .map(|business| {
                HeaderValue::from_str(&business.to_string()).expect("business ids are header-safe")
            });
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut limiter = RateLimiter::new(self.rate_limit.clone());
        #[cfg(feature = "redis")]
        let tokens = match &self.redis {
            Some(settings) => {
                let shared = match &self.redis_link {
                    Some(link) => crate::shared::Shared::over(
                        std::sync::Arc::clone(link),
                        settings,
                        self.credentials.as_ref(),
                    ),
                    None => crate::shared::Shared::new(
                        settings,
                        self.credentials.as_ref(),
                        &self.tls_roots,
                    )?,
                };
                limiter = limiter.with_shared(shared.clone());
                tokens.map(|tokens| tokens.with_shared(shared))
            }
            None => tokens,
        };
        let runtime = Runtime {
            tokens,
            limiter,
            retry: self.retry.clone(),
            business_id,
            region,
            user_agent,
            idempotency_keys: self.idempotency_keys,
            validation: self.validation,
            max_response_body: self.max_response_body,
            call_deadline: self
                .call_deadline
                .unwrap_or_else(|| self.retry.max_elapsed.saturating_add(self.timeout)),
            amazon_default_unlogged: std::sync::atomic::AtomicBool::new(true),
            corrections_logged: Default::default(),
            attempt_timeout: own_client.then_some(self.timeout),
            urls: Default::default(),
            endpoint_auth,
            connections: self.connections.clone(),
        };
        let base = base.as_str().trim_end_matches('/').to_owned();
        Ok(Client::new_with_client(&base, http, Inner::new(runtime)))
    }

    /// Takes `user:password@` out of the endpoint (the generated `Client`'s
    /// `Debug` shows its base URL) and turns it into the `Authorization:
    /// Basic` header reqwest would have made of it.
    fn endpoint_basic_auth(base: &mut reqwest::Url) -> Option<HeaderValue> {
        if base.username().is_empty() && base.password().is_none() {
            return None;
        }
        use base64::Engine as _;
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = format!(
            "{}:{}",
            decode(base.username()),
            decode(base.password().unwrap_or_default())
        );
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut header = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
        header.set_sensitive(true);
        Some(header)
    }

    /// The `reqwest::Client` these settings make when no `http_client` is
    /// given (one per client; one per [`App`](crate::App)).
    pub(crate) fn own_http(&self) -> Result<reqwest::Client, ConfigError> {
        self.own_http_builder()?
            .build()
            .map_err(|e| ConfigError::new("http_client", e.to_string()))
    }

    /// [`own_http`](Self::own_http) opening at most `dials` connections
    /// without first waiting for a pooled one (an [`App`](crate::App)'s).
    pub(crate) fn own_http_bounded(
        &self,
        dials: std::sync::Arc<crate::runtime::dial::Dials>,
    ) -> Result<reqwest::Client, ConfigError> {
        self.own_http_builder()?
            .connector_layer(crate::runtime::dial::DialLimit(dials))
            .build()
            .map_err(|e| ConfigError::new("http_client", e.to_string()))
    }

    fn own_http_builder(&self) -> Result<reqwest::ClientBuilder, ConfigError> {
        // Never follow a redirect: it would resend the token, key and
        // body (or the LWA secrets) to whatever host `Location` names.
        // gzip: `Accept-Encoding: gzip` on every request (Amazon then
        // answers compressed and chunked: a large getRates of 88,865
        // bytes comes as 5,020, issue 18) and bodies
        // decoded while streaming; reqwest drops the compressed
        // `Content-Length`, so the body cap (decode::read_body) counts
        // decoded bytes.
        let builder = gzip(reqwest::Client::builder())
            .tls_backend_preconfigured(tls_config(&self.tls_roots)?)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none());
        Ok(builder)
    }

    /// Sends through an [`App`](crate::App)'s pools (API and LWA), made
    /// by [`own_http_bounded`](Self::own_http_bounded) from these settings,
    /// each host's requests in flight bounded by its `Dials`' slots.
    pub(crate) fn pooled_http(
        mut self,
        (http, connections): (reqwest::Client, std::sync::Arc<crate::runtime::dial::Dials>),
        lwa: (reqwest::Client, std::sync::Arc<crate::runtime::dial::Dials>),
    ) -> Self {
        self.http = Some(http);
        self.pooled = true;
        self.connections = Some(connections);
        self.lwa = Some(lwa);
        self
    }

    /// An [`App`](crate::App)'s API and LWA bounds ([`pooled_http`](Self::pooled_http)).
    pub(crate) fn pools(&self) -> Option<[&crate::runtime::dial::Dials; 2]> {
        Some([self.connections.as_deref()?, self.lwa.as_ref()?.1.as_ref()])
    }

    /// With one Redis connection made now for every client built from
    /// these settings (an [`App`](crate::App)'s sellers), when Redis is set.
    pub(crate) fn shared_redis(self) -> Result<Self, ConfigError> {
        #[cfg(feature = "redis")]
        if let Some(settings) = &self.redis {
            let link = crate::shared::Link::new(settings, &self.tls_roots)?;
            return Ok(Self {
                redis_link: Some(link),
                ..self
            });
        }
        Ok(self)
    }

    /// The settings an [`App`](crate::App) checks at build.
    pub(crate) fn app_parts(&self) -> AppParts {
        AppParts {
            region: self.region.or(self.business_id.map(Region::of_business)),
            has_credentials: self.credentials.is_some(),
            has_http: self.http.is_some(),
        }
    }

    /// With these credentials (a seller's, in an [`App`](crate::App)).
    pub(crate) fn with_credentials(mut self, credentials: LwaCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    #[cfg(feature = "redis")]
    fn redis_from_env(
        &mut self,
        url: String,
        prefix: Option<String>,
        allow_insecure: bool,
    ) -> Result<(), ConfigError> {
        let mut settings = crate::shared::RedisSettings::new(url).allow_insecure(allow_insecure);
        if let Some(prefix) = prefix {
            settings = settings.with_key_prefix(prefix);
        }
        // Checked now, so the error names the variable.
        crate::shared::Shared::new(&settings, None, &[])
            .map_err(|e| ConfigError::new("SP_API_REDIS_URL", e.message))?;
        self.redis = Some(settings);
        Ok(())
    }

    /// Without the feature a fleet would silently pace per process.
    #[cfg(not(feature = "redis"))]
    fn redis_from_env(
        &mut self,
        _url: String,
        _prefix: Option<String>,
        _allow_insecure: bool,
    ) -> Result<(), ConfigError> {
        Err(ConfigError::new(
            "SP_API_REDIS_URL",
            "set, but spapi-shipping was built without its `redis` feature; enable it or unset the variable",
        ))
    }

    fn check_bounds(&self) -> Result<(), ConfigError> {
        let factor = self.rate_limit.safety_factor;
        if !(factor > 0.0 && factor <= 1.0) {
            return Err(ConfigError::new(
                "rate_limit.safety_factor",
                format!("{factor} is not in (0, 1]"),
            ));
        }
        if self.max_response_body == 0 {
            return Err(ConfigError::new(
                "max_response_body",
                "must be at least 1 byte",
            ));
        }
        if self.call_deadline.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "call_deadline",
                "must be longer than zero",
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be at least 1"));
        }
        Ok(())
    }
}

/// What an [`App`](crate::App) reads from its [`ClientBuilder`].
pub(crate) struct AppParts {
    pub(crate) region: Option<Region>,
    pub(crate) has_credentials: bool,
    pub(crate) has_http: bool,
}

impl ConfigError {
    /// The settings or environment variables this error names, in order:
    /// one for most errors, several when [`ClientBuilder::from_env`] found
    /// several problems (each named with its own message in
    /// [`message`](Self::message)) or a conflict between two variables
    /// (`SP_API_REGION` and `AMAZON_SHIPPING_BUSINESS_ID`).
    pub fn settings(&self) -> impl Iterator<Item = &str> {
        self.setting.split(", ")
    }
}

/// The problems [`ClientBuilder::from_lookup`] found, all reported at once.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn push(&mut self, problem: ConfigError) {
        self.0.push(problem);
    }

    /// The value, or `None` with the error kept.
    fn check<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// One problem as it is; several as one error whose `setting` lists every
    /// variable (`LWA_APP_ID, SP_API_REGION`) and whose message gives each
    /// variable's problem (`LWA_APP_ID: not set; SP_API_REGION: ...`).
    fn into_result<T>(mut self, value: T) -> Result<T, ConfigError> {
        match self.0.len() {
            0 => Ok(value),
            1 => Err(self.0.remove(0)),
            _ => {
                let mut settings: Vec<&str> = Vec::new();
                for name in self.0.iter().flat_map(ConfigError::settings) {
                    if !settings.contains(&name) {
                        settings.push(name);
                    }
                }
                let message: Vec<String> = self
                    .0
                    .iter()
                    .map(|p| format!("{}: {}", p.setting, p.message))
                    .collect();
                Err(ConfigError::new(settings.join(", "), message.join("; ")))
            }
        }
    }
}

/// `spapi-shipping/<version> (Language=Rust; Platform=<os>/<arch>)` plus the suffix.
pub(crate) fn user_agent(suffix: Option<&str>) -> String {
    let base = format!(
        "spapi-shipping/{} (Language=Rust; Platform={}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    match suffix {
        Some(s) if !s.trim().is_empty() => format!("{base} {}", s.trim()),
        _ => base,
    }
}

/// The rustls configuration of the client's own `reqwest::Client`, built
/// here rather than by reqwest so that the provider is chosen per client:
/// reqwest's `rustls-no-provider` would otherwise need a process-wide
/// default, which could clash with the application's own choice. An
/// installed process default (`CryptoProvider::install_default`) is still
/// honoured; otherwise the `aws-lc-rs` feature, then `ring` (the default).
pub(crate) fn tls_config(extra_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig, ConfigError> {
    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;

    let error = |e: rustls::Error| ConfigError::new("tls", e.to_string());
    let provider = match rustls::crypto::CryptoProvider::get_default() {
        Some(installed) => Arc::clone(installed),
        None => feature_provider().ok_or_else(|| {
            ConfigError::new(
                "tls",
                "no rustls crypto provider: enable the `ring` or `aws-lc-rs` feature, \
                 install a process default, or pass your own `http_client`",
            )
        })?,
    };
    let roots = extra_roots
        .iter()
        .map(|der| CertificateDer::from(der.clone()));
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(error)?;
    #[cfg(feature = "webpki-roots")]
    let builder = {
        let mut store = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for root in roots {
            store
                .add(root)
                .map_err(|e| ConfigError::new("tls_root_certificate", e.to_string()))?;
        }
        builder.with_root_certificates(store)
    };
    #[cfg(all(not(feature = "webpki-roots"), not(target_os = "android")))]
    let builder = {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)
            .map_err(|e| ConfigError::new("tls_root_certificate", e.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    #[cfg(all(not(feature = "webpki-roots"), target_os = "android"))]
    let builder = {
        if !extra_roots.is_empty() {
            return Err(ConfigError::new(
                "tls_root_certificate",
                "the Android platform verifier takes no extra roots; enable `webpki-roots`",
            ));
        }
        let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(error)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut config = builder.with_no_client_auth();
    // What reqwest itself offers without its `http2` feature.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The provider the crate's features select, built for this client only.
fn feature_provider() -> Option<std::sync::Arc<rustls::crypto::CryptoProvider>> {
    #[cfg(feature = "aws-lc-rs")]
    return Some(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ));
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return Some(std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    None
}

fn parse_url(setting: &str, value: &str) -> Result<reqwest::Url, ConfigError> {
    let shown = redact_url(value);
    let url = reqwest::Url::parse(value)
        .map_err(|e| ConfigError::new(setting, format!("{shown:?} is not a URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(ConfigError::new(
            setting,
            format!("{shown:?} has scheme {other}; expected http or https"),
        )),
    }
}

/// `url` for errors and logs, as given but for a password in it
/// (`user:password@` becomes `user:***@`) and a query (where a
/// `redis+unix://` URL carries its password), which becomes `?***`. By hand
/// rather than through `Url`, so that text that is not quite a URL (the
/// very values a configuration error shows) is redacted too, and a URL is
/// shown as the user wrote it.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let path = match path.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => path.to_owned(),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}{user}{hidden}@{host}{path}")
        }
        None => format!("{scheme}{authority}{path}"),
    }
}

/// Plain `http://` is refused for any host but loopback unless the caller
/// opted in with [`ClientBuilder::allow_insecure_http`]: the secrets and
/// tokens would cross the network in clear text.
fn check_transport(
    setting: &str,
    url: &reqwest::Url,
    allow_insecure: bool,
) -> Result<(), ConfigError> {
    if url.scheme() != "http" || allow_insecure || is_loopback(url) {
        return Ok(());
    }
    let url = redact_url(url.as_str());
    Err(ConfigError::new(
        setting,
        format!(
            "{url} is plain http to a non-loopback host: credentials and tokens would travel \
             unencrypted; use https, or opt in with allow_insecure_http(true) \
             (SP_API_ALLOW_INSECURE_HTTP=true)"
        ),
    ))
}

/// `127.0.0.0/8`, `::1` or `localhost` (which resolves to loopback by RFC 6761).
fn is_loopback(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(is_loopback_host)
}

/// The host part of [`is_loopback`], also for Redis hosts.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    match ip.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}

fn parse_bool(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            setting,
            format!("{value:?} is not a boolean; expected true or false"),
        )),
    }
}

fn parse_business_id(setting: &str, value: &str) -> Result<ShippingBusinessId, ConfigError> {
    value.trim().parse::<ShippingBusinessId>().map_err(|_| {
        ConfigError::new(
            setting,
            format!(
                "{value:?} is not a shipping business; expected one of AmazonShipping_US, \
                 AmazonShipping_UK, AmazonShipping_IT, AmazonShipping_ES, AmazonShipping_FR, \
                 AmazonShipping_IN, AmazonShipping_UAE, AmazonShipping_SA, AmazonShipping_EG, \
                 AmazonShipping_JP"
            ),
        )
    })
}

/// Asks for gzip and decodes it (feature `gzip`, on by default).
#[cfg(feature = "gzip")]
fn gzip(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder.gzip(true)
}

/// Without feature `gzip`: plain bodies only.
#[cfg(not(feature = "gzip"))]
fn gzip(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientInfo;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const CREDS: [(&str, &str); 3] = [
        ("LWA_APP_ID", "amzn1.application-oa2-client.test"),
        ("LWA_CLIENT_SECRET", "secret-value-123"),
        ("SP_API_REFRESH_TOKEN", "Atzr|refresh-value-456"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        CREDS.iter().copied().chain(extra.iter().copied()).collect()
    }

    fn setting_of(result: Result<ClientBuilder, ConfigError>) -> String {
        result.unwrap_err().setting
    }

    #[test]
    fn each_missing_credential_is_named() {
        for missing in ["LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"] {
            let vars: Vec<_> = with(&[("SP_API_REGION", "eu")])
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(setting_of(ClientBuilder::from_lookup(env(&vars))), missing);
        }
    }

    #[test]
    fn each_malformed_variable_is_named() {
        let cases = [
            ("SP_API_REGION", "mars"),
            ("SP_API_SANDBOX", "maybe"),
            ("SP_API_ENDPOINT", "not a url"),
            ("LWA_ENDPOINT", "ftp://example.com"),
            ("AMAZON_SHIPPING_BUSINESS_ID", "AmazonShipping_DE"),
        ];
        for (name, value) in cases {
            let vars = with(&[("SP_API_REGION", "eu"), (name, value)]);
            let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
            assert_eq!(err.setting, name, "{err}");
            assert!(err.to_string().contains(value), "{err}");
        }
    }

    /// Issue 14: a first setup with several mistakes is fixed in one round.
    #[test]
    fn every_missing_or_malformed_variable_is_named_at_once() {
        let vars = [
            ("LWA_CLIENT_SECRET", "secret-value-123"),
            ("SP_API_REGION", "mars"),
            ("SP_API_SANDBOX", "maybe"),
            ("SP_API_ENDPOINT", "ftp://example.com"),
            ("SP_API_VALIDATION", "strict"),
        ];
        let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
        let settings: Vec<&str> = err.settings().collect();
        assert_eq!(
            settings,
            [
                "LWA_APP_ID",
                "SP_API_REFRESH_TOKEN",
                "SP_API_REGION",
                "SP_API_SANDBOX",
                "SP_API_ENDPOINT",
                "SP_API_VALIDATION"
            ]
        );
        let text = err.to_string();
        for part in [
            "LWA_APP_ID: not set",
            "SP_API_REFRESH_TOKEN: not set",
            "SP_API_REGION: ",
            "\"mars\"",
            "SP_API_SANDBOX: \"maybe\" is not a boolean",
            "SP_API_ENDPOINT: \"ftp://example.com\" has scheme ftp",
            "SP_API_VALIDATION: ",
            "strict",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
        assert!(!text.contains("secret-value-123"), "{text}");
        // Nothing set at all: the three credentials and the region.
        let err = ClientBuilder::from_lookup(env(&[])).unwrap_err();
        let settings: Vec<&str> = err.settings().collect();
        assert_eq!(
            settings,
            [
                "LWA_APP_ID",
                "LWA_CLIENT_SECRET",
                "SP_API_REFRESH_TOKEN",
                "SP_API_REGION"
            ]
        );
    }

    #[test]
    fn a_single_problem_keeps_its_variable_as_the_setting() {
        let vars = with(&[("SP_API_REGION", "eu"), ("SP_API_SANDBOX", "maybe")]);
        let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
        assert_eq!(err.setting, "SP_API_SANDBOX");
        assert_eq!(err.settings().collect::<Vec<_>>(), ["SP_API_SANDBOX"]);
    }

    #[test]
    fn a_region_business_conflict_names_both_variables() {
        let vars = with(&[
            ("SP_API_REGION", "na"),
            ("AMAZON_SHIPPING_BUSINESS_ID", "AmazonShipping_UK"),
        ]);
        let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
        assert_eq!(
            err.settings().collect::<Vec<_>>(),
            ["SP_API_REGION", "AMAZON_SHIPPING_BUSINESS_ID"]
        );
        assert_eq!(
            err.to_string(),
            "configuration error in SP_API_REGION, AMAZON_SHIPPING_BUSINESS_ID: \
             AMAZON_SHIPPING_BUSINESS_ID=AmazonShipping_UK is served by the eu region, \
             not SP_API_REGION=na"
        );
        // With another problem, both are still named, each once.
        let vars = [
            ("SP_API_REGION", "na"),
            ("AMAZON_SHIPPING_BUSINESS_ID", "AmazonShipping_JP"),
        ];
        let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
        assert_eq!(
            err.settings().collect::<Vec<_>>(),
            [
                "LWA_APP_ID",
                "LWA_CLIENT_SECRET",
                "SP_API_REFRESH_TOKEN",
                "SP_API_REGION",
                "AMAZON_SHIPPING_BUSINESS_ID"
            ]
        );
        assert!(
            err.to_string()
                .contains("AmazonShipping_JP is served by the fe region")
        );
        // A business in the region is fine.
        let vars = with(&[
            ("SP_API_REGION", "eu"),
            ("AMAZON_SHIPPING_BUSINESS_ID", "AmazonShipping_FR"),
        ]);
        assert!(
            ClientBuilder::from_lookup(env(&vars))
                .unwrap()
                .build()
                .is_ok()
        );
    }

    #[test]
    fn a_region_is_required_unless_something_else_says_where() {
        assert_eq!(
            setting_of(ClientBuilder::from_lookup(env(&with(&[])))),
            "SP_API_REGION"
        );
        let vars = with(&[("AMAZON_SHIPPING_BUSINESS_ID", "AmazonShipping_JP")]);
        let client = ClientBuilder::from_lookup(env(&vars))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.baseurl(), "https://sellingpartnerapi-fe.amazon.com");
    }

    #[test]
    fn sandbox_and_endpoint_choose_the_host() {
        let vars = with(&[("SP_API_REGION", "na"), ("SP_API_SANDBOX", "true")]);
        let client = ClientBuilder::from_lookup(env(&vars))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            client.baseurl(),
            "https://sandbox.sellingpartnerapi-na.amazon.com"
        );
        let vars = with(&[
            ("SP_API_REGION", "na"),
            ("SP_API_ENDPOINT", "http://127.0.0.1:9/"),
        ]);
        let client = ClientBuilder::from_lookup(env(&vars))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.baseurl(), "http://127.0.0.1:9");
    }

    #[test]
    fn a_business_from_another_region_is_refused_at_build_time() {
        let err = Client::builder()
            .region(Region::NorthAmerica)
            .business_id(ShippingBusinessId::AmazonShippingUk)
            .build()
            .unwrap_err();
        assert_eq!(err.setting, "business_id");
        assert!(
            err.to_string()
                .contains("AmazonShipping_UK is served by the eu region, not na"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_show_in_the_builder_debug() {
        let builder = ClientBuilder::from_lookup(env(&with(&[("SP_API_REGION", "eu")]))).unwrap();
        let text = format!("{builder:?}");
        assert!(!text.contains("secret-value-123"), "{text}");
        assert!(!text.contains("refresh-value-456"), "{text}");
    }

    #[test]
    fn bounds_outside_their_range_are_configuration_errors() {
        let base = || Client::builder().region(Region::Europe);
        for factor in [0.0, 1.5, f64::NAN] {
            let err = base()
                .rate_limit(RateLimitSettings::default().with_safety_factor(factor))
                .build()
                .unwrap_err();
            assert_eq!(err.setting, "rate_limit.safety_factor");
        }
        let err = base()
            .retry(RetryPolicy {
                max_attempts: 0,
                ..RetryPolicy::default()
            })
            .build()
            .unwrap_err();
        assert_eq!(err.setting, "retry.max_attempts");
    }

    #[test]
    fn clients_are_cheap_to_clone_share_their_state_and_cross_threads() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Client>();
        let client = Client::builder().region(Region::Europe).build().unwrap();
        let clone = client.clone();
        // One set of buckets: a rate Amazon reports to one is seen by the other.
        let op = crate::operations::find("getTracking").unwrap();
        client.rate_limiter().observe_rate(op, 7.0);
        assert_eq!(clone.rate_limiter().plan(op).0, 7.0);
    }

    /// Issue 11, finding 2: plain http to any host was accepted silently.
    #[test]
    fn plain_http_is_refused_off_loopback_unless_insecure_http_is_allowed() {
        let loopback = [
            "http://127.0.0.1:9",
            "http://127.8.0.1:9/x",
            "http://[::1]:9",
            "http://localhost:9",
            "http://LOCALHOST.:9",
            "https://sellingpartnerapi-eu.amazon.com",
            "https://10.0.0.1",
        ];
        for url in loopback {
            let client = Client::builder().endpoint(url).token_url(url);
            let client = client.credentials(LwaCredentials::new("id", "s", "r"));
            assert!(client.build().is_ok(), "{url}");
        }
        let remote = [
            "http://sellingpartnerapi-eu.amazon.com",
            "http://10.0.0.1:8080",
            "http://[::2]",
            "http://localhost.example.com",
            "http://128.0.0.1",
        ];
        let creds = || LwaCredentials::new("id", "s", "r");
        for url in remote {
            let err = Client::builder().endpoint(url).build().unwrap_err();
            assert_eq!(err.setting, "endpoint", "{url}");
            assert!(err.to_string().contains("allow_insecure_http"), "{err}");
            let err = Client::builder()
                .region(Region::Europe)
                .credentials(creds())
                .token_url(url)
                .build()
                .unwrap_err();
            assert_eq!(err.setting, "token_url", "{url}");
            let allowed = Client::builder()
                .endpoint(url)
                .credentials(creds())
                .token_url(url)
                .allow_insecure_http(true)
                .build();
            assert!(allowed.is_ok(), "{url}");
        }
    }

    #[test]
    fn from_env_refuses_plain_http_off_loopback_naming_the_variable() {
        for name in ["SP_API_ENDPOINT", "LWA_ENDPOINT"] {
            let vars = with(&[("SP_API_REGION", "eu"), (name, "http://proxy.example.com")]);
            let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
            assert_eq!(err.setting, name);
            assert!(
                err.to_string().contains("SP_API_ALLOW_INSECURE_HTTP"),
                "{err}"
            );
            let vars = with(&[
                ("SP_API_REGION", "eu"),
                (name, "http://proxy.example.com"),
                ("SP_API_ALLOW_INSECURE_HTTP", "true"),
            ]);
            let client = ClientBuilder::from_lookup(env(&vars)).unwrap().build();
            assert!(client.is_ok(), "{name}");
        }
        let vars = with(&[
            ("SP_API_REGION", "eu"),
            ("SP_API_ALLOW_INSECURE_HTTP", "perhaps"),
        ]);
        assert_eq!(
            setting_of(ClientBuilder::from_lookup(env(&vars))),
            "SP_API_ALLOW_INSECURE_HTTP"
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_redis_url_from_the_environment_is_checked_and_its_password_hidden() {
        let bad = with(&[
            ("SP_API_REGION", "eu"),
            ("SP_API_REDIS_URL", "http://:hunter2pass@cache:6379"),
        ]);
        let err = ClientBuilder::from_lookup(env(&bad)).unwrap_err();
        assert_eq!(err.setting, "SP_API_REDIS_URL");
        assert!(err.to_string().contains("redis://"), "{err}");
        assert!(!err.to_string().contains("hunter2pass"), "{err}");
        let good = with(&[
            ("SP_API_REGION", "eu"),
            (
                "SP_API_REDIS_URL",
                "rediss://:hunter2pass@cache.internal:6380/1",
            ),
            ("SP_API_REDIS_KEY_PREFIX", "staging"),
        ]);
        let builder = ClientBuilder::from_lookup(env(&good)).unwrap();
        let text = format!("{builder:?}");
        assert!(!text.contains("hunter2pass"), "{text}");
        assert!(text.contains("staging"), "{text}");
        // Building connects to nothing: Redis is reached on the first call.
        let client = builder.build().unwrap();
        assert!(!format!("{client:?}").contains("hunter2pass"));
    }

    /// Issue 20 item 5: a proxy URL's password was printed in full.
    #[test]
    fn a_password_in_an_endpoint_never_shows_in_an_error() {
        let err = Client::builder()
            .endpoint("http://shop:hunter2pass@10.0.0.5:8080/sp")
            .build()
            .unwrap_err();
        assert_eq!(err.setting, "endpoint");
        assert_eq!(
            err.to_string(),
            "configuration error in endpoint: http://shop:***@10.0.0.5:8080/sp is plain http to \
             a non-loopback host: credentials and tokens would travel unencrypted; use https, or \
             opt in with allow_insecure_http(true) (SP_API_ALLOW_INSECURE_HTTP=true)"
        );
        let err = Client::builder()
            .endpoint("ftp://shop:hunter2pass@proxy.example")
            .build()
            .unwrap_err();
        assert_eq!(
            err.message,
            "\"ftp://shop:***@proxy.example\" has scheme ftp; expected http or https"
        );
        // Not even a URL: the password is still found and hidden.
        let err = Client::builder()
            .endpoint("http://shop:hunter2pass@proxy example:80/x?key=hunter2pass")
            .build()
            .unwrap_err();
        assert_eq!(
            err.message,
            "\"http://shop:***@proxy example:80/x?***\" is not a URL: invalid international domain name"
        );
        let vars = with(&[
            ("SP_API_REGION", "eu"),
            (
                "LWA_ENDPOINT",
                "http://lwa:hunter2pass@10.0.0.5/auth/o2/token",
            ),
        ]);
        let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
        assert!(!err.to_string().contains("hunter2pass"), "{err}");
        assert!(
            err.to_string().contains("http://lwa:***@10.0.0.5/"),
            "{err}"
        );
    }

    /// The generated `Client`'s `Debug` shows its base URL: an endpoint's
    /// password is kept out of it, and sent as reqwest would (Basic).
    #[tokio::test]
    async fn an_endpoint_password_is_sent_as_basic_auth_and_never_shown() {
        let server = httpmock::MockServer::start_async().await;
        // "shop:p@ss word" in Basic.
        let seen = server
            .mock_async(|when, then| {
                when.path("/shipping/v2/tracking")
                    .header("authorization", "Basic c2hvcDpwQHNzIHdvcmQ=");
                then.status(200)
                    .header("content-type", "application/json")
                    .body(r#"{"payload":{"trackingId":"1","alternateLegTrackingId":"","eventHistory":[],"promisedDeliveryDate":"2024-01-01T00:00:00Z","summary":{"status":"InTransit"}}}"#);
            })
            .await;
        let port = server.port();
        let client = Client::builder()
            .endpoint(format!("http://shop:p%40ss%20word@127.0.0.1:{port}"))
            .build()
            .unwrap();
        assert_eq!(client.baseurl(), &format!("http://127.0.0.1:{port}"));
        assert!(!format!("{client:?}").contains("p%40ss"), "{client:?}");
        let _ = client
            .get_tracking()
            .tracking_id("1")
            .carrier_id("AMZN_UK")
            .send()
            .await;
        seen.assert_async().await;
    }

    #[test]
    fn redact_url_hides_passwords_and_queries_only() {
        for (url, shown) in [
            (
                "https://sellingpartnerapi-eu.amazon.com",
                "https://sellingpartnerapi-eu.amazon.com",
            ),
            ("http://u:p%40w@h/a?b#c", "http://u:***@h/a?***"),
            ("http://user@host:1/p", "http://user@host:1/p"),
            ("http://user:pw@host:1/p", "http://user:***@host:1/p"),
            ("rediss://:pw@cache:6380/1", "rediss://:***@cache:6380/1"),
            (
                "redis+unix:///run/r.sock?pass=pw",
                "redis+unix:///run/r.sock?***",
            ),
            ("redis://u:p w@ca che:1", "redis://u:***@ca che:1"),
            ("not a url", "not a url"),
            ("user:pw@host:1", "user:***@host:1"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    /// Issue 20 item 5: plain-text Redis off loopback, like plain http.
    #[cfg(feature = "redis")]
    #[test]
    fn plain_text_redis_is_refused_off_loopback_unless_allowed() {
        use crate::shared::RedisSettings;
        let base = || Client::builder().region(Region::Europe);
        for url in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://[::1]:6379/2",
            "rediss://10.0.0.5:6380",
            "rediss://cache.internal",
            "redis+unix:///run/redis.sock",
        ] {
            assert!(base().redis_url(url).build().is_ok(), "{url}");
        }
        let err = base()
            .redis_url("redis://:hunter2pass@10.0.0.5:6379/0")
            .build()
            .unwrap_err();
        assert_eq!(err.setting, "redis_url");
        assert_eq!(
            err.to_string(),
            "configuration error in redis_url: redis://:***@10.0.0.5:6379/0 is plain-text Redis \
             to a non-loopback host: the Redis password, access tokens and rate-limit state would \
             travel unencrypted; use rediss://, or opt in with RedisSettings::allow_insecure(true) \
             (SP_API_REDIS_ALLOW_INSECURE=true)"
        );
        for url in [
            "redis://10.0.0.5",
            "redis://cache.internal:6379",
            "redis://[::2]",
        ] {
            let err = base().redis_url(url).build().unwrap_err();
            assert_eq!(err.setting, "redis_url", "{url}");
            let allowed = base().redis(RedisSettings::new(url).allow_insecure(true));
            assert!(allowed.build().is_ok(), "{url}");
        }
        // Turning certificate checks off is not offered.
        let err = base()
            .redis_url("rediss://:hunter2pass@cache.internal/#insecure")
            .build()
            .unwrap_err();
        assert!(err.message.contains("#insecure"), "{err}");
        assert!(!err.message.contains("hunter2pass"), "{err}");
        // From the environment.
        let vars = with(&[
            ("SP_API_REGION", "eu"),
            ("SP_API_REDIS_URL", "redis://:hunter2pass@10.0.0.5"),
        ]);
        let err = ClientBuilder::from_lookup(env(&vars)).unwrap_err();
        assert_eq!(err.setting, "SP_API_REDIS_URL");
        assert!(
            err.message.contains("SP_API_REDIS_ALLOW_INSECURE=true"),
            "{err}"
        );
        assert!(!err.message.contains("hunter2pass"), "{err}");
        let vars = with(&[
            ("SP_API_REGION", "eu"),
            ("SP_API_REDIS_URL", "redis://:hunter2pass@10.0.0.5"),
            ("SP_API_REDIS_ALLOW_INSECURE", "true"),
        ]);
        assert!(
            ClientBuilder::from_lookup(env(&vars))
                .unwrap()
                .build()
                .is_ok()
        );
    }

    /// Issue 20 item 6: every duration setting takes `Duration::MAX`
    /// ("no limit") when the client is built; tests/runtime.rs and
    /// tests/redis.rs make calls with them.
    #[test]
    fn duration_max_is_accepted_by_every_duration_setting() {
        let client = Client::builder()
            .region(Region::Europe)
            .credentials(LwaCredentials::new("id", "s", "r"))
            .timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .call_deadline(Duration::MAX)
            .rate_limit(RateLimitSettings::default().with_max_wait(Duration::MAX))
            .retry(
                RetryPolicy::default()
                    .with_initial_backoff(Duration::MAX)
                    .with_max_backoff(Duration::MAX)
                    .with_max_elapsed(Duration::MAX),
            );
        #[cfg(feature = "redis")]
        let client = client.redis(
            crate::shared::RedisSettings::new("redis://127.0.0.1:9").with_timeout(Duration::MAX),
        );
        assert!(client.build().is_ok());
    }

    #[test]
    fn user_agent_names_the_crate_platform_and_suffix() {
        let ua = user_agent(Some("my-shop/2.1"));
        assert!(ua.starts_with(&format!(
            "spapi-shipping/{} (Language=Rust; Platform=",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(ua.ends_with(") my-shop/2.1"), "{ua}");
    }
}
