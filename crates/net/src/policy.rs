//! The destination policy: which IP addresses an outgoing call may connect to.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused; the text goes into `destination_not_allowed` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    Loopback,
    Private,
    LinkLocal,
    UniqueLocal,
    SharedAddressSpace,
    Multicast,
    Unspecified,
    Broadcast,
    CloudMetadata,
    Reserved,
}

impl Blocked {
    pub fn describe(self) -> &'static str {
        match self {
            Blocked::Loopback => "a loopback address",
            Blocked::Private => "a private network address",
            Blocked::LinkLocal => "a link-local address",
            Blocked::UniqueLocal => "a unique-local IPv6 address",
            Blocked::SharedAddressSpace => "a carrier-grade NAT (100.64.0.0/10) address",
            Blocked::Multicast => "a multicast address",
            Blocked::Unspecified => "the unspecified address",
            Blocked::Broadcast => "the broadcast address",
            Blocked::CloudMetadata => "a cloud metadata service address",
            Blocked::Reserved => "a reserved or documentation address",
        }
    }
}

/// Refuses non-public destinations unless an operator listed their network.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Vec<IpNet>,
}

impl Policy {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Parses `dispatch.allow_networks`: CIDRs or single addresses, comma separated.
    pub fn parse_allow_list(raw: &str) -> Result<Vec<IpNet>, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{s}` is not a CIDR such as 10.0.0.0/8 or fd00::/8"))
            })
            .collect()
    }

    /// Whether `ip` is inside one of the operator's allowed networks.
    pub fn explicitly_allowed(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// `Ok` when a connection to `ip` is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let ip = canonical(ip);
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match classify(ip) {
            Some(blocked) => Err(blocked),
            None => Ok(()),
        }
    }
}

/// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by
/// the IPv4 address they lead to.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let o = v6.octets();
    // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1 themselves.
    if s[..6] == [0; 6] && s[6] != 0 {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    // ::ffff:0:a.b.c.d, the IPv4-translated form of SIIT (RFC 2765).
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    // 64:ff9b::/96 NAT64 well-known prefix.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    // 2002::/16 6to4 carries the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    let o = ip.octets();
    Some(match o {
        // AWS/GCP/Azure IMDS, Alibaba's metadata service, Azure's WireServer.
        [169, 254, 169, 254] | [100, 100, 100, 200] | [168, 63, 129, 16] => Blocked::CloudMetadata,
        _ if ip.is_unspecified() || o[0] == 0 => Blocked::Unspecified,
        _ if ip.is_loopback() => Blocked::Loopback,
        _ if ip.is_private() => Blocked::Private,
        _ if ip.is_link_local() => Blocked::LinkLocal,
        [100, b, ..] if (64..128).contains(&b) => Blocked::SharedAddressSpace,
        _ if ip.is_broadcast() => Blocked::Broadcast,
        _ if ip.is_multicast() => Blocked::Multicast,
        // 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking, documentation
        // ranges and 240.0.0.0/4.
        [192, 0, 0, _] | [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Blocked::Reserved,
        [198, 18 | 19, ..] => Blocked::Reserved,
        [a, ..] if a >= 240 => Blocked::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => Blocked::Unspecified,
        _ if ip.is_loopback() => Blocked::Loopback,
        // AWS's IPv6 metadata endpoint fd00:ec2::254 is also unique-local; name it.
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => Blocked::CloudMetadata,
        [a, ..] if a & 0xfe00 == 0xfc00 => Blocked::UniqueLocal,
        [a, ..] if a & 0xffc0 == 0xfe80 => Blocked::LinkLocal,
        // fec0::/10 deprecated site-local.
        [a, ..] if a & 0xffc0 == 0xfec0 => Blocked::Private,
        _ if ip.is_multicast() => Blocked::Multicast,
        // 2001:db8::/32 documentation, 100::/64 discard.
        [0x2001, 0x0db8, ..] | [0x0100, 0, 0, 0, ..] => Blocked::Reserved,
        // 64:ff9b:1::/48 local-use NAT64 (RFC 8215) leads into the operator's own network.
        [0x64, 0xff9b, 0x0001, ..] => Blocked::Private,
        // 2001::/32 Teredo tunnels to an IPv4 address the policy cannot see.
        [0x2001, 0, ..] => Blocked::Reserved,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_pass_and_allow_list_opens_private_ones() {
        let policy = Policy::default();
        assert_eq!(policy.check("93.184.215.14".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("2606:4700::1111".parse().unwrap()), Ok(()));
        assert_eq!(
            policy.check("127.0.0.1".parse().unwrap()),
            Err(Blocked::Loopback)
        );
        let open = Policy::new(Policy::parse_allow_list("127.0.0.0/8, ::1").unwrap());
        assert_eq!(open.check("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(open.check("::ffff:127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(open.check("::1".parse().unwrap()), Ok(()));
        assert_eq!(
            open.check("10.0.0.1".parse().unwrap()),
            Err(Blocked::Private)
        );
        assert!(Policy::parse_allow_list("10.0.0.0/33").is_err());
    }

    #[test]
    fn translated_tunnelled_and_metadata_forms_are_refused() {
        let policy = Policy::default();
        for (ip, why) in [
            ("64:ff9b:1::a00:1", Blocked::Private),
            ("64:ff9b:1:ffff::5db8:d70e", Blocked::Private),
            ("::ffff:0:7f00:1", Blocked::Loopback),
            ("::ffff:0:a9fe:a9fe", Blocked::CloudMetadata),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Blocked::Reserved),
            ("2001::1", Blocked::Reserved),
            ("168.63.129.16", Blocked::CloudMetadata),
            ("100.100.100.200", Blocked::CloudMetadata),
            ("fd00:ec2::254", Blocked::CloudMetadata),
        ] {
            assert_eq!(policy.check(ip.parse().unwrap()), Err(why), "{ip}");
        }
        // Neighbours of the new ranges stay public.
        assert_eq!(policy.check("2001:4860::8888".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("64:ff9b::5db8:d70e".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("168.63.129.17".parse().unwrap()), Ok(()));
    }
}
