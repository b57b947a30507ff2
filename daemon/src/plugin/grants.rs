//! The one place where a plugin's capabilities are granted and checked.
//!
//! A capability is usable only when the plugin's manifest asks for it **and** the operator's
//! config grants it. Outbound URLs are matched on exact scheme, host and port; IP literals,
//! loopback, link-local, private and other special addresses are refused unless the grant
//! names that host explicitly, and the same address rules apply to what a name resolves to
//! (see [`Grants::address_allowed`], used by the host's DNS resolver), so neither an IP
//! literal nor a rebinding name can reach the daemon itself or the cloud metadata service.

use std::collections::BTreeSet;
use std::net::IpAddr;

use url::{Host, Url};

use super::manifest::Manifest;
use crate::config::PluginConfig;

/// An origin: scheme, lower-case host, port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is allowed; any other path is not).
    pub fn parse_rule(rule: &str) -> Result<Origin, String> {
        let url = Url::parse(rule).map_err(|err| format!("{rule:?} is not a URL: {err}"))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || !url.username().is_empty()
        {
            return Err(format!("{rule:?} must be scheme://host[:port] with no path"));
        }
        Origin::of(&url).ok_or_else(|| format!("{rule:?} has no host or an unsupported scheme"))
    }

    /// The origin of a URL, for the schemes plugins may use.
    pub fn of(url: &Url) -> Option<Origin> {
        let scheme = url.scheme();
        if !matches!(scheme, "http" | "https" | "ws" | "wss") {
            return None;
        }
        let host = match url.host()? {
            Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => format!("[{ip}]"),
        };
        Some(Origin { scheme: scheme.to_string(), host, port: url.port_or_known_default()? })
    }

    pub fn to_url_string(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Why a capability was refused. The message names the config key that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// A plugin's effective capabilities.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    plugin_id: String,
    outbound: BTreeSet<Origin>,
    /// Granted hosts that are themselves special (IP literals, localhost): connecting to them,
    /// and to what they resolve to, is allowed because the operator named them.
    explicit_special_hosts: BTreeSet<String>,
    sqlite: bool,
    postgres: bool,
}

/// Result of checking a manifest against the operator's config.
#[derive(Debug)]
pub struct GrantReport {
    pub grants: Grants,
    /// Problems that prevent loading.
    pub errors: Vec<String>,
    /// Requests of the manifest the operator has not granted (logged; the plugin loads and
    /// gets a denial when it tries).
    pub ungranted: Vec<String>,
}

impl Grants {
    /// Intersects what the manifest asks for with what the operator grants.
    pub fn configure(manifest: &Manifest, config: &PluginConfig) -> GrantReport {
        let id = &manifest.id;
        let mut errors = Vec::new();
        let mut ungranted = Vec::new();
        let parse_all = |rules: &[String], key: &str, errors: &mut Vec<String>| {
            let mut set = BTreeSet::new();
            for (index, rule) in rules.iter().enumerate() {
                match Origin::parse_rule(rule) {
                    Ok(origin) => {
                        set.insert(origin);
                    }
                    Err(err) => errors.push(format!("{key}[{index}]: {err}")),
                }
            }
            set
        };
        let mut asked = parse_all(&manifest.outbound_hosts, "plugin.toml outbound_hosts", &mut errors);
        for key in &manifest.outbound_hosts_from_settings {
            let Some(value) = config.settings.get(key) else { continue };
            let origin = value.as_str().and_then(|v| Url::parse(v).ok()).and_then(|u| Origin::of(&u));
            match origin {
                Some(origin) => {
                    asked.insert(origin);
                }
                None => errors.push(format!("plugins.{id}.settings.{key}: {value} is not an http(s) or ws(s) URL")),
            }
        }
        let granted = parse_all(
            &config.allow_outbound,
            &format!("plugins.{id}.allow_outbound"),
            &mut errors,
        );
        for origin in granted.difference(&asked) {
            errors.push(format!(
                "plugins.{id}.allow_outbound grants {} which the plugin's manifest does not ask for",
                origin.to_url_string()
            ));
        }
        for origin in asked.difference(&granted) {
            ungranted.push(format!(
                "plugin {id} asks for {} but plugins.{id}.allow_outbound does not grant it",
                origin.to_url_string()
            ));
        }
        if config.allow_sqlite && !manifest.sqlite {
            errors.push(format!(
                "plugins.{id}.allow_sqlite is set but the plugin's manifest does not ask for sqlite"
            ));
        }
        if manifest.sqlite && !config.allow_sqlite {
            ungranted.push(format!(
                "plugin {id} asks for sqlite but plugins.{id}.allow_sqlite is not set"
            ));
        }
        if config.postgres_url.is_some() && !manifest.postgres {
            errors.push(format!(
                "plugins.{id}.postgres_url is set but the plugin's manifest does not ask for postgres"
            ));
        }
        if manifest.postgres && config.postgres_url.is_none() {
            ungranted.push(format!(
                "plugin {id} asks for postgres but plugins.{id}.postgres_url is not set"
            ));
        }
        for (index, credential) in config.credentials.iter().enumerate() {
            match Origin::parse_rule(&credential.origin) {
                Ok(origin) if !granted.contains(&origin) => errors.push(format!(
                    "plugins.{id}.credentials[{index}].origin {} is not in plugins.{id}.allow_outbound",
                    origin.to_url_string()
                )),
                Ok(_) => {}
                Err(err) => errors.push(format!("plugins.{id}.credentials[{index}].origin: {err}")),
            }
        }
        let outbound: BTreeSet<Origin> = asked.intersection(&granted).cloned().collect();
        let explicit_special_hosts = outbound
            .iter()
            .filter(|o| host_is_special(&o.host))
            .map(|o| o.host.clone())
            .collect();
        GrantReport {
            grants: Grants {
                plugin_id: id.clone(),
                outbound,
                explicit_special_hosts,
                sqlite: manifest.sqlite && config.allow_sqlite,
                postgres: manifest.postgres && config.postgres_url.is_some(),
            },
            errors,
            ungranted,
        }
    }

