//! What anyclaude costs over a direct connection.
//!
//! `cargo bench --bench proxy` (or `scripts/bench.sh`) runs the full measurement and writes
//! `BENCHMARKS.md`; `-- --quick` runs a short version that fails only on gross regressions
//! against `benches/baseline.json`; `-- --quick --concurrency N` measures one level alone. Everything runs on loopback and stops by itself.
//!
//! Setup: a fast scripted OpenAI-compatible upstream (in this process) streams a Claude
//! Code-sized answer — 500 text deltas, one tool call in 200 argument fragments, usage. The
//! load generator (in this process) sends Claude Code's real first request (81 KB, 24
//! tools, captured from 2.1.197) either straight to the upstream (the baseline: what a
//! client pays with no proxy at all) or through an `anyclaude --proxy-only` child process,
//! whose CPU time and RSS are read from /proc.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const TEXT_DELTAS: usize = 500;
const ARG_FRAGMENTS: usize = 200;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick" || a == "--concurrency");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run(quick));
    print!("{}", report.table);
    if quick {
        if let Err(problem) = report.guard() {
            eprintln!("benchmark regression: {problem}");
            std::process::exit(1);
        }
    } else {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::write(root.join("BENCHMARKS.md"), report.markdown()).unwrap();
        std::fs::write(
            root.join("benches/baseline.json"),
            serde_json::to_string_pretty(&report.ratios()).unwrap() + "\n",
        )
        .unwrap();
        println!("wrote BENCHMARKS.md and benches/baseline.json");
    }
}

/// The upstream's answer, one chunk per SSE event.
fn upstream_chunks() -> Vec<Bytes> {
    let chunk = |delta: Value, finish: Value| {
        let body = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
            "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Bytes::from(format!("data: {body}\n\n"))
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for i in 0..TEXT_DELTAS {
        out.push(chunk(json!({"content": format!("word{i} ")}), Value::Null));
    }
    out.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_bench", "type": "function", "function": {"name": "Bash", "arguments": ""}}]}),
        Value::Null,
    ));
    let args =
        json!({"command": "x".repeat(ARG_FRAGMENTS * 4 - 16), "description": "bench"}).to_string();
    let chars: Vec<char> = args.chars().collect();
    let size = chars.len().div_ceil(ARG_FRAGMENTS);
    for piece in chars.chunks(size) {
        let piece: String = piece.iter().collect();
        out.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            Value::Null,
        ));
    }
    out.push(chunk(json!({}), json!("tool_calls")));
    out.push(Bytes::from(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "bench",
               "choices": [], "usage": {"prompt_tokens": 20000, "completion_tokens": 900, "total_tokens": 20900,
               "prompt_tokens_details": {"cached_tokens": 0}}})
    )));
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

async fn start_upstream(chunks: Arc<Vec<Bytes>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let chunks = chunks.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let chunks = chunks.clone();
                        async move {
                            // Read the whole request, as a real server would.
                            let _ = req.into_body().collect().await;
                            let frames = chunks
                                .iter()
                                .cloned()
                                .map(|b| Ok::<_, Infallible>(Frame::data(b)))
                                .collect::<Vec<_>>();
                            let body = StreamBody::new(futures_util::stream::iter(frames));
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "text/event-stream")
                                    .body(body)
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

struct ProxyProcess {
    child: Child,
    addr: SocketAddr,
    token: String,
}

impl ProxyProcess {
    fn start(upstream: SocketAddr, port: u16) -> (ProxyProcess, Duration) {
        let state = tempfile::tempdir().unwrap();
        let started = Instant::now();
        // ANYCLAUDE_BENCH_WRAPPER runs the proxy under a profiler, e.g.
        // "valgrind --tool=massif" or "perf record -g -o /tmp/perf.data".
        let wrapper = std::env::var("ANYCLAUDE_BENCH_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(env!("CARGO_BIN_EXE_anyclaude"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_anyclaude")),
        };
        let mut child = command
            .args([
                "--proxy-only",
                "--port",
                &port.to_string(),
                "--model",
                "openai/bench",
            ])
            .env("OPENAI_BASE_URL", format!("http://{upstream}/v1"))
            .env("OPENAI_API_KEY", "sk-bench")
            .env("XDG_STATE_HOME", state.path())
            .env_remove("ANYCLAUDE_DEBUG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("anyclaude starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Startup time: from exec until the port accepts.
        let startup = loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                break started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "anyclaude did not start"
            );
            std::thread::sleep(Duration::from_micros(200));
        };
        let mut token = None;
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(pos) = line.find("x-anyclaude-token: ") {
                let rest = &line[pos + "x-anyclaude-token: ".len()..];
                token = Some(
                    rest.chars()
                        .take_while(char::is_ascii_hexdigit)
                        .collect::<String>(),
                );
                break;
            }
        }
        std::mem::forget(state);
        let token = token.expect("--proxy-only prints the token");
        (ProxyProcess { child, addr, token }, startup)
    }

    /// (user + system CPU seconds, resident memory) from /proc.
    fn usage(&self) -> (f64, Mem) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // After the ")": state is field 0, utime 11, stime 12.
        let cpu = (ticks(11) + ticks(12)) / clock_ticks();
        (cpu, memory(pid))
    }
}

