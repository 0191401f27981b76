//! `--revoke-established`: cut the tracked connections the new ruleset denies.
//!
//! A denied flow's conntrack entry is marked with [`REVOKED_MARK`] rather than
//! deleted: `forward` drops every packet of a marked flow, in both directions.
//! (A deleted entry would let the flow be picked up again mid-stream, from
//! whichever end speaks first.) Flows the engine still allows are left alone.

use std::net::IpAddr;

use netfence_engine::Engine;
use netfence_model::Protocol;
use serde::Serialize;

use crate::apply::{ApplyError, Target, run};

/// The conntrack mark of a revoked flow ("nfrv").
pub const REVOKED_MARK: u32 = 0x6e66_7276;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub protocol: Protocol,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

/// Parses `conntrack -L` lines; the first `src=`/`dst=`/`sport=`/`dport=` are the
/// original direction.
pub fn parse_conntrack(text: &str) -> Vec<Flow> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let protocol = match words.next()? {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return None,
            };
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            };
            Some(Flow {
                protocol,
                src: field("src")?.parse().ok()?,
                dst: field("dst")?.parse().ok()?,
                sport: field("sport")?.parse().ok()?,
                dport: field("dport")?.parse().ok()?,
            })
        })
        .collect()
}

/// Marks the tracked flows in `target` that the engine denies; returns them.
pub fn revoke_denied(target: &Target, engine: &Engine) -> Result<Vec<Flow>, ApplyError> {
    let mut list = target.command("conntrack");
    list.arg("-L");
    let flows = parse_conntrack(&run(list, None)?);
    let mut revoked = Vec::new();
    for flow in flows {
        let src = engine.endpoint_for_ip(flow.src);
        let dst = engine.endpoint_for_ip(flow.dst);
        if engine.allows(src, dst, flow.protocol, flow.dport) {
            continue;
        }
        let mut mark = target.command("conntrack");
        let mark_value = REVOKED_MARK.to_string();
        mark.args([
            "-U",
            "-p",
            &flow.protocol.as_str().to_ascii_lowercase(),
            "-s",
            &flow.src.to_string(),
            "-d",
            &flow.dst.to_string(),
            "--sport",
            &flow.sport.to_string(),
            "--dport",
            &flow.dport.to_string(),
            "--mark",
            &mark_value,
        ]);
        match run(mark, None) {
            Ok(_) => revoked.push(flow),
            // Gone between listing and deleting: nothing left to cut.
            Err(ApplyError::Failed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_direction_is_read() {
        let text = "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40000 [ASSURED] mark=0 use=1\n\
                    icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=1 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=1 mark=0 use=1\n";
        let flows = parse_conntrack(text);
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].sport, 40000);
        assert_eq!(flows[0].dport, 80);
        assert_eq!(flows[0].src.to_string(), "10.0.0.1");
    }
}
