//! Where Tocsin may send what its users point it at. Webhook and chat URLs come from anyone holding a write token,
//! so they must not reach the machine Tocsin runs on, its network, or a cloud metadata service: only public
//! addresses, and the private networks an administrator lists for on-premises receivers.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an address is reachable on the public internet: not loopback, private, link-local (cloud metadata
/// lives at 169.254.169.254), shared, unspecified, multicast, broadcast or reserved for documentation and tests.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64, which maps onto IPv4 of any kind
}

/// The address a request came from: its peer, or, when the peer is one of the `trusted` proxies, the nearest
/// address `X-Forwarded-For` names that is not one of them. Proxies append the address they saw, so the entries
/// before the last trusted hop are whatever the client claimed, and only the one a trusted proxy added is believed.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(list) = forwarded_for else {
        return peer;
    };
    let mut nearest = peer;
    for hop in list.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                nearest = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    nearest
}

/// The destinations allowed beyond the public internet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllowedNetworks(pub Vec<IpNet>);

impl AllowedNetworks {
    /// Every address, for tests and tools that send only where they were built to.
    pub fn everywhere() -> Self {
        Self(vec![
            "0.0.0.0/0".parse().expect("a valid network"),
            "::/0".parse().expect("a valid network"),
        ])
    }

    /// Whether Tocsin may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.0.iter().any(|net| net.contains(&ip))
    }

    /// Why a URL's host may not be reached, when it is an address (or `localhost`) that is not permitted. Names
    /// are checked again once resolved, at connection time.
    pub fn refusal(&self, url: &url::Url) -> Option<String> {
        let ip = match url.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(d)
                if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") =>
            {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
            url::Host::Domain(_) => return None,
        };
        (!self.permits(ip)).then(|| refusal_text(ip))
    }
}

/// What a refused destination is told, naming the setting that allows it.
pub fn refusal_text(ip: IpAddr) -> String {
    format!(
        "{ip} is a private, loopback or link-local address; Tocsin sends only to public addresses unless \
         notify.allowed_networks lists the network"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_says_who_the_client_is() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("198.51.100.1"), &proxies),
            ip("203.0.113.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                Some("198.51.100.1, 192.0.2.7, 10.0.0.3"),
                &proxies
            ),
            ip("192.0.2.7"),
            "the nearest untrusted hop, not what the client wrote first"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), None, &proxies),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), Some("not an address"), &proxies),
            ip("10.0.0.2")
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn listed_networks_are_allowed_and_urls_name_their_refusal() {
        let allowed = AllowedNetworks(vec!["10.20.0.0/16".parse().unwrap()]);
        assert!(allowed.permits(ip("10.20.3.4")) && !allowed.permits(ip("10.21.0.1")));
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(allowed.refusal(&url("http://10.20.1.1/hook")).is_none());
        let refused = allowed
            .refusal(&url("http://169.254.169.254/latest/meta-data"))
            .unwrap();
        assert!(refused.contains("notify.allowed_networks"), "{refused}");
        assert!(allowed.refusal(&url("http://localhost:8080/")).is_some());
        assert!(allowed.refusal(&url("http://[::1]/")).is_some());
        assert!(
            allowed
                .refusal(&url("https://hooks.example.com/x"))
                .is_none(),
            "names are checked when resolved"
        );
        assert!(AllowedNetworks::everywhere().permits(ip("127.0.0.1")));
    }
}
