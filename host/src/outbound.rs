//! Where the host may send a rendered request. An adapter's `render` names
//! a URL; the host only calls it when the host name is one the adapter
//! declared in `info` (or the operator allows it), and never a private,
//! loopback or link-local address — so a tenant-set `api_base_url` cannot
//! reach the platform's own network. `SWITCHBOARD_OUTBOUND_ALLOW` (comma
//! separated `host:port` patterns, `*` for any port, e.g. `127.0.0.1:*`)
//! lifts both rules for the listed targets, for tests and private
//! deployments.

use std::net::{IpAddr, SocketAddr};

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefused {
    /// Not an absolute http(s) URL with a host.
    #[error("not an http(s) URL: {0}")]
    BadUrl(String),
    /// The adapter did not declare this host.
    #[error("host `{0}` is not among the hosts the adapter declared")]
    UndeclaredHost(String),
    /// The host is, or resolves to, a private/loopback/link-local address.
    #[error("`{0}` is a private or loopback address")]
    PrivateAddress(String),
}

/// One `host:port` allow pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    host: String,
    port: Option<u16>,
}

/// The operator's outbound policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allow: Vec<Pattern>,
}

impl OutboundPolicy {
    /// From `SWITCHBOARD_OUTBOUND_ALLOW`.
    pub fn from_env() -> Self {
        Self::parse(&std::env::var("SWITCHBOARD_OUTBOUND_ALLOW").unwrap_or_default())
    }

    /// From a comma-separated list of `host:port` / `host:*` / `host`.
    pub fn parse(list: &str) -> Self {
        let allow = list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (host, port) = match p.rsplit_once(':') {
                    Some((h, "*")) => (h, None),
                    Some((h, port)) if !h.ends_with(':') => match port.parse() {
                        Ok(port) => (h, Some(port)),
                        Err(_) => (p, None),
                    },
                    _ => (p, None),
                };
                Pattern {
                    host: host.trim_matches(['[', ']']).to_ascii_lowercase(),
                    port,
                }
            })
            .collect();
        OutboundPolicy { allow }
    }

    fn allowed(&self, host: &str, port: u16) -> bool {
        self.allow
            .iter()
            .any(|p| p.host == host && p.port.is_none_or(|x| x == port))
    }

    /// Check a rendered URL against the adapter's declared hosts. Returns
    /// the host and port to connect to; the caller must still pass every
    /// resolved address through [`OutboundPolicy::check_resolved`].
    pub fn check_url(
        &self,
        url: &str,
        declared: &[String],
    ) -> Result<(String, u16), OutboundRefused> {
        let (host, port) =
            host_port(url).ok_or_else(|| OutboundRefused::BadUrl(url.to_string()))?;
        if self.allowed(&host, port) {
            return Ok((host, port));
        }
        if !declared.iter().any(|d| d.eq_ignore_ascii_case(&host)) {
            return Err(OutboundRefused::UndeclaredHost(host));
        }
        if names_private(&host) {
            return Err(OutboundRefused::PrivateAddress(host));
        }
        Ok((host, port))
    }

    /// Check a URL that may name any *public* host — e.g. a tenant's LLM
    /// endpoint, where there is no adapter to declare hosts, and
    /// `api.openai.com` or any other provider must work. Private, loopback
    /// and link-local targets are still refused unless the operator allowed
    /// them (a self-hosted Ollama). As with [`OutboundPolicy::check_url`],
    /// the caller must pass every resolved address through
    /// [`OutboundPolicy::check_resolved`].
    pub fn check_public_url(&self, url: &str) -> Result<(String, u16), OutboundRefused> {
        let (host, port) =
            host_port(url).ok_or_else(|| OutboundRefused::BadUrl(url.to_string()))?;
        if self.allowed(&host, port) {
            return Ok((host, port));
        }
        if names_private(&host) {
            return Err(OutboundRefused::PrivateAddress(host));
        }
        Ok((host, port))
    }

    /// Whether the operator allowed `host:port` (a target that may then be
    /// private, or plain http).
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allowed(host, port)
    }

    /// Whether the operator allowed `host` on any port. For a DNS resolver,
    /// which sees names but not ports: the port was already checked on the
    /// URL by [`OutboundPolicy::check_public_url`].
    pub(crate) fn allows_host(&self, host: &str) -> bool {
        self.allow.iter().any(|p| p.host == host)
    }

    /// Refuse a resolved address that is private, unless the operator
    /// allowed that host and port. Checking after resolution stops a public
    /// name that resolves to an internal address.
    pub fn check_resolved(&self, host: &str, addr: SocketAddr) -> Result<(), OutboundRefused> {
        if self.allowed(host, addr.port()) || self.allowed(&addr.ip().to_string(), addr.port()) {
            return Ok(());
        }
        if is_private(&addr.ip()) {
            return Err(OutboundRefused::PrivateAddress(addr.ip().to_string()));
        }
        Ok(())
    }
}

