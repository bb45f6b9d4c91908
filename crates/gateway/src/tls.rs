//! HTTPS: each host's leaf chosen by SNI from the route table, and a
//! self-signed fallback for every other name, so an unknown SNI never sees
//! another preview's certificate.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::routes::{RouteTable, RouteTls};

/// The name on the fallback certificate: it matches no preview.
pub const FALLBACK_NAME: &str = "unknown-host.branchyard.invalid";

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The PEM held no certificate, or it did not parse.
    #[error("tls.cert_pem holds no usable certificate: {0}")]
    Cert(String),
    /// The key did not parse or is of a kind rustls cannot sign with.
    #[error("tls.key_pem is not a usable PKCS#8 key: {0}")]
    Key(String),
    /// The fallback certificate could not be made.
    #[error("cannot make the fallback certificate: {0}")]
    Fallback(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Parses a route's leaf chain and key into what rustls serves.
///
/// # Errors
/// When the PEM does not parse or the key does not match a supported algorithm.
pub fn certified_key(pair: &RouteTls) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Cert(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Cert("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes())
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let ck = CertifiedKey::new(certs, signer);
    // A leaf whose key is another's would fail every handshake: refuse it now.
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(e) => Err(TlsError::Key(e.to_string())),
    }
}

/// A fresh self-signed certificate for [`FALLBACK_NAME`].
///
/// # Errors
/// When key generation fails.
pub fn fallback() -> Result<CertifiedKey, TlsError> {
    let made = rcgen::generate_simple_self_signed(vec![FALLBACK_NAME.to_string()])
        .map_err(|e| TlsError::Fallback(e.to_string()))?;
    let pair = RouteTls {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
    };
    certified_key(&pair)
}

/// Chooses the certificate by SNI from the live table.
#[derive(Debug)]
pub struct SniResolver {
    table: RouteTable,
    fallback: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = hello
            .server_name()
            .and_then(|name| self.table.lookup(name))
            .and_then(|live| live.cert.clone());
        Some(found.unwrap_or_else(|| self.fallback.clone()))
    }
}

/// The server configuration: SNI resolver, ALPN `h2` then `http/1.1`, ring.
///
/// # Errors
/// When the fallback certificate cannot be made.
pub fn server_config(table: RouteTable) -> Result<Arc<ServerConfig>, TlsError> {
    let resolver = SniResolver {
        table,
        fallback: Arc::new(fallback()?),
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The SNI of a connection when it names a host with its own certificate.
pub fn served_name(table: &RouteTable, sni: Option<&str>) -> Option<String> {
    let name = sni?;
    let live = table.lookup(name)?;
    live.cert.as_ref()?;
    Some(live.route.host.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pair(name: &str) -> RouteTls {
        let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        RouteTls {
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
        }
    }

    #[test]
    fn a_leaf_with_its_own_key_parses_and_one_with_another_key_is_refused() {
        let a = pair("a.r.localhost");
        let b = pair("b.r.localhost");
        assert!(certified_key(&a).is_ok());
        let mixed = RouteTls {
            cert_pem: a.cert_pem,
            key_pem: b.key_pem,
        };
        let e = certified_key(&mixed).unwrap_err();
        assert!(matches!(e, TlsError::Key(_)), "{e}");
    }

    #[test]
    fn the_fallback_names_no_preview() {
        let fb = fallback().unwrap();
        let mut found = false;
        for c in fb.cert.iter() {
            found |= c
                .as_ref()
                .windows(FALLBACK_NAME.len())
                .any(|w| w == FALLBACK_NAME.as_bytes());
        }
        assert!(found, "the fallback certificate is for {FALLBACK_NAME}");
    }
}
