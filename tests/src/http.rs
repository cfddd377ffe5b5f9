//! A minimal HTTP/1.1 client and request reader over tokio, enough for the fixture's control
//! API and the Lambda Runtime API (no extra HTTP stack to build).

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One HTTP request or response: start line, headers (lowercase names), body.
#[derive(Debug, Clone)]
pub struct Message {
    /// `GET /path HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Message {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one message from `reader`; `None` at a clean end of stream.
pub async fn read_message<R: tokio::io::AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Option<Message>> {
    let mut start = String::new();
    if reader.read_line(&mut start).await? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').context("header without colon")?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut message = Message { start: start.trim_end().to_string(), headers, body: Vec::new() };
    if message.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            message.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = message.header("content-length") {
        let mut body = vec![0; length.parse()?];
        reader.read_exact(&mut body).await?;
        message.body = body;
    }
    Ok(Some(message))
}

/// Sends one request to `address` (host:port) and returns the response.
pub async fn request(address: &str, method: &str, path: &str, body: &[u8]) -> Result<Message> {
    let mut stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut reader = BufReader::new(stream);
    let response = read_message(&mut reader).await?.context("no response")?;
    if !response.start.contains(" 200") {
        bail!("{method} {path}: {} {}", response.start, String::from_utf8_lossy(&response.body));
    }
    Ok(response)
}
