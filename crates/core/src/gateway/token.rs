//! The admin token: 32 random bytes in hex, made once per Branchyard home and
//! kept in `<home>/gateway.token` (mode 0600), handed to the container by env.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rand::RngCore;

use super::GatewayError;

/// The file name under the home.
const FILE: &str = "gateway.token";

/// The token of `home`, made on first use. Creation is exclusive, so two
/// processes starting at once agree on one token.
///
/// # Errors
/// When the file cannot be written or read.
pub(super) fn ensure(home: &Path) -> Result<String, GatewayError> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.join(FILE);
    let io = |e: std::io::Error| GatewayError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(home).map_err(io)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let t = hex::encode(bytes);
            f.write_all(t.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok(t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process may be writing it this very moment.
            for _ in 0..50 {
                if let Some(t) = read(home)? {
                    return Ok(t);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(GatewayError::Io {
                path: path.display().to_string(),
                message: "the token file is empty or cut short: delete it and retry".into(),
            })
        }
        Err(e) => Err(io(e)),
    }
}

/// The token of `home` if it has a whole one; never makes one.
///
/// # Errors
/// When the file exists but cannot be read.
pub(super) fn read(home: &Path) -> Result<Option<String>, GatewayError> {
    let path = home.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 64 => Ok(Some(t.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(GatewayError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_private_and_then_reused() {
        let home = tempfile::tempdir().unwrap();
        let first = ensure(home.path()).unwrap();
        assert_eq!(first.len(), 64, "32 bytes in hex");
        assert_eq!(
            ensure(home.path()).unwrap(),
            first,
            "the same token on every call"
        );
        assert_eq!(read(home.path()).unwrap(), Some(first));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "only the user may read the token");
        }
    }
}
