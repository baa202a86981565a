//! Who a request comes from, as far as rate limits can trust it, and the per-client limits.
//!
//! The client is the connection's peer address. Only when the peer is a proxy the operator named
//! (`--trusted-proxies`) is `X-Forwarded-For` read, and from the right: each trusted hop
//! appends the address it received the request from, so the rightmost address that is not a
//! trusted proxy is the first one nobody could forge. Anything left of it was sent by the client
//! and is ignored.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use hashlink::LruCache;
use ipnet::IpNet;

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

/// Clients remembered at most; past it, the least recently seen is forgotten. Each lookup is
/// constant time, however many clients there are.
const MAX_CLIENTS: usize = 100_000;

/// Requests per client address in fixed one-hour windows. IPv6 clients are counted by their
/// /64, which is what one household or host usually holds.
#[derive(Debug)]
pub(crate) struct ClientLimit {
    per_hour: u32,
    windows: Mutex<LruCache<IpAddr, (Instant, u32)>>,
}

impl ClientLimit {
    const WINDOW: Duration = Duration::from_secs(3600);

    pub(crate) fn per_hour(per_hour: u32) -> Self {
        ClientLimit {
            per_hour,
            windows: Mutex::new(LruCache::new(MAX_CLIENTS)),
        }
    }

    /// Counts a request; `Err` with the seconds until the client may ask again.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), u64> {
        let client = match client.to_canonical() {
            IpAddr::V6(v6) => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
            v4 => v4,
        };
        // A panic while the lock was held leaves the counts usable.
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if windows.get_mut(&client).is_none() {
            windows.insert(client, (now, 0));
        }
        let Some((start, count)) = windows.get_mut(&client) else {
            return Ok(());
        };
        if now.duration_since(*start) >= Self::WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_hour {
            let left = Self::WINDOW.saturating_sub(now.duration_since(*start));
            return Err(left.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.windows.lock().map_or(0, |windows| windows.len())
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
    fn clients_are_limited_per_hour_and_ipv6_per_64() {
        let limit = ClientLimit::per_hour(10);
        let client = address("2001:db8::1");
        for _ in 0..10 {
            assert_eq!(limit.check(client), Ok(()));
        }
        assert!(
            limit.check(address("2001:db8::ffff")).is_err(),
            "the same /64"
        );
        assert_eq!(limit.check(address("192.0.2.1")), Ok(()));
    }

    #[test]
    fn the_limiter_remembers_a_bounded_number_of_clients() {
        let limit = ClientLimit::per_hour(1);
        for n in 0..(MAX_CLIENTS as u32 + 1000) {
            let _ = limit.check(IpAddr::from(n.to_be_bytes()));
        }
        assert_eq!(limit.remembered(), MAX_CLIENTS);
        // The most recent clients are still counted.
        let last = IpAddr::from((MAX_CLIENTS as u32 + 999).to_be_bytes());
        assert!(limit.check(last).is_err());
    }
}
