//! SCTP probes without SCTP sockets (these kernels have none): the source sends
//! a raw SCTP INIT; a raw receiver in the destination's namespace records what
//! arrives. Conntrack and nftables handle SCTP in the node between them, so an
//! INIT that arrives was allowed by the ruleset.

use std::collections::HashSet;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

const IPPROTO_SCTP: i32 = 132;

/// INITs seen by the receivers: (source, destination, destination port, tag).
pub type Seen = Arc<Mutex<HashSet<(Ipv4Addr, Ipv4Addr, u16, u32)>>>;

/// CRC32c (Castagnoli), as SCTP's checksum (RFC 9260 appendix A).
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// An SCTP packet holding one INIT chunk.
pub fn init_packet(src_port: u16, dst_port: u16, tag: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(32);
    p.extend_from_slice(&src_port.to_be_bytes());
    p.extend_from_slice(&dst_port.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes()); // verification tag: 0 for INIT
    p.extend_from_slice(&0u32.to_be_bytes()); // checksum, filled below
    p.extend_from_slice(&[1, 0]); // chunk type INIT, flags
    p.extend_from_slice(&20u16.to_be_bytes()); // chunk length
    p.extend_from_slice(&tag.to_be_bytes()); // initiate tag (non-zero)
    p.extend_from_slice(&65_535u32.to_be_bytes()); // a_rwnd
    p.extend_from_slice(&1u16.to_be_bytes()); // outbound streams
    p.extend_from_slice(&1u16.to_be_bytes()); // inbound streams
    p.extend_from_slice(&tag.to_be_bytes()); // initial TSN
    let sum = crc32c(&p);
    // The checksum goes out least significant byte first.
    p[8..12].copy_from_slice(&sum.to_le_bytes());
    p
}

/// Sends one INIT from the current thread's namespace.
pub fn send_init(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dst_port: u16,
    src_port: u16,
    tag: u32,
) -> std::io::Result<()> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_SCTP)))?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    let to = SocketAddr::V4(SocketAddrV4::new(dst, 0));
    s.send_to(&init_packet(src_port, dst_port, tag), &to.into())?;
    Ok(())
}

/// Waits until `seen` holds the INIT, or the timeout.
pub fn wait_for(seen: &Seen, key: (Ipv4Addr, Ipv4Addr, u16, u32), timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if seen.lock().map(|s| s.contains(&key)).unwrap_or(false) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A raw receiver socket, created in the current thread's namespace.
pub fn receiver() -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_SCTP)))?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(s)
}

/// Records every INIT the socket receives until `stop`.
pub fn receive(mut socket: Socket, seen: Seen, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let Ok(n) = socket.read(&mut buf) else {
            continue;
        };
        if let Some(key) = parse_init(&buf[..n])
            && let Ok(mut s) = seen.lock()
        {
            s.insert(key);
        }
    }
}

/// (source, destination, destination port, initiate tag) of an IPv4 SCTP INIT.
pub fn parse_init(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u32)> {
    let ihl = usize::from(*packet.first()? & 0x0f) * 4;
    if *packet.get(9)? != 132 {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b = packet.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let sctp = packet.get(ihl..)?;
    if *sctp.get(12)? != 1 {
        return None;
    }
    let port = u16::from_be_bytes([*sctp.get(2)?, *sctp.get(3)?]);
    let tag = u32::from_be_bytes(sctp.get(16..20)?.try_into().ok()?);
    Some((addr(12)?, addr(16)?, port, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn init_round_trips_through_the_parser() {
        let mut ip = vec![
            0x45, 0, 0, 52, 0, 0, 0, 0, 64, 132, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend(init_packet(40000, 80, 0xdead_beef));
        assert_eq!(
            parse_init(&ip),
            Some((
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                80,
                0xdead_beef
            ))
        );
        assert_eq!(parse_init(&ip[..20]), None);
    }
}
