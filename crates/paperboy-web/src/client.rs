//! Who a request comes from, as far as rate limits can trust it, and the per-client limits.
//!
//! The client is the connection's peer address. Only when the peer is a proxy the operator named
//! (`--trusted-proxies`) is `X-Forwarded-For` read, and from the right: each trusted hop
//! appends the address it received the request from, so the rightmost address that is not a
//! trusted proxy is the first one nobody could forge. Anything left of it was sent by the client
//! and is ignored.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use paperboy_store::{Store, StoreError};

use crate::state::AppState;

/// The networks whose connections are proxies that set `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a request that reached us from `peer` with these `X-Forwarded-For`
    /// values (in header order).
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a [u8]>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&[u8]> = forwarded
            .flat_map(|value| value.split(|&byte| byte == b','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // A hop that is not an address was not written by a proxy we trust: stop at the
            // last address that was.
            let Some(address) = std::str::from_utf8(hop)
                .ok()
                .and_then(|text| parse_hop(text.trim()))
            else {
                break;
            };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`198.51.100.7:4711`,
/// `[2001:db8::1]:4711`).
fn parse_hop(text: &str) -> Option<IpAddr> {
    text.parse()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// `127.0.0.1/32,10.0.0.0/8,::1`: networks or single addresses, comma-separated.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{part:?} is not an address or network (10.0.0.0/8)"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

/// The client's address (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub(crate) IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.as_bytes());
        Ok(ClientAddress(state.trusted_proxies.client(peer, forwarded)))
    }
}

/// Requests per client address in fixed one-hour windows, counted in the store so that the
/// limit holds whichever node a request lands on. IPv6 clients are counted by their /64, which
/// is what one household or host usually holds.
#[derive(Debug)]
pub(crate) struct ClientLimit {
    /// What is limited, the first part of the key the store counts under.
    what: &'static str,
    per_hour: u32,
}

impl ClientLimit {
    const WINDOW: Duration = Duration::from_secs(3600);

    pub(crate) fn per_hour(what: &'static str, per_hour: u32) -> Self {
        ClientLimit { what, per_hour }
    }

    /// Counts a request; `Err` with the seconds until the client may ask again.
    pub(crate) async fn check(
        &self,
        store: &dyn Store,
        client: IpAddr,
    ) -> Result<Result<(), u64>, StoreError> {
        let key = format!("{} {}", self.what, network(client));
        Ok(
            match store
                .count_request(&key, self.per_hour, Self::WINDOW)
                .await?
            {
                None => Ok(()),
                Some(left) => Err(left.as_secs().max(1)),
            },
        )
    }
}

/// The network a client is counted by: its IPv4 address, or its IPv6 /64.
fn network(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::from(segments)
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0; 4]))
    }

    #[test]
    fn the_header_is_read_only_from_trusted_proxies_and_from_the_right() {
        let none = TrustedProxies::default();
        let peer = address("203.0.113.9");
        let forged: &[&[u8]] = &[b"198.51.100.1"];
        assert_eq!(none.client(peer, forged.iter().copied()), peer);

        let proxies: TrustedProxies = "127.0.0.1/32, 10.0.0.0/8".parse().unwrap_or_default();
        let local = address("127.0.0.1");
        assert_eq!(proxies.client(local, std::iter::empty()), local);
        // The client wrote the first entry; our proxies appended the rest.
        let chain: &[&[u8]] = &[b"6.6.6.6, 198.51.100.7", b"10.1.2.3"];
        assert_eq!(
            proxies.client(local, chain.iter().copied()),
            address("198.51.100.7")
        );
        let with_port: &[&[u8]] = &[b"[2001:db8::7]:4711"];
        assert_eq!(
            proxies.client(local, with_port.iter().copied()),
            address("2001:db8::7")
        );
        // Garbage appended by nobody we trust: the last trusted hop is the client.
        let garbage: &[&[u8]] = &[b"198.51.100.7, not-an-address"];
        assert_eq!(proxies.client(local, garbage.iter().copied()), local);
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(
            network(address("2001:db8::1")),
            network(address("2001:db8::ffff"))
        );
        assert_ne!(
            network(address("2001:db8::1")),
            network(address("2001:db8:0:1::1"))
        );
        assert_eq!(network(address("::ffff:192.0.2.1")), address("192.0.2.1"));
        assert_eq!(network(address("192.0.2.1")), address("192.0.2.1"));
    }
}
