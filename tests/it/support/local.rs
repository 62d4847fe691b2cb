//! A scripted local model server for the command-line tests (synchronous, one thread): it
//! answers `GET` with an OpenAI-style model list and `POST` with a whole Chat Completions
//! answer (`OK from the local server`), counts the requests, keeps the bodies posted, and
//! stops when dropped. Zero-config start finds it where a real Ollama would be.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running scripted local server.
pub struct LocalModels {
    /// Its base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub url: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    posted: Arc<Mutex<Vec<serde_json::Value>>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalModels {
    /// Starts a server offering `models`.
    pub fn start(models: &[&str]) -> LocalModels {
        let data: Vec<serde_json::Value> = models
            .iter()
            .map(|id| serde_json::json!({"id": id, "object": "model", "owned_by": "test"}))
            .collect();
        LocalModels::serving(serde_json::json!({"object": "list", "data": data}))
    }

    /// Starts a server answering `GET` with `list` as it is.
    pub fn serving(list: serde_json::Value) -> LocalModels {
        LocalModels::serving_paths(list, &[])
    }

    /// [`LocalModels::serving`], answering a `GET` of each of `paths` (e.g. llama.cpp's
    /// `/props`) with its own body.
    pub fn serving_paths(
        list: serde_json::Value,
        paths: &[(&str, serde_json::Value)],
    ) -> LocalModels {
        let paths: Vec<(String, String)> = paths
            .iter()
            .map(|(path, body)| {
                (
                    format!("get {} ", path.to_ascii_lowercase()),
                    body.to_string(),
                )
            })
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().unwrap();
        let list = list.to_string();
        let answer = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK from the local server"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        })
        .to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let posted = Arc::new(Mutex::new(Vec::new()));
        let (stop_seen, hits_seen, posted_seen) = (stop.clone(), hits.clone(), posted.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_seen.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                // Only the model list counts: the start check of the chosen backend asks
                // other paths (its window) too.
                if head.starts_with("get /v1/models ") {
                    hits_seen.fetch_add(1, Ordering::SeqCst);
                }
                let body = if head.starts_with("post") {
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut posted = vec![0u8; length];
                    let _ = stream.read_exact(&mut posted);
                    if let Ok(json) = serde_json::from_slice(&posted) {
                        posted_seen.lock().unwrap().push(json);
                    }
                    &answer
                } else {
                    paths
                        .iter()
                        .find(|(start, _)| head.starts_with(start.as_str()))
                        .map_or(&list, |(_, body)| body)
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        LocalModels {
            url: format!("http://{addr}/v1"),
            addr,
            stop,
            hits,
            posted,
            thread: Some(thread),
        }
    }

    /// The JSON bodies posted to it, in order.
    pub fn posted(&self) -> Vec<serde_json::Value> {
        self.posted.lock().unwrap().clone()
    }

    /// How many times its model list (`GET /v1/models`) was asked for.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for LocalModels {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
