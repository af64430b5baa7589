//! A tiny HTTP/1.1 server on 127.0.0.1:0 for the HTTP tests: reads one request per connection,
//! records it, and answers as the test's handler says (a response, a streamed body without a
//! length, or no answer at all while noting when the client gives up).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server read it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
pub enum Reply {
    /// A response with a `Content-Length`.
    Respond { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// A 200 whose body has no length: `count` chunks of `chunk`, then the connection closes.
    Stream { chunk: Vec<u8>, count: usize },
    /// Never answer; count the connection in `closed` when the client closes it.
    Hang,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn redirect(to: &str) -> Reply {
        Reply::Respond { status: 302, headers: vec![("Location".into(), to.into())], body: Vec::new() }
    }
}

type Handler = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

/// A running server; it stops with the runtime.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Connections the client closed while the server was not answering (`Reply::Hang`).
    pub closed: Arc<AtomicUsize>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Start a server on `rt` answering with `handler`.
pub fn start(
    rt: &tokio::runtime::Runtime,
    handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
) -> Server {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1:0");
    let (server, accepting) = accept(listener, handler);
    rt.spawn(accepting);
    server
}

/// Start a server on the runtime of the calling task (for `#[tokio::test]`s).
pub async fn start_here(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let (server, accepting) = accept(listener, handler);
    tokio::spawn(accepting);
    server
}

/// The server on `listener`, and the loop accepting its connections, for the caller to spawn.
fn accept(
    listener: TcpListener,
    handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
) -> (Server, impl std::future::Future<Output = ()> + Send + 'static) {
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(AtomicUsize::new(0));
    let handler: Handler = Arc::new(handler);
    let (r, c) = (received.clone(), closed.clone());
    let accepting = async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, handler.clone(), r.clone(), c.clone()));
        }
    };
    (Server { base, received, closed }, accepting)
}

async fn serve(
    mut stream: TcpStream,
    handler: Handler,
    received: Arc<Mutex<Vec<Received>>>,
    closed: Arc<AtomicUsize>,
) {
    let Some(request) = read_request(&mut stream).await else { return };
    received.lock().unwrap().push(request.clone());
    match handler(&request) {
        Reply::Respond { status, headers, body } => {
            let mut head = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
        Reply::Stream { chunk, count } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..count {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = stream.shutdown().await;
        }
        Reply::Hang => {
            let mut buffer = [0u8; 1024];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            closed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buffer[..n]);
    }
    Some(Received { method, path, headers, body })
}
