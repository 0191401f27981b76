//! Listeners in the pod namespaces: TCP accepts and closes, UDP echoes. A thread
//! enters a namespace with `setns`; the sockets it creates stay in that namespace.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use netfence_model::Protocol;
use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Socket, Type};

use crate::sctp;

/// Enters network namespace `name` (this thread only).
pub fn enter_netns(name: &str) -> std::io::Result<()> {
    let f = File::open(format!("/run/netns/{name}"))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// Running listeners; dropping stops them and closes their sockets.
pub struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// SCTP INITs the raw receivers saw.
    pub sctp_seen: sctp::Seen,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

const POLL: Duration = Duration::from_millis(100);

fn bind(protocol: Protocol, addr: Ipv4Addr, port: u16) -> std::io::Result<Socket> {
    let (ty, proto) = match protocol {
        Protocol::Tcp => (Type::STREAM, socket2::Protocol::TCP),
        _ => (Type::DGRAM, socket2::Protocol::UDP),
    };
    let s = Socket::new(Domain::IPV4, ty, Some(proto))?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(addr, port)).into())?;
    if protocol == Protocol::Tcp {
        s.listen(1024)?;
    }
    // Accept and receive wake up regularly to notice `stop`.
    s.set_read_timeout(Some(POLL))?;
    Ok(s)
}

fn serve(socket: Socket, protocol: Protocol, stop: Arc<AtomicBool>) {
    match protocol {
        Protocol::Tcp => {
            let listener = std::net::TcpListener::from(socket);
            while !stop.load(Ordering::SeqCst) {
                // The handshake is the answer; close at once.
                let _ = listener.accept();
            }
        }
        _ => {
            let udp = std::net::UdpSocket::from(socket);
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&buf[..n], from);
                }
            }
        }
    }
}

/// What listens in one namespace: its ports, on one address (so a UDP reply
/// leaves from the address that was probed) or on all (`UNSPECIFIED`).
#[derive(Clone, Debug)]
pub struct Listen {
    pub netns: String,
    pub addr: Ipv4Addr,
    pub ports: Vec<(Protocol, u16)>,
}

/// Starts TCP and UDP listeners, and a raw SCTP receiver in every namespace that
/// declares an SCTP port.
pub fn start(listens: &[Listen]) -> std::io::Result<Servers> {
    let stop = Arc::new(AtomicBool::new(false));
    let sctp_seen = sctp::Seen::default();
    let mut threads = Vec::new();
    let mut with_receiver = std::collections::BTreeSet::new();
    for listen in listens {
        let ns = listen.netns.clone();
        let ports = listen.ports.clone();
        let addr = listen.addr;
        // One raw SCTP receiver per namespace sees every address in it.
        let wants_receiver =
            ports.iter().any(|(p, _)| *p == Protocol::Sctp) && with_receiver.insert(ns.clone());
        // Sockets are created by a thread inside the namespace, then each is
        // served by a thread of its own.
        type Made = (Vec<(Socket, Protocol)>, Option<Socket>);
        let (sockets, raw) = std::thread::spawn(move || -> std::io::Result<Made> {
            enter_netns(&ns)?;
            let sockets = ports
                .iter()
                .filter(|(p, _)| matches!(p, Protocol::Tcp | Protocol::Udp))
                .map(|&(p, port)| bind(p, addr, port).map(|s| (s, p)))
                .collect::<std::io::Result<_>>()?;
            let raw = if wants_receiver {
                Some(sctp::receiver()?)
            } else {
                None
            };
            Ok((sockets, raw))
        })
        .join()
        .map_err(|_| std::io::Error::other("listener thread panicked"))??;
        for (socket, protocol) in sockets {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || serve(socket, protocol, stop)));
        }
        if let Some(raw) = raw {
            let (seen, stop) = (sctp_seen.clone(), stop.clone());
            threads.push(std::thread::spawn(move || sctp::receive(raw, seen, stop)));
        }
    }
    Ok(Servers {
        stop,
        threads,
        sctp_seen,
    })
}
