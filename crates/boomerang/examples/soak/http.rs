//! A small blocking HTTP/1.1 client for the soak's checks: requests written as raw bytes
//! (so malformed and pipelined ones are easy), responses read with `Content-Length`,
//! chunked or close-delimited framing and returned whole, so bodies can be compared byte
//! for byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};

/// Largest response body the checker accepts.
const MAX_BODY: usize = 16 << 20;
/// Largest response head the checker accepts.
const MAX_HEAD: usize = 64 << 10;

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (lower-cased names).
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its framing.
    pub body: Vec<u8>,
}

impl Response {
    /// First value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A connection with a buffered reader.
#[derive(Debug)]
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects with `timeout` for the connect and every read and write.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, timeout).context("connect")?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::with_capacity(64 << 10, s),
        })
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes `bytes` completely.
    pub fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.reader.get_mut().write_all(bytes).context("write")
    }

    /// Reads one response; `head_request` for a response to HEAD (no body).
    pub fn read_response(&mut self, head_request: bool) -> anyhow::Result<Response> {
        let mut head = Vec::new();
        loop {
            let before = head.len();
            let n = self
                .reader
                .read_until(b'\n', &mut head)
                .context("reading the response head")?;
            if n == 0 {
                if head.is_empty() {
                    bail!("connection closed before a response");
                }
                bail!("connection closed inside a response head");
            }
            if head.len() > MAX_HEAD {
                bail!("response head over {MAX_HEAD} bytes");
            }
            let line = &head[before..];
            if line == b"\r\n" || line == b"\n" {
                break;
            }
        }
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut fields);
        match resp.parse(&head).context("unparsable response head")? {
            httparse::Status::Complete(_) => {}
            httparse::Status::Partial => bail!("incomplete response head"),
        }
        let status = resp.code.context("no status code")?;
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).trim().to_string(),
                )
            })
            .collect();
        let mut out = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(out);
        }
        if out
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            out.body = self.read_chunked()?;
        } else if let Some(len) = out.header("content-length") {
            let len: usize = len.parse().context("bad Content-Length")?;
            if len > MAX_BODY {
                bail!("Content-Length {len} over {MAX_BODY}");
            }
            out.body = vec![0; len];
            self.reader
                .read_exact(&mut out.body)
                .with_context(|| format!("reading a {len}-byte body"))?;
        } else {
            (&mut self.reader)
                .take(MAX_BODY as u64)
                .read_to_end(&mut out.body)
                .context("reading a close-delimited body")?;
        }
        Ok(out)
    }

    fn read_chunked(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).context("chunk size")?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("bad chunk size line {line:?}"))?;
            if size == 0 {
                // Trailer fields up to the empty line.
                loop {
                    let mut t = String::new();
                    let n = self.reader.read_line(&mut t).context("trailer")?;
                    if n == 0 || t == "\r\n" || t == "\n" {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_BODY {
                bail!("chunked body over {MAX_BODY}");
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader
                .read_exact(&mut body[start..])
                .context("chunk")?;
            let mut crlf = [0u8; 2];
            self.reader.read_exact(&mut crlf).context("chunk end")?;
            if &crlf != b"\r\n" {
                bail!("chunk not followed by CRLF");
            }
        }
    }

    /// Reads until the server closes; `Ok(bytes)` on a clean close, an error on a reset or
    /// timeout.
    pub fn read_to_close(&mut self) -> anyhow::Result<usize> {
        let mut rest = Vec::new();
        (&mut self.reader)
            .take(MAX_BODY as u64)
            .read_to_end(&mut rest)?;
        Ok(rest.len())
    }
}

/// `GET path` on a fresh connection, read by length, then closed by us (so the server's
/// side of the connection leaves no TIME-WAIT entry behind: what the sampler uses).
pub fn get_client_closes(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let mut c = Conn::connect(addr, timeout)?;
    c.send(format!("GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n").as_bytes())?;
    c.read_response(false)
}
