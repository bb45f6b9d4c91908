//! The local certificate authority: created on first use under
//! `$BRANCHYARD_HOME/ca` (its key mode 0600, never copied into a container),
//! issuing short-lived ECDSA P-256 leaf certificates for preview host names,
//! and installing itself where this platform's browsers look.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::Code;

/// How long a leaf certificate lives; the engine renews it before expiry.
pub const LEAF_DAYS: i64 = 30;
/// A leaf is renewed when it has less than this left.
pub const RENEW_WITHIN_DAYS: i64 = 10;
/// How long the CA lives.
const CA_DAYS: i64 = 3650;
/// Where `trust` puts the CA on Debian-like systems.
const SYSTEM_CA: &str = "/usr/local/share/ca-certificates/branchyard-local-ca.crt";

/// Errors from the local CA.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Files under `$BRANCHYARD_HOME/ca`.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        message: String,
    },
    /// Certificate generation.
    #[error("certificate: {0}")]
    Cert(String),
    /// Installing or removing trust failed.
    #[error("{0}")]
    Trust(String),
}

impl TlsError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        Code::Internal
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TlsError + '_ {
    move |e| TlsError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn cert_err(e: rcgen::Error) -> TlsError {
    TlsError::Cert(e.to_string())
}

/// The CA's subject: the same every time it is loaded (leaves name it as issuer).
fn ca_params(cn: &str) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "Branchyard");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// A leaf certificate and its key, PEM.
#[derive(Clone, Serialize, Deserialize)]
pub struct Leaf {
    /// The host name it is for.
    pub host: String,
    /// Leaf certificate followed by the CA certificate.
    pub chain_pem: String,
    /// The leaf's private key.
    pub key_pem: String,
    /// Expiry (Unix seconds).
    pub not_after: i64,
}

impl std::fmt::Debug for Leaf {
    // By hand: the key must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf")
            .field("host", &self.host)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The local CA.
pub struct LocalCa {
    dir: PathBuf,
    key: KeyPair,
    cn: String,
    cert_pem: String,
}

impl LocalCa {
    /// Loads the CA under `home/ca`, creating it on first use.
    ///
    /// # Errors
    /// Unreadable or unwritable files, or a corrupt key.
    pub fn load_or_create(home: &Path) -> Result<Self, TlsError> {
        let dir = home.join("ca");
        let (key_path, cert_path, cn_path) =
            (dir.join("ca.key"), dir.join("ca.pem"), dir.join("ca.cn"));
        if key_path.exists() && cert_path.exists() && cn_path.exists() {
            let key =
                KeyPair::from_pem(&std::fs::read_to_string(&key_path).map_err(io(&key_path))?)
                    .map_err(cert_err)?;
            return Ok(LocalCa {
                cn: std::fs::read_to_string(&cn_path)
                    .map_err(io(&cn_path))?
                    .trim()
                    .to_string(),
                cert_pem: std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?,
                key,
                dir,
            });
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // A unique name per machine and home, so two CAs are never confused.
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let cn = format!(
            "Branchyard local CA ({} {})",
            host.trim(),
            &hex::encode(rand::random::<[u8; 4]>())
        );
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let mut params = ca_params(&cn)?;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(CA_DAYS);
        let cert = params.self_signed(&key).map_err(cert_err)?;
        write_private(&key_path, &key.serialize_pem())?;
        std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
        std::fs::write(&cn_path, &cn).map_err(io(&cn_path))?;
        Ok(LocalCa {
            dir,
            key,
            cn,
            cert_pem: cert.pem(),
        })
    }

    /// The CA certificate file (what `branchyard ca path` prints).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a leaf for `host` (SAN = host), valid [`LEAF_DAYS`] days.
    ///
    /// # Errors
    /// A host name rcgen refuses.
    pub fn issue(&self, host: &str) -> Result<Leaf, TlsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let mut p = CertificateParams::new(vec![host.to_string()]).map_err(cert_err)?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, host);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(LEAF_DAYS);
        let issuer = Issuer::new(ca_params(&self.cn)?, &self.key);
        let cert = p.signed_by(&key, &issuer).map_err(cert_err)?;
        Ok(Leaf {
            host: host.to_string(),
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
            not_after: p.not_after.unix_timestamp(),
        })
    }
}

