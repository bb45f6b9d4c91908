//! DNS-safe names for branches and repos: they become host-name labels.

use sha2::{Digest, Sha256};

/// The longest DNS label.
const MAX: usize = 63;

fn short_hash(s: &str, n: usize) -> String {
    let h = hex::encode(Sha256::digest(s.as_bytes()));
    h[..n].to_string()
}

/// Lowercase `[a-z0-9-]`, runs of anything else (and of `-`) folded to one `-`,
/// no leading or trailing `-`, at most 63 characters, never empty.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        return format!("branch-{}", short_hash(name, 6));
    }
    if out.len() > MAX {
        // Keep it unique: two long names that share a prefix must not collide.
        let keep = MAX - 7;
        return format!(
            "{}-{}",
            out[..keep].trim_end_matches('-'),
            short_hash(name, 6)
        );
    }
    out
}

/// [`slugify`], or when that is `taken`, the slug with 6 hex digits of a hash
/// of the full name appended (more if even that is taken), so `feature/x` and
/// `feature-x` get distinct slugs deterministically: the first one to ask gets
/// the plain slug.
pub fn unique_slug(branch: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let base = slugify(branch);
    if !taken(&base) {
        return base;
    }
    let mut candidate = String::new();
    for n in [6, 10, 16, 24] {
        let suffix = short_hash(branch, n);
        let keep = MAX - suffix.len() - 1;
        let head = if base.len() > keep {
            base[..keep].trim_end_matches('-')
        } else {
            &base
        };
        candidate = format!("{head}-{suffix}");
        if !taken(&candidate) {
            break;
        }
    }
    candidate
}

/// A repo name usable in host names.
pub fn repo_slug(name: &str) -> String {
    let s = slugify(name);
    if s.starts_with("branch-") && !name.to_lowercase().starts_with("branch") {
        format!("repo-{}", &s["branch-".len()..])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_become_dns_labels() {
        assert_eq!(slugify("feature/x"), "feature-x");
        assert_eq!(slugify("Feature_X"), "feature-x");
        assert_eq!(slugify("fix--double//slash"), "fix-double-slash");
        assert_eq!(slugify("-lead-and-trail-"), "lead-and-trail");
        assert_eq!(slugify("ünïcode-ß"), "n-code");
    }

    #[test]
    fn empty_and_long_names_still_give_valid_unique_labels() {
        let e = slugify("---");
        assert!(e.starts_with("branch-") && e.len() <= 63, "{e}");
        let a = slugify(&format!("{}a", "x".repeat(100)));
        let b = slugify(&format!("{}b", "x".repeat(100)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b, "long names sharing a prefix must not collide");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn branches_that_slug_alike_get_distinct_slugs() {
        let first = unique_slug("feature/x", &|_| false);
        assert_eq!(first, "feature-x");
        let second = unique_slug("feature-x", &|s| s == "feature-x");
        assert_ne!(second, first);
        assert!(
            second.starts_with("feature-x-") && second.len() <= 63,
            "{second}"
        );
        assert_eq!(
            second,
            unique_slug("feature-x", &|s| s == "feature-x"),
            "deterministic"
        );
        let third = unique_slug("Feature_X", &|s| s == first || s == second);
        assert!(third != first && third != second, "{third}");
    }

    #[test]
    fn a_taken_hashed_slug_gets_a_longer_hash_and_long_names_stay_within_63() {
        let plain = slugify("feature/x");
        let hashed = unique_slug("feature/x", &|s| s == plain);
        let longer = unique_slug("feature/x", &|s| s == plain || s == hashed);
        assert!(
            longer.len() > hashed.len() && longer.starts_with("feature-x-"),
            "{longer}"
        );
        let long = "a".repeat(100);
        let u = unique_slug(&long, &|s| s == slugify(&long));
        assert!(u.len() <= 63 && u != slugify(&long), "{u}");
    }

    #[test]
    fn repo_names_become_labels_too() {
        assert_eq!(repo_slug("My Shop"), "my-shop");
        assert!(
            repo_slug("日本").starts_with("repo-"),
            "{}",
            repo_slug("日本")
        );
        assert!(repo_slug("---").starts_with("repo-"));
    }
}
