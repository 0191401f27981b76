//! A minimal HTTP/1.1 server for `/healthz`, `/readyz` and `/metrics`: GET
//! only, one response per connection, bounded request size and time. Enough
//! for probes and Prometheus; no dependency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// Binds `addr` and serves on a thread of its own; returns the bound address
/// (port 0 picks one).
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("netfence-http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // One at a time: scrapes and probes are rare and cheap; a slow
                // client is cut off by the timeouts.
                let _ = handle(stream, &metrics);
            }
        })?;
    Ok(local)
}

fn handle(stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new((&stream).take(8192));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The rest of the head, unread, would be answered by a reset on close.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line.trim_end() != "" {
        line.clear();
    }
    let (status, content_type, body) = respond(&request_line, metrics);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut out = &stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

fn respond(request_line: &str, metrics: &Metrics) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return (405, TEXT, "only GET\n".into());
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/healthz" => (200, TEXT, "ok\n".into()),
        "/readyz" => {
            let (code, body) = metrics.readiness();
            (code, TEXT, body)
        }
        "/metrics" => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        _ => (404, TEXT, "not found: /healthz, /readyz, /metrics\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap(); // ok: test
        s.write_all(request.as_bytes()).unwrap(); // ok: test
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap(); // ok: test
        out
    }

    #[test]
    fn serves_health_readiness_and_metrics() {
        let m = Arc::new(Metrics::default());
        let addr = serve("127.0.0.1:0", m.clone()).unwrap(); // ok: test
        let r = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nok\n"), "{r}");
        let r = get(addr, "GET /readyz HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        assert!(r.contains("not ready"), "{r}");
        m.update(|s| {
            s.ready = true;
            s.applies = 3;
        });
        let r = get(addr, "GET /readyz HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        let r = get(addr, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("\nnetfence_agent_applies_total 3\n"), "{r}");
        let body = r.split("\r\n\r\n").nth(1).unwrap(); // ok: test
        let length: usize = r
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap() // ok: test
            .parse()
            .unwrap(); // ok: test
        assert_eq!(body.len(), length);
        assert!(get(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        // A client that sends nothing is cut off and the server goes on.
        let idle = TcpStream::connect(addr).unwrap(); // ok: test
        let r = get(addr, "GET /healthz HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        drop(idle);
    }
}
