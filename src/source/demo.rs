//! The demo server: a small HTTP server on 127.0.0.1 that replays a bundled series of real profiles
//! captured from the project's leaking Go service (`tests/goservice`), one snapshot per request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Round {
    goroutine: &'static [u8],
    heap: &'static [u8],
    leak: &'static [u8],
}

macro_rules! round {
    ($n:literal) => {
        Round {
            goroutine: include_bytes!(concat!("demo/", $n, "-goroutine.pb.gz")),
            heap: include_bytes!(concat!("demo/", $n, "-heap.pb.gz")),
            leak: include_bytes!(concat!("demo/", $n, "-goroutineleak.pb.gz")),
        }
    };
}

static ROUNDS: [Round; 8] = [round!("000"), round!("001"), round!("002"), round!("003"), round!("004"), round!("005"), round!("006"), round!("007")];

pub struct DemoServer {
    port: u16,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DemoServer {
    pub fn start() -> std::io::Result<DemoServer> {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?);
        let port = server.server_addr().to_ip().map(|a| a.port()).ok_or_else(|| std::io::Error::other("no port"))?;
        let s = server.clone();
        let thread = std::thread::spawn(move || serve(&s));
        Ok(DemoServer { port, server, thread: Some(thread) })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn snapshots(&self) -> usize {
        ROUNDS.len()
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server) {
    // Each goroutine fetch moves to the next round; heap and goroutineleak follow the current one.
    let next = AtomicUsize::new(0);
    let current = AtomicUsize::new(0);
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("").to_string();
        let body: Option<&'static [u8]> = match path.as_str() {
            "/debug/pprof/goroutine" => {
                let i = next.fetch_add(1, Ordering::SeqCst).min(ROUNDS.len() - 1);
                current.store(i, Ordering::SeqCst);
                Some(ROUNDS[i].goroutine)
            }
            "/debug/pprof/heap" => Some(ROUNDS[current.load(Ordering::SeqCst)].heap),
            "/debug/pprof/goroutineleak" => Some(ROUNDS[current.load(Ordering::SeqCst)].leak),
            _ => None,
        };
        let _ = match body {
            Some(b) => req.respond(
                tiny_http::Response::from_data(b)
                    .with_header(tiny_http::Header::from_bytes("Content-Type", "application/octet-stream").expect("static header")),
            ),
            None => req.respond(tiny_http::Response::from_string("404 page not found").with_status_code(404)),
        };
    }
}