/// Whether a host name is, before any resolution, obviously local: the
/// `localhost` names or a private IP literal.
fn names_private(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| is_private(&ip))
}

/// Host (lowercase, no brackets) and port of an absolute http(s) URL.
fn host_port(raw: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    // Userinfo would let `https://api.twilio.com@evil` look like another host.
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    Some((host, url.port_or_known_default()?))
}

impl OutboundPolicy {
    /// The one check before the host connects on a plugin's or a tenant's
    /// behalf: the URL (against the adapter's `declared` hosts, or, with
    /// `None`, any public host — a tenant's LLM endpoint), then every
    /// address its host resolves to. A name that does not resolve (in 5 s)
    /// is left to the HTTP client to report. (A name that re-resolves
    /// differently between this check and the connect is not caught; the
    /// operator's egress firewall is the backstop.)
    pub async fn check_before_send(
        &self,
        url: &str,
        declared: Option<&[String]>,
    ) -> Result<(), OutboundRefused> {
        let (host, port) = match declared {
            Some(hosts) => self.check_url(url, hosts)?,
            None => self.check_public_url(url)?,
        };
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let lookup = tokio::net::lookup_host((host.as_str(), port));
                match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
                    Ok(Ok(a)) => a.collect(),
                    _ => return Ok(()),
                }
            }
        };
        for addr in addrs {
            self.check_resolved(&host, addr)?;
        }
        Ok(())
    }
}

/// Exponential backoff with jitter for attempt `attempt` (1-based): uniform
/// in [d/2, d] where d = min(max, base·2ⁿ⁻¹). The random half spreads a
/// burst of failures so retries don't stampede; the fixed half keeps a
/// retry from hammering at once. Every retried outbound call uses it.
pub fn backoff(
    base: std::time::Duration,
    max: std::time::Duration,
    attempt: u32,
) -> std::time::Duration {
    let d = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    let mut b = [0u8; 4];
    // No randomness: the plain exponential delay is still correct.
    if getrandom::fill(&mut b).is_err() {
        return d;
    }
    d.mul_f64(0.5 + f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX) / 2.0)
}

/// A response body read up to `max` bytes.
pub struct CappedBody {
    pub bytes: Vec<u8>,
    /// The body went on past `max`; `bytes` is its first `max` bytes.
    pub truncated: bool,
}

/// Read `response`'s body, never holding more than `max` bytes of it (a
/// provider or LLM endpoint decides how much it sends, not how much we keep).
pub async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<CappedBody, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(CappedBody {
        bytes,
        truncated: false,
    })
}

