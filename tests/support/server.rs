//! The one loopback server of the tests that control every byte: HTTP/1.1
//! on 127.0.0.1 (optionally TLS with a self-signed certificate), one request
//! per connection unless the reply keeps it open. Each request is recorded as a [`Seen`], then a handler
//! closure scripts the answer as a [`Reply`]: a response, or a fault (reset,
//! close, stall, a body cut or dripped, an endless or counted stream).
//! Dropping the server stops it and every connection it holds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use super::Seen;

/// Where every test's Login with Amazon lives on its server.
pub const TOKEN_PATH: &str = "/auth/o2/token";

/// How long [`Reply::then_hang`] holds a connection (the server's drop ends
/// it sooner).
const HANG: Duration = Duration::from_secs(30);

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A loopback server; see the module documentation.
pub struct Server {
    addr: SocketAddr,
    certificate: Option<CertificateDer<'static>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handshakes: Arc<AtomicUsize>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: JoinHandle<()>,
}

impl Server {
    /// A plain HTTP server answering each request with `handler`'s reply.
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::launch(None, Arc::new(handler)).await
    }

    /// An HTTPS server for `localhost`, its certificate self-signed (trust
    /// it with [`Server::certificate`]). It names its crypto provider (ring)
    /// itself: nothing installs a process default.
    pub async fn tls(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("self-signed certificate");
        let certificate = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::launch(Some((acceptor, certificate)), Arc::new(handler)).await
    }

    async fn launch(
        tls: Option<(tokio_rustls::TlsAcceptor, CertificateDer<'static>)>,
        handler: Arc<Handler>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (acceptor, certificate) = tls.unzip();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (log, shaken, held) = (seen.clone(), handshakes.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (handler, log, shaken) = (handler.clone(), log.clone(), shaken.clone());
                let acceptor = acceptor.clone();
                let task = tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    match acceptor {
                        None => serve(tcp, &*handler, &log).await,
                        Some(acceptor) => {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            shaken.fetch_add(1, Ordering::SeqCst);
                            serve(tls, &*handler, &log).await;
                        }
                    }
                });
                held.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            addr,
            certificate,
            seen,
            handshakes,
            connections,
            accept,
        }
    }

    /// `http://127.0.0.1:<port><path>`, or `https://localhost:<port><path>`
    /// for TLS (the name the certificate is for).
    pub fn url(&self, path: &str) -> String {
        match self.certificate {
            None => format!("http://{}{path}", self.addr),
            Some(_) => format!("https://localhost:{}{path}", self.addr.port()),
        }
    }

    /// The LWA endpoint on this server.
    pub fn token_url(&self) -> String {
        self.url(TOKEN_PATH)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS server's certificate (DER).
    pub fn certificate(&self) -> Vec<u8> {
        self.certificate.as_ref().expect("a TLS server").to_vec()
    }

    /// Completed TLS handshakes.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.connections.lock().unwrap().len()
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests that were not for a token.
    pub fn api_requests(&self) -> usize {
        self.seen().iter().filter(|s| s.path != TOKEN_PATH).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// What the server does with one connection after reading the request, step
/// by step; a step that fails (the client went away) ends the script. The
/// connection is then closed (FIN), or reset for [`Reply::reset`].
#[derive(Default)]
pub struct Reply {
    steps: Vec<Step>,
    reset: bool,
    /// Read the next request on this connection after the steps (keep-alive).
    keep_open: bool,
}

enum Step {
    Send(Vec<u8>),
    Wait(Duration),
    Stream {
        bytes: Arc<[u8]>,
        part: usize,
        up_to: u64,
        tally: Option<Arc<Tally>>,
    },
}

/// What a [`Reply::then_stream`] managed to send, and when it stopped.
#[derive(Default)]
pub struct Tally {
    pub bytes: AtomicU64,
    pub stopped: tokio::sync::Notify,
}

impl Tally {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Reply {
    /// These bytes, then close.
    pub fn send(bytes: impl Into<Vec<u8>>) -> Self {
        Self::default().then_send(bytes)
    }

    /// Closes (FIN) without a byte.
    pub fn close() -> Self {
        Self::default()
    }

    /// Resets the connection (RST, SO_LINGER 0) without a byte.
    pub fn reset() -> Self {
        Self {
            reset: true,
            ..Self::default()
        }
    }

    /// Waits `delay` before anything else.
    pub fn after(delay: Duration) -> Self {
        Self::default().then_wait(delay)
    }

    pub fn then_send(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.steps.push(Step::Send(bytes.into()));
        self
    }

    pub fn then_wait(mut self, delay: Duration) -> Self {
        if !delay.is_zero() {
            self.steps.push(Step::Wait(delay));
        }
        self
    }

    /// Reads the next request on the same connection once the steps are
    /// done, as a keep-alive server does (the client's pool reuses it).
    pub fn then_keep_open(mut self) -> Self {
        self.keep_open = true;
        self
    }

    /// Holds the connection open, sending nothing more.
    pub fn then_hang(self) -> Self {
        self.then_wait(HANG)
    }

    /// Sends `bytes`, `part` bytes per write, again and again until
    /// `up_to` bytes went out or the client stops reading, counting into
    /// `tally` (notified when this step ends). The bytes are shared, not
    /// copied: a peak-memory test builds them before it measures.
    pub fn then_stream(
        mut self,
        bytes: impl Into<Arc<[u8]>>,
        part: usize,
        up_to: u64,
        tally: Option<Arc<Tally>>,
    ) -> Self {
        self.steps.push(Step::Stream {
            bytes: bytes.into(),
            part,
            up_to,
            tally,
        });
        self
    }

    /// [`Reply::then_stream`] of `chunk` whole, repeated up to `up_to` bytes.
    pub fn then_repeat(
        self,
        chunk: impl Into<Arc<[u8]>>,
        up_to: u64,
        tally: Option<Arc<Tally>>,
    ) -> Self {
        let chunk = chunk.into();
        let part = chunk.len();
        self.then_stream(chunk, part, up_to, tally)
    }

    /// HTTP/1.1 chunks of `size` bytes (`x` each) without end.
    pub fn then_endless_chunks(self, size: usize) -> Self {
        self.then_repeat(chunk_of(size), u64::MAX, None)
    }
}

/// One HTTP/1.1 chunk of `size` bytes of `x`, framed.
pub fn chunk_of(size: usize) -> Vec<u8> {
    format!("{size:x}\r\n{}\r\n", "x".repeat(size)).into_bytes()
}

/// A response head: status line, `headers`, `connection: close` (unless
/// `headers` say otherwise, for [`Reply::then_keep_open`]) and the blank
/// line (no `content-length` unless among `headers`).
pub fn head(status: u16, headers: &[(&str, &str)]) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("connection"))
    {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    out
}

/// A whole response: [`head`] with `content-length`, then `body`.
pub fn response(status: u16, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Vec<u8> {
    let body = body.as_ref();
    let length = body.len().to_string();
    let all: Vec<(&str, &str)> = std::iter::once(("content-length", length.as_str()))
        .chain(headers.iter().copied())
        .collect();
    let mut out = head(status, &all).into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON response with `x-amzn-RequestId: request_id`.
pub fn json(status: u16, request_id: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    response(
        status,
        &[
            ("content-type", "application/json"),
            ("x-amzn-RequestId", request_id),
        ],
        body,
    )
}

/// Login with Amazon's answer: `access_token`, valid for an hour.
pub fn token(access_token: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": 3600,
    });
    response(
        200,
        &[("content-type", "application/json")],
        body.to_string(),
    )
}

/// A URL on 127.0.0.1 where nothing listens.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    let port = listener.local_addr().expect("probe address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A connection, plain or TLS, and the TCP stream under it.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Connection for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Connection for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

async fn serve(mut stream: impl Connection, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    loop {
        let Some(seen) = read_request(&mut stream).await else {
            return;
        };
        log.lock().unwrap().push(seen.clone());
        let reply = handler(&seen);
        let mut ok = true;
        for step in reply.steps {
            ok = match step {
                Step::Send(bytes) => {
                    stream.write_all(&bytes).await.is_ok() && stream.flush().await.is_ok()
                }
                Step::Wait(delay) => {
                    tokio::time::sleep(delay).await;
                    true
                }
                Step::Stream {
                    bytes,
                    part,
                    up_to,
                    tally,
                } => {
                    let mut sent = 0u64;
                    let mut parts = bytes.chunks(part).cycle();
                    let mut ok = !bytes.is_empty();
                    while ok && sent < up_to {
                        let part = parts.next().expect("cycling a non-empty slice");
                        ok = stream.write_all(part).await.is_ok();
                        if ok {
                            sent += part.len() as u64;
                            if let Some(tally) = &tally {
                                tally.bytes.fetch_add(part.len() as u64, Ordering::Relaxed);
                            }
                        }
                    }
                    if let Some(tally) = &tally {
                        tally.stopped.notify_one();
                    }
                    ok
                }
            };
            if !ok {
                break;
            }
        }
        if ok && reply.keep_open {
            continue;
        }
        if reply.reset {
            let _ = stream.tcp().set_zero_linger();
            drop(stream);
        } else {
            let _ = stream.shutdown().await;
        }
        return;
    }
}

/// Reads one request: its head and its `Content-Length` body.
async fn read_request(stream: &mut impl Connection) -> Option<Seen> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect();
    let mut seen = Seen {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    };
    let length: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() - head_end < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    seen.body = buf[head_end..head_end + length].to_vec();
    Some(seen)
}