impl LocalCa {
    /// The leaf for `host` kept under `ca/leaves` (key mode 0600), issued anew
    /// when missing, unreadable, for another CA, or with less than
    /// `renew_within` left; `(leaf, whether it was issued now)`.
    ///
    /// # Errors
    /// Files that cannot be written, or a host name rcgen refuses.
    pub fn leaf(&self, host: &str, renew_within: Duration) -> Result<(Leaf, bool), TlsError> {
        let dir = self.dir.join("leaves");
        let path = dir.join(format!("{host}.json"));
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let cached = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Leaf>(&t).ok())
            .filter(|l| {
                l.host == host
                    && l.chain_pem.ends_with(&self.cert_pem)
                    && l.not_after - now > renew_within.whole_seconds()
            });
        if let Some(l) = cached {
            return Ok((l, false));
        }
        let leaf = self.issue(host)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let text = serde_json::to_string(&leaf).map_err(|e| TlsError::Cert(e.to_string()))?;
        write_private(&path, &text)?;
        Ok((leaf, true))
    }

    /// Deletes the kept leaf of `host` (its route is gone).
    pub fn forget_leaf(&self, host: &str) {
        let _ = std::fs::remove_file(self.dir.join("leaves").join(format!("{host}.json")));
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

/// What `trust`/`untrust` did, and what the user must do by hand.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrustReport {
    /// Stores changed.
    pub done: Vec<String>,
    /// Steps left to the user.
    pub manual: Vec<String>,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// NSS databases Chromium and Firefox read (Linux).
fn nss_dbs() -> Vec<PathBuf> {
    let Some(home) = dirs::home_dir() else {
        return Vec::new();
    };
    let mut dbs = vec![home.join(".pki/nssdb")];
    for profiles in [
        home.join(".mozilla/firefox"),
        home.join("snap/firefox/common/.mozilla/firefox"),
    ] {
        if let Ok(rd) = std::fs::read_dir(profiles) {
            dbs.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("cert9.db").exists()),
            );
        }
    }
    dbs.into_iter().filter(|d| d.exists()).collect()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Installs the CA where this platform allows, and says what is left to do.
///
/// # Errors
/// Only when nothing could be done and no manual step is known.
pub fn trust(ca: &LocalCa) -> Result<TrustReport, TlsError> {
    let mut r = TrustReport::default();
    let pem = ca.cert_path();
    if cfg!(target_os = "macos") {
        match run(Command::new("security").args(["add-trusted-cert", "-d", "-r", "trustRoot", "-k", "/Library/Keychains/System.keychain"]).arg(&pem)) {
            Ok(()) => r.done.push("macOS system keychain".into()),
            Err(e) => r.manual.push(format!("sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {} ({e})", pem.display())),
        }
        return Ok(r);
    }
    if have("update-ca-certificates") {
        let installed = std::fs::copy(&pem, SYSTEM_CA)
            .map_err(|e| e.to_string())
            .and_then(|_| run(&mut Command::new("update-ca-certificates")));
        match installed {
            Ok(()) => r.done.push(format!("system store ({SYSTEM_CA})")),
            Err(e) => r.manual.push(format!(
                "sudo cp {} {SYSTEM_CA} && sudo update-ca-certificates ({e})",
                pem.display()
            )),
        }
    } else {
        r.manual.push(format!(
            "add {} to your system's trusted certificates",
            pem.display()
        ));
    }
    let dbs = nss_dbs();
    if !dbs.is_empty() && have("certutil") {
        for db in dbs {
            let arg = format!("sql:{}", db.display());
            match run(Command::new("certutil")
                .args(["-A", "-d", &arg, "-t", "C,,", "-n", &ca.cn, "-i"])
                .arg(&pem))
            {
                Ok(()) => r.done.push(format!("NSS database {}", db.display())),
                Err(e) => r.manual.push(format!(
                    "certutil -A -d {arg} -t C,, -n '{}' -i {} ({e})",
                    ca.cn,
                    pem.display()
                )),
            }
        }
    } else if !dbs.is_empty() {
        r.manual.push(format!("install `certutil` (Debian: libnss3-tools) and run `branchyard ca trust` again, or import {} in your browser's certificate settings", pem.display()));
    }
    Ok(r)
}

