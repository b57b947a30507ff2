//! `scribed pair`: pairs a browser (a phone, typically) with a daemon that requires a token.
//! It prints the pairing link, whose fragment carries the token (a browser never sends the
//! fragment to a server, so the token reaches no access log; the web UI trades it for its
//! pairing cookie and clears the address bar), and the same link as a QR code to scan.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use anyhow::{Context, Result, bail};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use url::Url;

use crate::{Config, data_dir_lock};

/// A documentation address (TEST-NET-1): "connecting" a UDP socket to it sends nothing but
/// makes the OS pick the interface and address it would route through.
const ROUTE_PROBE: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 0, 2, 1), 9);

/// The link and its QR code, for the daemon at `url` (default: the one running on the
/// config's data dir).
pub fn pair(config: &Config, url: Option<&str>) -> Result<String> {
    let data_dir = config.data_dir()?;
    let url = match url {
        Some(url) => url.to_string(),
        None => data_dir_lock::running_url(&data_dir)?.with_context(|| {
            format!("no daemon is running on {}; start `scribed serve`, or pass --url", data_dir.display())
        })?,
    };
    let Some(token) = super::read_token(&data_dir) else {
        bail!(
            "{} holds no API token: this daemon does not require one (it listens on loopback with \
             server.auth = \"auto\"); open {url} directly",
            data_dir.join(crate::daemon::TOKEN_FILE).display()
        );
    };
    let link = pairing_link(&url, &token, lan_address)?;
    let code = QrCode::new(link.as_bytes()).context("encoding the link as a QR code")?;
    // Light modules drawn, dark ones left blank: reads right on the usual dark terminal.
    let picture = code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).build();
    Ok(format!(
        "Open this link on the browser to pair, or scan the code. It carries the API token: \
         keep it to yourself.\n\n{link}\n\n{picture}\n"
    ))
}

/// `url` with `#pair=TOKEN`; an unspecified host (a daemon listening on every interface)
/// becomes this machine's address on the network, which a phone can reach.
fn pairing_link(url: &str, token: &str, lan: impl FnOnce() -> Option<IpAddr>) -> Result<String> {
    let mut url = Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    let unspecified = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_unspecified(),
        _ => false,
    };
    if unspecified {
        let ip = lan().context("this machine's network address is unknown; pass --url http://HOST:PORT/")?;
        url.set_ip_host(ip).map_err(|()| anyhow::anyhow!("cannot put {ip} in {url}"))?;
    }
    url.set_fragment(Some(&format!("pair={token}")));
    Ok(url.to_string())
}

/// The address this machine would use to reach the network, without sending anything.
fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(ROUTE_PROBE).ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        let lan = || Some(IpAddr::from([192, 168, 1, 20]));
        let cases = [
            ("http://127.0.0.1:8737/", "http://127.0.0.1:8737/#pair=abc"),
            ("http://0.0.0.0:8737/", "http://192.168.1.20:8737/#pair=abc"),
            ("http://[::]:8737/", "http://192.168.1.20:8737/#pair=abc"),
            ("http://scribe.lan:8737", "http://scribe.lan:8737/#pair=abc"),
        ];
        for (url, want) in cases {
            assert_eq!(pairing_link(url, "abc", lan).expect("link"), want, "{url}");
        }
        assert!(pairing_link("http://0.0.0.0:1/", "abc", || None).is_err());
        assert!(pairing_link("not a url", "abc", lan).is_err());
    }
}
