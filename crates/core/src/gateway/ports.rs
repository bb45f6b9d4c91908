//! Ports on the host: the wanted one when free, else the first free fallback.

use std::net::TcpListener;

use super::GatewayError;

/// Fallbacks for the HTTP port: 8080, then 8081..=8099.
pub(super) fn http_fallbacks() -> impl Iterator<Item = u16> {
    std::iter::once(8080).chain(8081..8100)
}

/// Fallbacks for the HTTPS port: 8443, then 8444..=8463.
pub(super) fn https_fallbacks() -> impl Iterator<Item = u16> {
    std::iter::once(8443).chain(8444..8464)
}

/// The admin port when none is set.
pub(super) const ADMIN_DEFAULT: u16 = 2019;

/// Fallbacks for the default admin port.
pub(super) fn admin_fallbacks() -> impl Iterator<Item = u16> {
    2020..2040
}

/// Whether nothing listens on `127.0.0.1:port` (we could bind it).
pub(super) fn free(port: u16) -> bool {
    free_on("127.0.0.1", port)
}

/// Whether `ip:port` could be bound (`0.0.0.0` for every interface).
pub(super) fn free_on(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

/// `wanted` if free, else the first free of `fallbacks`.
///
/// # Errors
/// [`GatewayError::NoPort`] naming every port tried.
pub(super) fn pick(
    wanted: u16,
    fallbacks: impl IntoIterator<Item = u16>,
) -> Result<u16, GatewayError> {
    pick_on("127.0.0.1", "http_port", wanted, fallbacks)
}

/// [`pick`] on `ip`; `key` names the setting in the error.
///
/// # Errors
/// [`GatewayError::NoPort`] naming every port tried.
pub(super) fn pick_on(
    ip: &str,
    key: &str,
    wanted: u16,
    fallbacks: impl IntoIterator<Item = u16>,
) -> Result<u16, GatewayError> {
    let mut tried = vec![wanted];
    if free_on(ip, wanted) {
        return Ok(wanted);
    }
    for p in fallbacks {
        tried.push(p);
        if free_on(ip, p) {
            return Ok(p);
        }
    }
    Err(GatewayError::NoPort {
        ip: ip.to_string(),
        key: key.to_string(),
        tried: tried
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_falls_back_to_the_first_free_one() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let also_taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let next = also_taken.local_addr().unwrap().port();
        drop(also_taken);
        assert_eq!(pick(next, []).unwrap(), next, "a free wanted port is kept");
        assert_eq!(pick(port, [next]).unwrap(), next, "a taken one falls back");
        let err = pick(port, [port]).unwrap_err().to_string();
        assert!(
            err.contains(&port.to_string()),
            "the error names the ports tried: {err}"
        );
    }
}
