//! A tiny HTTP server on 127.0.0.1:0 that answers every connection with canned bytes, so
//! tests can send exactly the malformed, partial or slow answers they need.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use url::Url;

/// One step of a canned answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes in one write.
    Send(Vec<u8>),
    /// Write these bytes one byte per write.
    SendBytewise(Vec<u8>),
    /// Stop writing and wait until the client closes the connection.
    AwaitClientClose,
}

/// What the server saw.
#[derive(Debug)]
pub enum Seen {
    Request(Recorded),
    /// The client closed (or reset) the connection while the server waited.
    ClientClosed,
}

#[derive(Debug)]
pub struct Recorded {
    /// The request line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

pub struct Server {
    pub url: Url,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl Server {
    /// The next request the server read, waiting at most 10 s.
    pub async fn request(&mut self) -> Recorded {
        loop {
            match self.next().await {
                Seen::Request(recorded) => return recorded,
                Seen::ClientClosed => continue,
            }
        }
    }

    /// Waits (at most 10 s) until the client closes a connection the server is holding.
    pub async fn client_closed(&mut self) {
        loop {
            if let Seen::ClientClosed = self.next().await {
                return;
            }
        }
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(10), self.seen.recv())
            .await
            .expect("the test server saw nothing within 10 s")
            .expect("the test server stopped")
    }
}

/// A server that answers every connection with `steps`, then closes it.
pub async fn serve(steps: Vec<Step>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = Url::parse(&format!(
        "http://{}",
        listener.local_addr().expect("local addr")
    ))
    .expect("server URL");
    let (tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer(socket, steps.clone(), tx.clone()));
        }
    });
    Server { url, seen }
}

/// A URL where nothing listens: bind a port, then let it go.
pub async fn dead_url() -> Url {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    Url::parse(&format!("http://{addr}")).expect("URL")
}

async fn answer(mut socket: TcpStream, steps: Vec<Step>, seen: mpsc::UnboundedSender<Seen>) {
    socket.set_nodelay(true).expect("nodelay");
    let Some(recorded) = read_request(&mut socket).await else {
        return;
    };
    let _ = seen.send(Seen::Request(recorded));
    for step in steps {
        match step {
            Step::Send(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::SendBytewise(bytes) => {
                for byte in bytes {
                    if socket.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    let _ = socket.flush().await;
                }
            }
            Step::AwaitClientClose => {
                let mut buf = [0u8; 1024];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => continue,
                    }
                }
                let _ = seen.send(Seen::ClientClosed);
                return;
            }
        }
    }
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded { head, body })
}

/// Status line and headers of a response whose body runs until the connection closes.
pub fn head(status: u16, content_type: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// Status line and headers of a chunked response.
pub fn chunked_head(content_type: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n")
        .into_bytes()
}

/// One chunk of a chunked body.
pub fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

/// The end of a chunked body.
pub fn last_chunk() -> Vec<u8> {
    b"0\r\n\r\n".to_vec()
}

/// A complete response with a length.
pub fn full(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