/// Make rustls use the ring provider process-wide. reqwest is built without
/// a default provider (aws-lc needs cmake), so any `reqwest::Client` in the
/// process needs this first; it is idempotent.
pub fn install_tls_provider() {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Fails only when another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client builder for calls to providers and LLM APIs: rustls (ring) with
/// the platform's roots; no redirects and no proxy (either would connect
/// somewhere the policy did not check); every resolved address vetted again
/// at connect time; bounded connect time; pooled connections.
pub fn http_client_builder(policy: &OutboundPolicy) -> reqwest::ClientBuilder {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .dns_resolver(VettingResolver {
            policy: policy.clone(),
        })
}

/// The client's DNS resolver: resolves with the system resolver, then drops
/// private addresses unless the operator allowed the host (or that
/// address). Callers already checked the URL's port (`check_url`, `check_public_url`), and the
/// client follows no redirects, so the host is all this needs to match.
pub(crate) struct VettingResolver {
    pub(crate) policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| {
                    !is_private(&a.ip())
                        || policy.allows_host(&host)
                        || policy.allows_host(&a.ip().to_string())
                })
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "`{host}` resolves only to addresses the outbound policy refuses"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Loopback, private (RFC 1918, ULA), link-local, CGNAT, unspecified,
/// multicast and broadcast addresses.
pub fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(&IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn only_declared_hosts_pass() {
        let p = OutboundPolicy::default();
        let d = declared(&["graph.facebook.com"]);
        assert_eq!(
            p.check_url("https://graph.facebook.com/v21.0/123/messages", &d),
            Ok(("graph.facebook.com".into(), 443))
        );
        assert_eq!(
            p.check_url("https://GRAPH.facebook.com:8443/x", &d),
            Ok(("graph.facebook.com".into(), 8443))
        );
        assert_eq!(
            p.check_url("https://evil.example/x", &d),
            Err(OutboundRefused::UndeclaredHost("evil.example".into()))
        );
        // Userinfo tricks and other schemes are not URLs we call.
        assert!(matches!(
            p.check_url("https://graph.facebook.com@evil.example/", &d),
            Err(OutboundRefused::BadUrl(_))
        ));
        assert!(matches!(
            p.check_url("file:///etc/passwd", &d),
            Err(OutboundRefused::BadUrl(_))
        ));
    }

    #[test]
    fn private_and_loopback_targets_are_refused_even_if_declared() {
        let p = OutboundPolicy::default();
        for url in [
            "http://127.0.0.1:8080/x",
            "http://10.0.0.5/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9000/",
            "http://localhost/x",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
        ] {
            let host = host_port(url).unwrap().0;
            assert_eq!(
                p.check_url(url, std::slice::from_ref(&host)),
                Err(OutboundRefused::PrivateAddress(host)),
                "{url}"
            );
        }
        // A public name that resolves inside is refused at connect time.
        assert!(
            p.check_resolved("api.example", "10.1.2.3:443".parse().unwrap())
                .is_err()
        );
        assert!(
            p.check_resolved("api.example", "[::ffff:127.0.0.1]:443".parse().unwrap())
                .is_err()
        );
        assert!(
            p.check_resolved("api.example", "93.184.216.34:443".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn public_urls_need_no_declaration_but_private_ones_an_allow() {
        let p = OutboundPolicy::default();
        assert_eq!(
            p.check_public_url("https://api.openai.com/v1/chat/completions"),
            Ok(("api.openai.com".into(), 443))
        );
        assert_eq!(
            p.check_public_url("http://LLM.example:8080/v1"),
            Ok(("llm.example".into(), 8080))
        );
        for url in [
            "http://127.0.0.1:11434/v1",
            "http://localhost:11434/v1",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            assert!(
                matches!(
                    p.check_public_url(url),
                    Err(OutboundRefused::PrivateAddress(_))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            p.check_public_url("https://api.openai.com@127.0.0.1/"),
            Err(OutboundRefused::BadUrl(_))
        ));
        assert!(matches!(
            p.check_public_url("ftp://api.openai.com/"),
            Err(OutboundRefused::BadUrl(_))
        ));

        let p = OutboundPolicy::parse("127.0.0.1:11434, ollama.internal");
        assert_eq!(
            p.check_public_url("http://127.0.0.1:11434/v1"),
            Ok(("127.0.0.1".into(), 11434))
        );
        assert!(p.check_public_url("http://127.0.0.1:8080/v1").is_err());
        assert!(p.allows_host("ollama.internal") && p.allows_host("127.0.0.1"));
        assert!(!p.allows_host("10.0.0.1"));
    }

    #[test]
    fn the_operator_allow_list_lifts_both_rules() {
        let p = OutboundPolicy::parse("127.0.0.1:*, mock.internal:8081");
        assert_eq!(
            p.check_url("http://127.0.0.1:40123/2010-04-01/x", &[]),
            Ok(("127.0.0.1".into(), 40123))
        );
        assert_eq!(
            p.check_url("http://mock.internal:8081/", &[]),
            Ok(("mock.internal".into(), 8081))
        );
        assert!(p.check_url("http://mock.internal:8082/", &[]).is_err());
        assert!(
            p.check_resolved("127.0.0.1", "127.0.0.1:40123".parse().unwrap())
                .is_ok()
        );
        assert!(
            p.check_resolved("mock.internal", "10.0.0.9:8081".parse().unwrap())
                .is_ok()
        );
    }
}
