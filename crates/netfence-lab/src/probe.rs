//! Probes: one connection attempt from a pod's namespace to another pod's address.
//! Workers enter the source namespace with `setns`, so each socket is the pod's.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use netfence_model::Protocol;
use serde::Serialize;
use socket2::{Domain, Socket, Type};

use crate::sctp;
use crate::serve::enter_netns;

#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub src_ns: String,
    /// The source pod's address (SCTP probes are recognised by it).
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: Protocol,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Connected,
    /// No answer within the timeout: dropped.
    TimedOut,
    /// Refused or unreachable: the lab is broken (nothing listens), not a denial.
    LabError(String),
}

/// One attempt from inside `spec.src_ns`, on a thread of its own (tests and the
/// atomicity check use it for single, unretried observations).
pub fn attempt_in(spec: &ProbeSpec, timeout: Duration) -> Outcome {
    let spec = spec.clone();
    std::thread::spawn(move || match enter_netns(&spec.src_ns) {
        Ok(()) => attempt(&spec, timeout, 7, None),
        Err(e) => Outcome::LabError(format!("cannot enter {}: {e}", spec.src_ns)),
    })
    .join()
    .unwrap_or(Outcome::LabError("probe thread panicked".into()))
}

fn attempt(spec: &ProbeSpec, timeout: Duration, nonce: u64, seen: Option<&sctp::Seen>) -> Outcome {
    let addr = SocketAddr::V4(SocketAddrV4::new(spec.dst, spec.port));
    let result = match spec.protocol {
        Protocol::Tcp => Socket::new(Domain::IPV4, Type::STREAM, Some(socket2::Protocol::TCP))
            .and_then(|s| {
                // From the probing host's own address (an external namespace has many).
                s.bind(&SocketAddr::V4(SocketAddrV4::new(spec.src, 0)).into())?;
                s.connect_timeout(&addr.into(), timeout)
            }),
        Protocol::Udp => udp_echo(spec.src, addr, timeout, nonce),
        Protocol::Sctp => match seen {
            Some(seen) => sctp_init(spec, timeout, nonce, seen),
            None => return Outcome::LabError("no SCTP receiver in this lab".into()),
        },
    };
    match result {
        Ok(()) => Outcome::Connected,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            Outcome::TimedOut
        }
        Err(e) => Outcome::LabError(e.to_string()),
    }
}

fn udp_echo(src: Ipv4Addr, addr: SocketAddr, timeout: Duration, nonce: u64) -> std::io::Result<()> {
    let s = UdpSocket::bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))?;
    // Connected, so an ICMP port-unreachable comes back as "refused".
    s.connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    let payload = nonce.to_be_bytes();
    s.send(&payload)?;
    let mut buf = [0u8; 16];
    loop {
        let n = s.recv(&mut buf)?;
        if buf[..n] == payload {
            return Ok(());
        }
    }
}

/// Every SCTP attempt of the process gets its own initiate tag, so an INIT seen
/// by an earlier probe can never answer a later one.
static SCTP_ATTEMPTS: AtomicU32 = AtomicU32::new(1);

fn sctp_init(
    spec: &ProbeSpec,
    timeout: Duration,
    nonce: u64,
    seen: &sctp::Seen,
) -> std::io::Result<()> {
    let tag = SCTP_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    let src_port = 20_000 + (nonce % 40_000) as u16;
    sctp::send_init(spec.src, spec.dst, spec.port, src_port, tag)?;
    if sctp::wait_for(seen, (spec.src, spec.dst, spec.port, tag), timeout) {
        Ok(())
    } else {
        Err(std::io::ErrorKind::TimedOut.into())
    }
}

/// Timeouts: a first try, and a longer retry that confirms a drop.
pub const FIRST_TRY: Duration = Duration::from_millis(300);
pub const RETRY: Duration = Duration::from_millis(1000);
const WORKERS: usize = 96;

/// Runs every probe concurrently; a timeout is retried once before it counts.
pub fn run_all(specs: &[ProbeSpec], sctp_seen: Option<&sctp::Seen>) -> Vec<Outcome> {
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; specs.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(specs.len()) {
            scope.spawn(|| {
                let mut current_ns: Option<String> = None;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(spec) = specs.get(i) else { break };
                    let outcome = if current_ns.as_deref() == Some(spec.src_ns.as_str()) {
                        Ok(())
                    } else {
                        enter_netns(&spec.src_ns)
                    };
                    let outcome = match outcome {
                        Err(e) => Outcome::LabError(format!("cannot enter {}: {e}", spec.src_ns)),
                        Ok(()) => {
                            current_ns = Some(spec.src_ns.clone());
                            match attempt(spec, FIRST_TRY, i as u64, sctp_seen) {
                                Outcome::TimedOut => {
                                    attempt(spec, RETRY, i as u64 | 1 << 40, sctp_seen)
                                }
                                other => other,
                            }
                        }
                    };
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(outcome);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::LabError("not probed".into())))
        .collect()
}
