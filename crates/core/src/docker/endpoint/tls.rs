//! TLS files checked before connecting (present, parseable, not expired, the
//! key belonging to the certificate), and handshake failures told in the docker
//! CLI's words ("certificate signed by unknown authority").

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::EndpointError;
use super::host::{Endpoint, TlsFiles};

/// Checks an endpoint's TLS files; an endpoint without TLS passes.
///
/// # Errors
/// [`EndpointError::TlsFiles`] naming the file, what is wrong and the fix.
pub fn check_files(endpoint: &Endpoint) -> Result<(), EndpointError> {
    let Some(tls) = &endpoint.tls else {
        return Ok(());
    };
    let fail = |file: &Path, problem: String, fix: &str| EndpointError::TlsFiles {
        host: endpoint.host.clone(),
        from: endpoint.source.to_string(),
        file: file.to_path_buf(),
        problem,
        fix: fix.to_string(),
    };
    let where_ = where_files_go(endpoint);
    if let Some(ca) = &tls.ca {
        let certs = read_certs(ca).map_err(|p| {
            fail(
                ca,
                p,
                &format!(
                    "put the CA certificate that signed the engine's certificate there ({where_})"
                ),
            )
        })?;
        for c in &certs {
            check_dates(c).map_err(|p| {
                fail(
                    ca,
                    p,
                    "get a current CA certificate from whoever runs the engine",
                )
            })?;
        }
    }
    if let Some(client) = &tls.client {
        for (file, other) in [(&client.cert, "key.pem"), (&client.key, "cert.pem")] {
            if !file.exists() {
                return Err(fail(
                    file,
                    format!("is missing ({other} is there)"),
                    &format!("a client certificate needs both cert.pem and key.pem ({where_})"),
                ));
            }
        }
        let certs = read_certs(&client.cert)
            .map_err(|p| fail(&client.cert, p, "put the client certificate (PEM) there"))?;
        check_dates(&certs[0]).map_err(|p| {
            fail(
                &client.cert,
                p,
                "issue a new client certificate with the engine's CA",
            )
        })?;
        let key = PrivateKeyDer::from_pem_file(&client.key).map_err(|e| {
            fail(
                &client.key,
                format!("is not a PEM private key ({e})"),
                "put the unencrypted key of cert.pem there (an encrypted key can be decrypted with `openssl pkey -in key.pem -out key.pem`)",
            )
        })?;
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider.key_provider.load_private_key(key).map_err(|e| {
            fail(
                &client.key,
                format!("cannot be used ({e})"),
                "use an RSA, ECDSA or Ed25519 key",
            )
        })?;
        let pair = rustls::sign::CertifiedKey::new(certs, signing);
        if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
            pair.keys_match()
        {
            return Err(fail(
                &client.key,
                "does not belong to cert.pem".into(),
                "put the key that cert.pem was issued for beside it",
            ));
        }
    }
    Ok(())
}

/// Where the user keeps this endpoint's TLS files, in words.
fn where_files_go(endpoint: &Endpoint) -> String {
    match endpoint.source.context() {
        Some(ctx) => format!("the files of docker context {ctx}"),
        None => "DOCKER_CERT_PATH, or the docker config directory".into(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    if !path.exists() {
        return Err("is missing".into());
    }
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot be read ({e})"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("is not PEM ({e})"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

fn check_dates(der: &CertificateDer<'_>) -> Result<(), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("is not a valid certificate ({e})"))?;
    let v = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > v.not_after {
        return Err(format!("expired on {}", v.not_after));
    }
    if now < v.not_before {
        return Err(format!(
            "is not valid before {} (check the clock)",
            v.not_before
        ));
    }
    Ok(())
}

/// A handshake failure in a bollard error, in words, with the fix; `None`
/// when the failure was not about TLS.
pub fn describe_handshake(e: &bollard::errors::Error, tls: &TlsFiles) -> Option<(String, String)> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let ca = match &tls.ca {
        Some(p) => p.display().to_string(),
        None => "the system's roots".into(),
    };
    if let Some(r) = find_rustls(e) {
        return Some(match r {
            R::InvalidCertificate(C::UnknownIssuer) => (
                format!("x509: certificate signed by unknown authority (the engine's certificate is not signed by the CA in {ca})"),
                "use the CA that signed the engine's certificate as ca.pem".into(),
            ),
            R::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => (
                "x509: certificate has expired (the engine's certificate)".into(),
                "renew the engine's server certificate".into(),
            ),
            R::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => (
                "x509: certificate is not valid yet (the engine's certificate)".into(),
                "check the clocks of both machines".into(),
            ),
            R::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => (
                "x509: certificate is not valid for this host name (the engine's certificate)".into(),
                "connect by a name or IP in the certificate's subjectAltName, or renew it with this one".into(),
            ),
            R::InvalidCertificate(other) => (
                format!("the engine's certificate is not accepted ({other:?})"),
                "renew the engine's server certificate".into(),
            ),
            R::AlertReceived(
                A::BadCertificate | A::CertificateRequired | A::UnknownCA | A::CertificateUnknown | A::AccessDenied,
            ) => client_refused(tls),
            R::InvalidMessage(_) | R::InappropriateMessage { .. } => (
                "the engine does not speak TLS at this address".into(),
                "use the engine's TLS port (usually 2376), or drop DOCKER_TLS_VERIFY for a plain one".into(),
            ),
            other => (format!("TLS failed ({other})"), "check the engine's TLS settings and these files".into()),
        });
    }
    // A server that refuses the client certificate under TLS 1.3 may just close
    // the connection once the handshake looked done.
    let text = chain_text(e);
    if text.contains("close_notify") || text.contains("unexpected EOF") {
        return Some(client_refused(tls));
    }
    None
}

fn client_refused(tls: &TlsFiles) -> (String, String) {
    match &tls.client {
        Some(c) => (
            format!(
                "the engine refused our client certificate {}",
                c.cert.display()
            ),
            "use a client certificate signed by the CA the engine trusts (its --tlscacert)".into(),
        ),
        None => (
            "the engine asks for a client certificate and there is none".into(),
            "put cert.pem and key.pem beside ca.pem".into(),
        ),
    }
}

/// The innermost message of the error's chain ("Connection refused (os error
/// 111)"): bollard wraps it in several layers that say nothing more.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    chain(e).pop().unwrap_or_default()
}

/// Every message in the error's chain, joined (bollard wraps the cause deeply).
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    chain(e).join(": ")
}

fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    causes(e).map(|c| c.to_string()).collect()
}

/// The rustls error inside a bollard error.
fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    causes(e).find_map(|c| c.downcast_ref::<rustls::Error>())
}

/// The error and every cause below it. `io::Error::source` skips the error it
/// wraps (where hyper puts rustls'), so descend through `get_ref` too.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |c| {
        match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as _),
            None => c.source(),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    use super::super::host::{ClientCert, EndpointSource};
    use super::*;

    struct Files {
        dir: tempfile::TempDir,
    }

    fn ca(days_ago_expired: Option<i64>) -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![]).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if let Some(d) = days_ago_expired {
            p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(d + 10);
            p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(d);
        }
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(p, key))
    }

    fn leaf(issuer: &Issuer<'_, KeyPair>, expired: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["client".into()]).unwrap();
        if expired {
            p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(20);
            p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        }
        (
            p.signed_by(&key, issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }

    fn files(ca_pem: &str, cert: Option<&str>, key: Option<&str>) -> (Files, Endpoint) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        if let Some(c) = cert {
            std::fs::write(dir.path().join("cert.pem"), c).unwrap();
        }
        if let Some(k) = key {
            std::fs::write(dir.path().join("key.pem"), k).unwrap();
        }
        let endpoint = Endpoint {
            host: "tcp://10.0.0.2:2376".into(),
            tls: Some(TlsFiles {
                ca: Some(dir.path().join("ca.pem")),
                // No client certificate when neither file is given.
                client: (cert.is_some() || key.is_some()).then(|| ClientCert {
                    cert: dir.path().join("cert.pem"),
                    key: dir.path().join("key.pem"),
                }),
            }),
            source: EndpointSource::DockerHost,
        };
        (Files { dir }, endpoint)
    }

    #[test]
    fn matching_files_pass() {
        let (ca_pem, issuer) = ca(None);
        let (cert, key) = leaf(&issuer, false);
        let (_f, e) = files(&ca_pem, Some(&cert), Some(&key));
        check_files(&e).unwrap();
    }

    #[test]
    fn a_missing_key_is_named_before_connecting() {
        let (ca_pem, issuer) = ca(None);
        let (cert, _) = leaf(&issuer, false);
        let (f, e) = files(&ca_pem, Some(&cert), None);
        let text = check_files(&e).unwrap_err().to_string();
        assert!(
            text.contains(&f.dir.path().join("key.pem").display().to_string())
                && text.contains("is missing"),
            "{text}"
        );
        assert!(
            text.contains("tcp://10.0.0.2:2376") && text.contains("DOCKER_HOST"),
            "{text}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (ca_pem, issuer) = ca(None);
        let (cert, _) = leaf(&issuer, false);
        let (_, other_key) = leaf(&issuer, false);
        let (_f, e) = files(&ca_pem, Some(&cert), Some(&other_key));
        let text = check_files(&e).unwrap_err().to_string();
        assert!(text.contains("does not belong to cert.pem"), "{text}");
    }

    #[test]
    fn expired_certificates_are_refused_with_their_date() {
        let (ca_pem, issuer) = ca(None);
        let (cert, key) = leaf(&issuer, true);
        let (_f, e) = files(&ca_pem, Some(&cert), Some(&key));
        let text = check_files(&e).unwrap_err().to_string();
        assert!(text.contains("cert.pem expired on"), "{text}");
        let (old_ca, _) = ca(Some(2));
        let (_f, e) = files(&old_ca, None, None);
        let text = check_files(&e).unwrap_err().to_string();
        assert!(text.contains("ca.pem expired on"), "{text}");
    }

    #[test]
    fn a_ca_file_that_is_not_a_certificate_is_refused() {
        let (_f, e) = files("not a pem", None, None);
        let text = check_files(&e).unwrap_err().to_string();
        assert!(text.contains("holds no PEM certificate"), "{text}");
    }
}