    /// The daemon's own outbound calls (webhooks) under `label`: `origins`, each with whether
    /// it may reach loopback and private addresses.
    pub fn for_daemon(label: &str, origins: impl IntoIterator<Item = (Origin, bool)>) -> Grants {
        let mut grants = Grants { plugin_id: label.to_string(), ..Grants::default() };
        for (origin, special) in origins {
            if special {
                grants.explicit_special_hosts.insert(origin.host.to_ascii_lowercase());
            }
            grants.outbound.insert(origin);
        }
        grants
    }

    /// Whether `url`'s host is an address literal that is special and not granted: such a
    /// host is connected to without a name lookup, so the resolver never sees it.
    pub fn literal_denied(&self, url: &Url) -> bool {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return false,
        };
        url.host_str().is_some_and(|host| !self.address_allowed(host, ip))
    }

    /// Checks an outbound URL. `Ok` gives the parsed URL and its origin.
    pub fn check_url(&self, raw: &str) -> Result<(Url, Origin), Denied> {
        let url = Url::parse(raw).map_err(|err| Denied(format!("{raw:?} is not a URL: {err}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Denied("URLs with user info are refused".into()));
        }
        let origin = Origin::of(&url)
            .ok_or_else(|| Denied(format!("{raw:?}: only http(s) and ws(s) URLs with a host")))?;
        if !self.outbound.contains(&origin) {
            return Err(Denied(format!(
                "{} is not granted to plugin {id}; to allow it, add \"{}\" to the plugin's \
                 manifest outbound_hosts and to plugins.{id}.allow_outbound",
                origin.to_url_string(),
                origin.to_url_string(),
                id = self.plugin_id
            )));
        }
        Ok((url, origin))
    }

    /// Whether a connection to `ip`, resolved from `host`, is allowed. Special addresses are
    /// reachable only through a host the operator granted explicitly by that name.
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> bool {
        !ip_is_special(ip) || self.explicit_special_hosts.contains(&host.to_ascii_lowercase())
    }

    pub fn sqlite(&self) -> Result<(), Denied> {
        if self.sqlite {
            Ok(())
        } else {
            Err(Denied(format!(
                "sqlite is not granted to plugin {id}; set plugins.{id}.allow_sqlite = true \
                 and sqlite = true in its manifest",
                id = self.plugin_id
            )))
        }
    }

    pub fn postgres(&self) -> Result<(), Denied> {
        if self.postgres {
            Ok(())
        } else {
            Err(Denied(format!(
                "postgres is not granted to plugin {id}; set plugins.{id}.postgres_url \
                 and postgres = true in its manifest",
                id = self.plugin_id
            )))
        }
    }

    pub fn postgres_granted(&self) -> bool {
        self.postgres
    }

    /// Granted origins, for the API.
    pub fn outbound(&self) -> impl Iterator<Item = &Origin> {
        self.outbound.iter()
    }

    pub fn sqlite_granted(&self) -> bool {
        self.sqlite
    }
}

/// Hosts that are IP literals or loopback names.
fn host_is_special(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok() || host == "localhost" || host.ends_with(".localhost")
}

/// Addresses a plugin must not reach without an explicit grant: loopback, private,
/// link-local (cloud metadata), unspecified, multicast, CGNAT, unique-local and mapped forms.
pub fn ip_is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
                || a == 0
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(mapped) = v6.to_ipv4_mapped() {
                return ip_is_special(IpAddr::V4(mapped));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::manifest::World;

    fn grants(asked: &[&str], granted: &[&str]) -> GrantReport {
        grants_with(asked, granted, "")
    }

    fn grants_with(asked: &[&str], granted: &[&str], settings: &str) -> GrantReport {
        let manifest = Manifest { outbound_hosts_from_settings: vec!["base_url".into()], ..Manifest::asking_for(World::SttBatch, asked) };
        let config: PluginConfig = toml::from_str(&format!(
            "allow_outbound = [{}]\n[settings]\n{settings}",
            granted.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(",")
        ))
        .expect("config");
        Grants::configure(&manifest, &config)
    }

    #[test]
    fn url_checks() {
        let report = grants(
            &["https://api.deepgram.com", "http://127.0.0.1:9000", "https://other.example"],
            &["https://api.deepgram.com", "http://127.0.0.1:9000"],
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.ungranted.len(), 1, "other.example asked, not granted");
        let g = report.grants;
        let cases = [
            ("https://api.deepgram.com/v1/listen?x=1", true),
            ("https://API.Deepgram.com./v1/listen", true),
            ("https://api.deepgram.com:443/", true),
            ("https://api.deepgram.com:8443/", false), // other port
            ("http://api.deepgram.com/", false),       // other scheme
            ("https://api.deepgram.com.evil.example/", false),
            ("https://user@api.deepgram.com/", false),
            ("https://other.example/", false), // asked but not granted
            ("http://127.0.0.1:9000/x", true), // explicitly granted literal
            ("http://127.0.0.1:9001/x", false),
            ("http://169.254.169.254/latest/meta-data", false),
            ("http://[::1]:9000/", false),
            ("file:///etc/passwd", false),
            ("/relative", false),
        ];
        for (url, allowed) in cases {
            assert_eq!(g.check_url(url).is_ok(), allowed, "{url}");
        }
    }

    #[test]
    fn address_rules() {
        let g = grants(&["https://api.example", "http://localhost:1"], &["https://api.example", "http://localhost:1"]).grants;
        let cases: &[(&str, &str, bool)] = &[
            ("api.example", "93.184.216.34", true),
            ("api.example", "127.0.0.1", false),
            ("api.example", "10.1.2.3", false),
            ("api.example", "192.168.1.1", false),
            ("api.example", "169.254.169.254", false),
            ("api.example", "100.64.0.1", false),
            ("api.example", "::1", false),
            ("api.example", "::ffff:127.0.0.1", false),
            ("api.example", "fd00::1", false),
            ("api.example", "2606:4700::1", true),
            ("localhost", "127.0.0.1", true),
        ];
        for (host, ip, allowed) in cases {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(g.address_allowed(host, ip), *allowed, "{host} -> {ip}");
        }
    }

    #[test]
    fn hosts_from_settings() {
        let fake = "http://127.0.0.1:4010";
        // The operator points base_url at a local server and grants it: reachable.
        let report = grants_with(&[], &[fake], &format!("base_url = \"{fake}/v1\""));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert!(report.grants.check_url("http://127.0.0.1:4010/v1/listen").is_ok());
        // Set but not granted: asked for, not reachable.
        let report = grants_with(&[], &[], &format!("base_url = \"{fake}\""));
        assert_eq!(report.ungranted.len(), 1);
        assert!(report.grants.check_url("http://127.0.0.1:4010/v1/listen").is_err());
        // Not a URL: a config error naming the key.
        let report = grants_with(&[], &[], "base_url = \"nope\"");
        assert!(report.errors.iter().any(|e| e.contains("plugins.p.settings.base_url")), "{:?}", report.errors);
    }

    #[test]
    fn config_errors_are_all_reported() {
        let report = grants(&["https://a.example"], &["https://b.example", "not a url", "https://a.example/path"]);
        assert_eq!(report.errors.len(), 3, "{:?}", report.errors);
        assert!(report.errors.iter().any(|e| e.contains("plugins.p.allow_outbound grants https://b.example:443")));
    }
}
