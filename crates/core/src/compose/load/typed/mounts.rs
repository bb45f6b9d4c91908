//! `ports:`/`expose:` (container side only: previews never publish) and
//! `volumes:` in their short and long forms.

use serde_norway::Value;

use super::Ctx;
use crate::compose::error::ComposeError;
use crate::compose::load::merge::scalar;
use crate::compose::model::Mount;

/// Long-form `ports:` keys.
const PORT_KEYS: &[&str] = &[
    "target",
    "published",
    "host_ip",
    "protocol",
    "mode",
    "name",
    "app_protocol",
];
/// Long-form `volumes:` keys.
const VOLUME_KEYS: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "bind",
    "volume",
    "tmpfs",
    "consistency",
];
/// Short-form volume modes; only `ro`/`rw` change anything on a preview.
const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "nocopy",
    "cached",
    "delegated",
    "consistent",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
];

/// A port range is expanded; beyond this many ports it is surely a mistake.
const MAX_RANGE: u32 = 1000;

/// Container TCP ports of `ports:` or `expose:` (UDP ports are never routed, so left out).
pub fn ports(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<Vec<u16>, ComposeError> {
    let items = match v {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for item in &items {
        let (spec, protocol) = match item {
            Value::Mapping(m) => {
                ctx.only(key, m, PORT_KEYS)?;
                let target = m.get("target").and_then(scalar).ok_or_else(|| {
                    ctx.invalid(key, "the long form needs `target:` (the container port)")
                })?;
                (
                    target,
                    m.get("protocol")
                        .and_then(scalar)
                        .unwrap_or_else(|| "tcp".into()),
                )
            }
            other => {
                let s = ctx.string(key, other)?;
                // "127.0.0.1:8080:80/tcp", "[::1]:8080:80": the container side is after the last colon.
                let container = s.rsplit(':').next().unwrap_or(&s).to_string();
                match container.split_once('/') {
                    Some((p, proto)) => (p.to_string(), proto.to_string()),
                    None => (container, "tcp".to_string()),
                }
            }
        };
        if protocol.eq_ignore_ascii_case("udp") || protocol.eq_ignore_ascii_case("sctp") {
            continue;
        }
        for p in range(ctx, key, &spec)? {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// `80` or `3000-3005`.
fn range(ctx: &Ctx<'_>, key: &str, spec: &str) -> Result<Vec<u16>, ComposeError> {
    let bad = || {
        ctx.invalid(
            key,
            format!("{spec:?} is not a port (1-65535) or a range like 3000-3005"),
        )
    };
    let port = |s: &str| s.trim().parse::<u16>().ok().filter(|p| *p > 0);
    match spec.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a).ok_or_else(bad)?, port(b).ok_or_else(bad)?);
            if b < a || u32::from(b - a) >= MAX_RANGE {
                return Err(bad());
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![port(spec).ok_or_else(bad)?]),
    }
}

/// `volumes:` of a service.
pub fn volumes(ctx: &Ctx<'_>, v: &Value) -> Result<Vec<Mount>, ComposeError> {
    let Value::Sequence(items) = v else {
        return Err(ctx.invalid("volumes", "expected a list"));
    };
    items.iter().map(|item| volume(ctx, item)).collect()
}

fn target(ctx: &Ctx<'_>, t: &str) -> Result<String, ComposeError> {
    if !t.starts_with('/') {
        return Err(ctx.invalid(
            "volumes",
            format!("the container path {t:?} must be absolute"),
        ));
    }
    Ok(t.to_string())
}

fn is_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

fn volume(ctx: &Ctx<'_>, v: &Value) -> Result<Mount, ComposeError> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (source, t, mode) = match parts.as_slice() {
                [t] => {
                    return Ok(Mount::Anonymous {
                        target: target(ctx, t)?,
                    })
                }
                [s, t] => (*s, *t, ""),
                [s, t, m] => (*s, *t, *m),
                _ => {
                    return Err(
                        ctx.invalid("volumes", format!("{s:?} is not `source:target[:mode]`"))
                    )
                }
            };
            let modes: Vec<&str> = mode.split(',').filter(|m| !m.is_empty()).collect();
            if let Some(m) = modes.iter().find(|m| !VOLUME_MODES.contains(m)) {
                return Err(ctx.invalid(
                    "volumes",
                    format!(
                        "{s:?}: mode {m:?} is not one of {}",
                        VOLUME_MODES.join(", ")
                    ),
                ));
            }
            let read_only = modes.contains(&"ro");
            let target = target(ctx, t)?;
            if source.is_empty() {
                return Err(ctx.invalid("volumes", format!("{s:?} has an empty source")));
            }
            if is_path(source) {
                Ok(Mount::Bind {
                    source: ctx.path(source),
                    target,
                    read_only,
                })
            } else {
                Ok(Mount::Volume {
                    source: source.into(),
                    target,
                    read_only,
                })
            }
        }
        Value::Mapping(m) => {
            ctx.only("volumes", m, VOLUME_KEYS)?;
            let get = |k: &str| m.get(k).and_then(scalar);
            let target = target(
                ctx,
                &get("target")
                    .ok_or_else(|| ctx.invalid("volumes", "the long form needs `target:`"))?,
            )?;
            let read_only = m
                .get("read_only")
                .map(|v| ctx.bool("volumes.read_only", v))
                .transpose()?
                .unwrap_or(false);
            let kind = get("type").unwrap_or_else(|| "volume".into());
            // Options of the other kinds make no sense here, and unknown ones are refused by name.
            for (section, allowed) in [
                ("bind", &["create_host_path"][..]),
                ("volume", &["nocopy"][..]),
                ("tmpfs", &["size"][..]),
            ] {
                if let Some(opts) = m.get(section) {
                    if section != kind {
                        return Err(ctx.invalid(
                            "volumes",
                            format!("`{section}:` options on a {kind} mount"),
                        ));
                    }
                    if let Value::Mapping(opts) = opts {
                        ctx.only(&format!("volumes.{section}"), opts, allowed)?;
                    }
                }
            }
            match kind.as_str() {
                "volume" => Ok(match get("source") {
                    Some(source) => Mount::Volume {
                        source,
                        target,
                        read_only,
                    },
                    None => Mount::Anonymous { target },
                }),
                "bind" => {
                    let source = get("source")
                        .ok_or_else(|| ctx.invalid("volumes", "a bind mount needs `source:`"))?;
                    Ok(Mount::Bind {
                        source: ctx.path(&source),
                        target,
                        read_only,
                    })
                }
                "tmpfs" => {
                    let size = m.get("tmpfs").and_then(|t| t.get("size"));
                    Ok(Mount::Tmpfs {
                        target,
                        size: size
                            .map(|s| ctx.size("volumes.tmpfs.size", s))
                            .transpose()?,
                    })
                }
                other => Err(ctx.invalid(
                    "volumes",
                    format!("mount type {other:?} is not supported (volume, bind, tmpfs)"),
                )),
            }
        }
        _ => Err(ctx.invalid("volumes", "expected a string or a mapping")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::tests::with;
    use super::*;

    fn p(key: &str, yaml: &str) -> Result<Vec<u16>, ComposeError> {
        with(yaml, |ctx, m| ports(ctx, key, &m[key]))
    }

    fn v(yaml: &str) -> Result<Vec<Mount>, ComposeError> {
        with(yaml, |ctx, m| volumes(ctx, &m["volumes"]))
    }

    #[test]
    fn ports_keep_the_container_side_of_every_short_form() {
        let got = p("ports", "ports: ['8080:80', '81', '127.0.0.1:8443:443/tcp', '[::1]:9000:90', '127.0.0.1::91', 92, '93/udp']\n").unwrap();
        assert_eq!(got, vec![80, 81, 443, 90, 91, 92], "udp is never routed");
    }

    #[test]
    fn ports_long_form_and_ranges() {
        assert_eq!(
            p(
                "ports",
                "ports: [{target: 80, published: '8080', host_ip: 127.0.0.1, mode: host}]\n"
            )
            .unwrap(),
            vec![80]
        );
        assert_eq!(
            p("ports", "ports: [{target: 53, protocol: udp}]\n").unwrap(),
            Vec::<u16>::new()
        );
        assert_eq!(
            p("expose", "expose: ['3000-3002', '4000/tcp']\n").unwrap(),
            vec![3000, 3001, 3002, 4000]
        );
        let e = p("ports", "ports: [{published: 8080}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ports") && e.contains("target"), "{e}");
        let e = p("ports", "ports: [{target: 80, ip: x}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ports.ip"), "{e}");
        assert!(p("expose", "expose: ['http']\n").is_err());
        assert!(p("expose", "expose: ['0']\n").is_err());
        assert!(p("expose", "expose: ['5-1']\n").is_err());
    }

    #[test]
    fn short_volumes_are_named_bind_or_anonymous() {
        let got = v(
            "volumes: ['data:/data:ro', './src:/src:rw,z', '/abs:/abs', '~/cache:/c', '/anon']\n",
        )
        .unwrap();
        assert_eq!(
            got[0],
            Mount::Volume {
                source: "data".into(),
                target: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(
            got[1],
            Mount::Bind {
                source: PathBuf::from("/nonexistent/project/src"),
                target: "/src".into(),
                read_only: false
            }
        );
        assert_eq!(
            got[2],
            Mount::Bind {
                source: PathBuf::from("/abs"),
                target: "/abs".into(),
                read_only: false
            }
        );
        assert!(
            matches!(&got[3], Mount::Bind { source, .. } if source.ends_with("cache") && source.is_absolute())
        );
        assert_eq!(
            got[4],
            Mount::Anonymous {
                target: "/anon".into()
            }
        );
    }

    #[test]
    fn long_volumes_cover_volume_bind_and_tmpfs() {
        let got = v(
            "volumes:\n  - {type: volume, source: data, target: /d, volume: {nocopy: true}}\n  - {type: bind, source: ./x, target: /x, read_only: true, bind: {create_host_path: true}}\n  \
             - {type: tmpfs, target: /t, tmpfs: {size: 64m}}\n  - {type: volume, target: /anon}\n",
        )
        .unwrap();
        assert_eq!(
            got[0],
            Mount::Volume {
                source: "data".into(),
                target: "/d".into(),
                read_only: false
            }
        );
        assert_eq!(
            got[1],
            Mount::Bind {
                source: PathBuf::from("/nonexistent/project/x"),
                target: "/x".into(),
                read_only: true
            }
        );
        assert_eq!(
            got[2],
            Mount::Tmpfs {
                target: "/t".into(),
                size: Some(64 * 1024 * 1024)
            }
        );
        assert_eq!(
            got[3],
            Mount::Anonymous {
                target: "/anon".into()
            }
        );
    }

    #[test]
    fn bad_volumes_name_what_is_wrong() {
        for (yaml, needle) in [
            ("volumes: ['data:relative']\n", "absolute"),
            ("volumes: ['a:/b:c:d']\n", "source:target"),
            ("volumes: ['a:/b:bogus']\n", "bogus"),
            ("volumes: [{type: npipe, source: x, target: /x}]\n", "npipe"),
            ("volumes: [{type: bind, target: /x}]\n", "source"),
            (
                "volumes: [{type: bind, source: ., target: /x, bind: {propagation: shared}}]\n",
                "volumes.bind.propagation",
            ),
            (
                "volumes: [{type: volume, source: d, target: /x, tmpfs: {size: 1}}]\n",
                "tmpfs",
            ),
            (
                "volumes: [{type: volume, source: d, target: /x, subpath: a}]\n",
                "volumes.subpath",
            ),
        ] {
            let e = v(yaml).unwrap_err().to_string();
            assert!(e.contains("\"web\"") && e.contains(needle), "{yaml}: {e}");
        }
    }
}