/// Removes the CA from the stores `trust` installed it in.
///
/// # Errors
/// Only when nothing could be done and no manual step is known.
pub fn untrust(ca: &LocalCa) -> Result<TrustReport, TlsError> {
    let mut r = TrustReport::default();
    if cfg!(target_os = "macos") {
        match run(Command::new("security").args(["delete-certificate", "-c", &ca.cn])) {
            Ok(()) => r.done.push("macOS keychain".into()),
            Err(e) => r.manual.push(format!(
                "sudo security delete-certificate -c '{}' ({e})",
                ca.cn
            )),
        }
        return Ok(r);
    }
    if Path::new(SYSTEM_CA).exists() {
        match std::fs::remove_file(SYSTEM_CA)
            .map_err(|e| e.to_string())
            .and_then(|_| run(Command::new("update-ca-certificates").arg("--fresh")))
        {
            Ok(()) => r.done.push("system store".into()),
            Err(e) => r.manual.push(format!(
                "sudo rm {SYSTEM_CA} && sudo update-ca-certificates --fresh ({e})"
            )),
        }
    }
    if have("certutil") {
        for db in nss_dbs() {
            let arg = format!("sql:{}", db.display());
            if run(Command::new("certutil").args(["-D", "-d", &arg, "-n", &ca.cn])).is_ok() {
                r.done.push(format!("NSS database {}", db.display()));
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_ca_is_made_once_with_a_private_key_and_issues_leaves_that_verify() {
        let home = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(home.path()).unwrap();
        let mode = std::fs::metadata(home.path().join("ca/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the CA key is private");
        let again = LocalCa::load_or_create(home.path()).unwrap();
        assert_eq!(again.cert_pem(), ca.cert_pem(), "loaded, not recreated");

        let leaf = again.issue("main.shop.localhost").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let leaf_path = dir.path().join("leaf.pem");
        let first = leaf
            .chain_pem
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap()
            .to_string()
            + "-----END CERTIFICATE-----\n";
        std::fs::write(&leaf_path, first).unwrap();
        let out = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(ca.cert_path())
            .args([
                "-verify_hostname",
                "main.shop.localhost",
                "-purpose",
                "sslserver",
            ])
            .arg(&leaf_path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let bad = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(ca.cert_path())
            .args(["-verify_hostname", "other.shop.localhost"])
            .arg(&leaf_path)
            .output()
            .unwrap();
        assert!(
            !bad.status.success(),
            "a leaf is only good for its own host"
        );
        assert!(leaf.not_after - OffsetDateTime::now_utc().unix_timestamp() <= LEAF_DAYS * 86400);
    }

    #[test]
    fn a_kept_leaf_is_reused_until_it_nears_expiry_then_renewed() {
        let home = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(home.path()).unwrap();
        let window = Duration::days(RENEW_WITHIN_DAYS);
        let (first, issued) = ca.leaf("main.shop.localhost", window).unwrap();
        assert!(issued, "no leaf yet: one is issued");
        let (again, issued) = ca.leaf("main.shop.localhost", window).unwrap();
        assert!(!issued, "a fresh leaf is reused");
        assert_eq!(again.chain_pem, first.chain_pem);
        let mode = std::fs::metadata(home.path().join("ca/leaves/main.shop.localhost.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a kept leaf's key is private");
        // A window longer than the leaf lives: it is always due.
        let (renewed, issued) = ca
            .leaf("main.shop.localhost", Duration::days(LEAF_DAYS + 1))
            .unwrap();
        assert!(issued, "a leaf close to expiry is renewed");
        assert_ne!(renewed.key_pem, first.key_pem, "with a new key");
        let (other, _) = ca.leaf("feature-x.shop.localhost", window).unwrap();
        assert_ne!(other.chain_pem, renewed.chain_pem, "one leaf per host");
    }
}
