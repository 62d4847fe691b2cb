//! A scripted upstream server on 127.0.0.1:0 for the proxy tests: each request it receives is
//! recorded and answered by the next [`Reply`] in its script, byte by byte as told, so tests
//! can stream, stall, reset and watch for the proxy closing the connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// One step of a streamed reply.
#[derive(Clone, Debug)]
pub enum Step {
    /// Send these bytes as one chunk.
    Send(Bytes),
    /// Wait this long (the thing under test is a timer).
    Pause(Duration),
    /// Wait until the test calls [`Upstream::release`].
    Hold,
    /// Abort the connection (the body ends with an error: a reset mid-stream).
    Reset,
    /// These steps (sends and pauses) again and again, until the proxy closes the
    /// connection: an endless upstream.
    Forever(Vec<Step>),
}

/// How the upstream answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A whole response.
    Full {
        /// Status.
        status: u16,
        /// Extra headers.
        headers: Vec<(&'static str, String)>,
        /// Body.
        body: Bytes,
    },
    /// Response headers after `delay`, then a body streamed step by step.
    Stream {
        /// Status.
        status: u16,
        /// Content type.
        content_type: &'static str,
        /// Wait before sending headers.
        delay: Duration,
        /// The body.
        steps: Vec<Step>,
    },
    /// A 200 event stream sent with `Content-Encoding: encoding`: each step's bytes are
    /// already encoded as the test wants them on the wire.
    EncodedStream {
        /// The `Content-Encoding`.
        encoding: &'static str,
        /// The body, encoded.
        steps: Vec<Step>,
    },
}

impl Reply {
    /// A 200 JSON body.
    pub fn json(value: serde_json::Value) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: value.to_string().into(),
        }
    }

    /// An error status with a JSON body.
    pub fn error(status: u16, value: serde_json::Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: value.to_string().into(),
        }
    }

    /// A 200 event stream of these chunks, sent at once.
    pub fn sse<I, S>(chunks: I) -> Reply
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Reply::Stream {
            status: 200,
            content_type: "text/event-stream",
            delay: Duration::ZERO,
            steps: chunks
                .into_iter()
                .map(|c| Step::Send(Bytes::from(c.into())))
                .collect(),
        }
    }

    /// A 200 event stream of these steps.
    pub fn steps(steps: Vec<Step>) -> Reply {
        Reply::Stream {
            status: 200,
            content_type: "text/event-stream",
            delay: Duration::ZERO,
            steps,
        }
    }
}

/// A request the upstream received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Path and query.
    pub uri: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON (a startup probe `GET /` has no body).
    pub fn try_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("upstream got JSON")
    }
}

/// Answers a request the script has no reply left for.
pub type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    handler: Mutex<Option<Handler>>,
    /// Whether received requests are kept (a soak turns it off to keep memory flat).
    forget: std::sync::atomic::AtomicBool,
    received: Mutex<Vec<Received>>,
    release: Notify,
    /// Signalled each time a streamed body is dropped before it was sent completely.
    closed: Notify,
    closed_count: Mutex<usize>,
    connections: Mutex<usize>,
}

/// A running scripted upstream.
#[derive(Clone)]
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Upstream {
    /// Starts an upstream that answers with `script`, one reply per request, in order.
    pub async fn start(script: Vec<Reply>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        state.script.lock().unwrap().extend(script);
        let served = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                *served.connections.lock().unwrap() += 1;
                let state = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream { addr, state }
    }

    /// Starts an upstream that answers every request with `handler`.
    pub async fn with_handler(
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let upstream = Upstream::start(Vec::new()).await;
        *upstream.state.handler.lock().unwrap() = Some(Arc::new(handler));
        upstream
    }

    /// Stops keeping the requests received (for long runs: the soak binary).
    #[allow(dead_code)]
    pub fn forget_requests(&self) {
        self.state
            .forget
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Lets every reply waiting at a [`Step::Hold`] go on.
    pub fn release(&self) {
        self.state.release.notify_waiters();
    }

    /// Waits until a streamed reply's body has been dropped by the peer (the proxy closed
    /// the connection) `count` times in all.
    pub async fn wait_closed(&self, count: usize) {
        loop {
            let notified = self.state.closed.notified();
            if *self.state.closed_count.lock().unwrap() >= count {
                return;
            }
            notified.await;
        }
    }
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let received = Received { uri, headers, body };
    if !state.forget.load(std::sync::atomic::Ordering::Relaxed) {
        state.received.lock().unwrap().push(received.clone());
    }
    let scripted = state.script.lock().unwrap().pop_front();
    let handler = state.handler.lock().unwrap().clone();
    let reply = scripted.or_else(|| handler.map(|h| h(&received)));
    let Some(reply) = reply else {
        return Response::builder()
            .status(500)
            .body(full("the test script has no reply left".into()))
            .unwrap();
    };
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut resp = Response::builder().status(status);
            for (name, value) in headers {
                resp = resp.header(name, value);
            }
            resp.body(full(body)).unwrap()
        }
        Reply::Stream {
            status,
            content_type,
            delay,
            steps,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            streamed(state, status, content_type, None, steps)
        }
        Reply::EncodedStream { encoding, steps } => {
            streamed(state, 200, "text/event-stream", Some(encoding), steps)
        }
    }
}

/// A response whose body is sent step by step.
fn streamed(
    state: Arc<State>,
    status: u16,
    content_type: &'static str,
    encoding: Option<&'static str>,
    steps: Vec<Step>,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    tokio::spawn(async move {
        let mut complete = true;
        let mut queue: VecDeque<Step> = steps.into();
        while let Some(step) = queue.pop_front() {
            let sent = match step {
                Step::Forever(body) => {
                    assert!(
                        body.iter()
                            .all(|s| matches!(s, Step::Send(_) | Step::Pause(_))),
                        "Forever takes sends and pauses"
                    );
                    queue = body.iter().cloned().collect();
                    queue.push_back(Step::Forever(body));
                    true
                }
                Step::Send(bytes) => tx.send(Ok(Frame::data(bytes))).await.is_ok(),
                Step::Pause(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => true,
                        _ = tx.closed() => false,
                    }
                }
                Step::Hold => {
                    tokio::select! {
                        _ = state.release.notified() => true,
                        _ = tx.closed() => false,
                    }
                }
                Step::Reset => {
                    let _ = tx.send(Err(std::io::Error::other("scripted reset"))).await;
                    true
                }
            };
            if !sent {
                complete = false;
                break;
            }
        }
        if !complete {
            *state.closed_count.lock().unwrap() += 1;
            state.closed.notify_waiters();
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::builder()
        .status(status)
        .header("content-type", content_type);
    if let Some(encoding) = encoding {
        resp = resp.header("content-encoding", encoding);
    }
    resp.body(BodyExt::boxed_unsync(StreamBody::new(stream)))
        .unwrap()
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