/// Resident memory of a process: (all of it, the anonymous part), in bytes. The rest is
/// file-backed (the binary's code and embedded tables, libc): clean pages shared with the
/// page cache, which the kernel can drop at any time.
fn memory(pid: u32) -> Mem {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Mem {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
    }
}

/// Resident memory, in bytes.
#[derive(Clone, Copy, Default)]
struct Mem {
    rss: u64,
    anon: u64,
}

impl Mem {
    fn max(self, other: Mem) -> Mem {
        Mem {
            rss: self.rss.max(other.rss),
            anon: self.anon.max(other.anon),
        }
    }

    fn show(self) -> String {
        format!(
            "{:.1} / {:.1}",
            self.rss as f64 / 1048576.0,
            self.anon as f64 / 1048576.0
        )
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // SIGTERM first, so a profiler wrapping the proxy can write its report.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[derive(Default, Clone)]
struct Sample {
    first: Vec<Duration>,
    total: Vec<Duration>,
    wall: Duration,
    events: usize,
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `n` requests at `concurrency`, each read to the end.
async fn load(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Bytes,
    n: usize,
    concurrency: usize,
) -> Sample {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, body, next) =
            (client.clone(), url.to_owned(), body.clone(), next.clone());
        let token = token.map(str::to_owned);
        tasks.spawn(async move {
            let mut s = Sample::default();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let t0 = Instant::now();
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(token) = &token {
                    req = req.header("x-anyclaude-token", token);
                }
                let mut resp = req.send().await.expect("request");
                assert!(resp.status().is_success(), "status {}", resp.status());
                let mut first = None;
                let mut events = 0;
                while let Some(chunk) = resp.chunk().await.expect("body") {
                    first.get_or_insert_with(|| t0.elapsed());
                    events += chunk.windows(2).filter(|w| w == b"\n\n").count();
                }
                s.first.push(first.unwrap_or_default());
                s.total.push(t0.elapsed());
                s.events = events;
            }
            s
        });
    }
    let mut all = Sample::default();
    while let Some(s) = tasks.join_next().await {
        let s = s.unwrap();
        all.first.extend(s.first);
        all.total.extend(s.total);
        all.events = all.events.max(s.events);
    }
    all.wall = started.elapsed();
    all
}

struct Row {
    concurrency: usize,
    requests: usize,
    direct: Sample,
    proxied: Sample,
    cpu_per_stream: f64,
    rss: Mem,
}

struct Report {
    table: String,
    rows: Vec<Row>,
    cold_rss: Mem,
    idle_rss: Mem,
    startup: Duration,
    translator_eps: f64,
    count_tokens: (Duration, Duration),
    events_per_stream: usize,
    request_bytes: usize,
}

async fn run(quick: bool) -> Report {
    let request: Value = serde_json::from_str(include_str!(
        "../tests/fixtures/claude-code/2.1.197-first-request.json"
    ))
    .unwrap();
    let mut request = request;
    request["model"] = json!("openai/bench");
    let body = Bytes::from(request.to_string());
    // ANYCLAUDE_BENCH_EVENTS_PER_CHUNK groups the upstream's events into bigger writes, to
    // see how much of the proxy's cost is per chunk rather than per byte.
    let per_chunk: usize = std::env::var("ANYCLAUDE_BENCH_EVENTS_PER_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let chunks = Arc::new(
        upstream_chunks()
            .chunks(per_chunk)
            .map(|group| Bytes::from(group.concat()))
            .collect::<Vec<_>>(),
    );
    let upstream = start_upstream(chunks.clone()).await;

    let mut startups = Vec::new();
    for _ in 0..if quick { 3 } else { 15 } {
        let port = free_port();
        let (proxy, startup) = ProxyProcess::start(upstream, port);
        startups.push(startup);
        drop(proxy);
    }
    let startup = pct(&startups, 0.5);

    let (proxy, _) = ProxyProcess::start(upstream, free_port());
    // Before any request: what a session that has not sent anything yet holds.
    let cold_rss = proxy.usage().1;
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    let proxy_url = format!("http://{}/v1/messages?beta=true", proxy.addr);
    let direct_url = format!("http://{upstream}/v1/chat/completions");
    // Warm both paths (connections, the tokenizer's first load).
    load(&client, &proxy_url, Some(&proxy.token), &body, 20, 4).await;
    load(&client, &direct_url, None, &body, 20, 4).await;
    let idle_rss = proxy.usage().1;

    let mut count_lat = Vec::new();
    for _ in 0..if quick { 50 } else { 300 } {
        let t0 = Instant::now();
        let resp = client
            .post(format!(
                "http://{}/v1/messages/count_tokens?beta=true",
                proxy.addr
            ))
            .header("x-anyclaude-token", &proxy.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let _ = resp.bytes().await.unwrap();
        count_lat.push(t0.elapsed());
    }

    // `--concurrency N` measures that level alone (for profiling); otherwise the plan.
    let only: Option<usize> = std::env::args()
        .skip_while(|a| a != "--concurrency")
        .nth(1)
        .and_then(|v| v.parse().ok());
    let single = only.map(|c| [(c, c.max(8) * 16)]);
    let plan: &[(usize, usize)] = match (&single, quick) {
        (Some(one), _) => one,
        (None, true) => &[(1, 150), (16, 400), (64, 640)],
        (None, false) => &[(1, 1000), (16, 3000), (64, 4000), (256, 4000)],
    };
    let mut rows = Vec::new();
    for &(concurrency, n) in plan {
        let direct = load(&client, &direct_url, None, &body, n, concurrency).await;
        let (cpu0, _) = proxy.usage();
        let peak = Arc::new(std::sync::Mutex::new(Mem::default()));
        let sampler = {
            let peak = peak.clone();
            let pid = proxy.child.id();
            tokio::spawn(async move {
                loop {
                    let now = memory(pid);
                    {
                        let mut p = peak.lock().unwrap();
                        *p = p.max(now);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let proxied = load(
            &client,
            &proxy_url,
            Some(&proxy.token),
            &body,
            n,
            concurrency,
        )
        .await;
        sampler.abort();
        let (cpu1, _) = proxy.usage();
        rows.push(Row {
            concurrency,
            requests: n,
            direct,
            proxied,
            cpu_per_stream: (cpu1 - cpu0) / n as f64,
            rss: *peak.lock().unwrap(),
        });
    }
    let events_per_stream = rows[0].proxied.events;
    let translator_eps = translator_alone(&chunks, if quick { 200 } else { 2000 });
    let mut report = Report {
        table: String::new(),
        rows,
        cold_rss,
        idle_rss,
        startup,
        translator_eps,
        count_tokens: (pct(&count_lat, 0.5), pct(&count_lat, 0.99)),
        events_per_stream,
        request_bytes: body.len(),
    };
    report.table = report.render();
    report
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The pure stream translator on one core: events out per second.
fn translator_alone(chunks: &[Bytes], streams: usize) -> f64 {
    use anyclaude::server::pump::Translate;
    let started = Instant::now();
    let mut events = 0usize;
    let mut out = bytes::BytesMut::with_capacity(1 << 16);
    for i in 0..streams {
        let head = anyclaude::anthropic::writer::MessageHead {
            id: format!("msg_{i}"),
            model: "openai/bench".into(),
            input_tokens: 20000,
        };
        let mut t = anyclaude::server::forward::DialectStream::new(
            Box::new(anyclaude::dialect::chat::ChatAnswer::new(Default::default())),
            anyclaude::anthropic::writer::Writer::sse(head),
        );
        t.start(&mut out);
        for chunk in chunks {
            t.push(chunk, &mut out);
            events += out.windows(2).filter(|w| w == b"\n\n").count();
            out.clear();
        }
        t.finish(&mut out);
        events += out.windows(2).filter(|w| w == b"\n\n").count();
        out.clear();
    }
    events as f64 / started.elapsed().as_secs_f64()
}

impl Report {
    fn render(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "request: Claude Code 2.1.197's first request, {} bytes; answer: {} text deltas + 1 tool call in {} fragments + usage = {} events per stream",
            self.request_bytes, TEXT_DELTAS, ARG_FRAGMENTS, self.events_per_stream
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "| concurrency | requests | first byte direct p50 / p99 (ms) | first event via anyclaude p50 / p99 (ms) | added p50 / p99 (ms) | total direct p50 (ms) | total via anyclaude p50 (ms) | added total p50 (ms) | streams/s direct | streams/s via anyclaude | proxy CPU per stream (ms) | proxy CPU per 1,000 events (ms) | proxy peak RSS, all / anonymous (MiB) |"
        );
        let _ = writeln!(
            t,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let (d50, d99) = (pct(&r.direct.first, 0.5), pct(&r.direct.first, 0.99));
            let (p50, p99) = (pct(&r.proxied.first, 0.5), pct(&r.proxied.first, 0.99));
            let (dt, pt) = (pct(&r.direct.total, 0.5), pct(&r.proxied.total, 0.5));
            let _ = writeln!(
                t,
                "| {} | {} | {:.3} / {:.3} | {:.3} / {:.3} | {:+.3} / {:+.3} | {:.3} | {:.3} | {:+.3} | {:.0} | {:.0} | {:.3} | {:.3} | {} |",
                r.concurrency,
                r.requests,
                ms(d50),
                ms(d99),
                ms(p50),
                ms(p99),
                ms(p50) - ms(d50),
                ms(p99) - ms(d99),
                ms(dt),
                ms(pt),
                ms(pt) - ms(dt),
                r.requests as f64 / r.direct.wall.as_secs_f64(),
                r.requests as f64 / r.proxied.wall.as_secs_f64(),
                r.cpu_per_stream * 1000.0,
                r.cpu_per_stream * 1000.0 * 1000.0 / self.events_per_stream.max(1) as f64,
                r.rss.show(),
            );
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "| figure | measured | target |");
        let _ = writeln!(t, "|---|---:|---:|");
        let _ = writeln!(
            t,
            "| proxy RSS before any request, all / anonymous | {} MiB | < 10 MiB |",
            self.cold_rss.show()
        );
        let _ = writeln!(
            t,
            "| proxy RSS idle after the warm-up requests, all / anonymous | {} MiB | < 10 MiB |",
            self.idle_rss.show()
        );
        let _ = writeln!(
            t,
            "| pure stream translator, one core | {:.2} M events/s | > 1 M events/s |",
            self.translator_eps / 1e6
        );
        let _ = writeln!(
            t,
            "| count_tokens on the {} KB request, p50 / p99 (HTTP round trip) | {:.3} / {:.3} ms | < 5 ms |",
            self.request_bytes / 1000,
            ms(self.count_tokens.0),
            ms(self.count_tokens.1)
        );
        let _ = writeln!(
            t,
            "| startup, exec to accepting on the port (median) | {:.1} ms | < 20 ms |",
            ms(self.startup)
        );
        t
    }

    /// Ratios measured within this run, which survive a noisy machine better than times.
    fn ratios(&self) -> Value {
        let r = &self.rows[0];
        json!({
            "first_event_over_direct_c1": ms(pct(&r.proxied.first, 0.5)) / ms(pct(&r.direct.first, 0.5)).max(0.001),
            "total_over_direct_c1": ms(pct(&r.proxied.total, 0.5)) / ms(pct(&r.direct.total, 0.5)).max(0.001),
            "cpu_per_stream_over_direct_total_c1": r.cpu_per_stream / pct(&r.direct.total, 0.5).as_secs_f64().max(1e-6),
        })
    }

    fn guard(&self) -> Result<(), String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            println!("no benches/baseline.json yet: nothing to compare with");
            return Ok(());
        };
        let baseline: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let now = self.ratios();
        for (name, recorded) in baseline.as_object().into_iter().flatten() {
            let (Some(recorded), Some(current)) = (recorded.as_f64(), now[name].as_f64()) else {
                continue;
            };
            println!("{name}: {current:.3} (recorded {recorded:.3})");
            if current > recorded.max(1.0) * 5.0 {
                return Err(format!(
                    "{name} is {current:.3}, over 5x the recorded {recorded:.3}"
                ));
            }
        }
        Ok(())
    }

    fn markdown(&self) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_default();
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().map(str::to_owned))
            .unwrap_or_default();
        let kernel = Command::new("uname")
            .arg("-r")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        format!(
            "# Benchmarks\n\nWhat anyclaude adds over a direct connection, measured by `scripts/bench.sh` (`cargo bench --bench proxy`).\nThe load generator and the scripted upstream share the machine with the proxy, so absolute times are noisy; the\nproxy's own CPU time and RSS are read from /proc for its process alone.\n\nMachine: {cpu}, {} cores, {}, Linux {kernel}, {rustc}.\n\n{}\n",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem.replace("MemTotal:", "memory")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            self.table
        )
    }
}
