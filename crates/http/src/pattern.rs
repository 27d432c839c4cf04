//! Route patterns: literal segments, `{name}` parameters and a trailing `{*name}`
//! catch-all, matched against the percent-encoded path of a request.
//!
//! # Matching rules
//! - A path is split on `/` after its leading `/`: `/` is one empty segment, `/users/` is
//!   `users` and an empty segment. A trailing slash is therefore significant: `/users`
//!   and `/users/` are different paths (no redirect).
//! - Each segment is percent-decoded (RFC 3986 §2.1) before it is compared: literal
//!   segments of the pattern compare with the decoded segment, parameters receive the
//!   decoded text. `%2F` inside a segment decodes to `/` in a parameter; it never splits.
//! - `{name}` matches one non-empty segment whose decoded bytes are UTF-8.
//! - `{*name}` (last only) matches one or more remaining segments, decoded one by one and
//!   joined with `/` (possibly empty, for a trailing `/`).
//! - A path with a dot-segment (`.` or `..`, also percent-encoded) matches no pattern:
//!   routes never see them (static files resolve them without leaving their root).
//! - When several patterns match, the most specific wins, segment by segment from the
//!   left: a literal beats a parameter, a parameter beats the catch-all.
//!
//! Matching allocates nothing; only taking the parameters out does.

use percent_encoding::percent_decode;

/// One segment of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

/// A parsed route pattern such as `/users/{id}/posts` or `/files/{*path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
    /// Per segment: 2 literal, 1 parameter, 0 catch-all (compared lexicographically).
    rank: Vec<u8>,
    /// For a literal pattern whose text needs no decoding: the text, which a path equal to
    /// it byte for byte matches without a walk (the common case, e.g. `/plaintext`).
    exact: Option<String>,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Pattern {
    /// Parses `text` (must start with `/`).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |reason| PatternError {
            pattern: text.to_string(),
            reason,
        };
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| err("must start with '/'"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let seg = if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                let (name, rest) = match inner.strip_prefix('*') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(err("a parameter name is letters, digits and '_'"));
                }
                if names.contains(&name) {
                    return Err(err("a parameter name appears twice"));
                }
                names.push(name);
                if rest {
                    if i + 1 != parts.len() {
                        return Err(err("a catch-all {*name} must be the last segment"));
                    }
                    Segment::Rest(name.to_string())
                } else {
                    Segment::Param(name.to_string())
                }
            } else {
                if part.contains(['{', '}']) {
                    return Err(err("a parameter must be a whole segment: {name}"));
                }
                if *part == "." || *part == ".." {
                    return Err(err("dot-segments never match"));
                }
                let decoded = percent_decode(part.as_bytes())
                    .decode_utf8()
                    .map_err(|_| err("a literal segment must decode to UTF-8"))?;
                Segment::Literal(decoded.into_owned())
            };
            segments.push(seg);
        }
        let rank = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
                Segment::Rest(_) => 0,
            })
            .collect();
        let literal = segments.iter().all(|s| matches!(s, Segment::Literal(_)));
        let exact = (literal && !text.contains('%')).then(|| text.to_string());
        Ok(Self {
            text: text.to_string(),
            segments,
            rank,
            exact,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no parameters (then matching yields nothing to take out).
    pub fn is_literal(&self) -> bool {
        self.rank.iter().all(|&r| r == 2)
    }

    /// Specificity, for choosing among matching patterns (greater wins).
    pub(crate) fn rank(&self) -> &[u8] {
        &self.rank
    }

    /// Whether `path` (percent-encoded, no query) matches. Allocates nothing.
    pub fn matches(&self, path: &[u8]) -> bool {
        if self.exact.as_deref().is_some_and(|e| e.as_bytes() == path) {
            return true;
        }
        self.walk(path, |_, _| {}).is_some()
    }

    /// The decoded parameters if `path` matches, in pattern order.
    pub fn captures(&self, path: &[u8]) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        self.walk(path, |name, raw| {
            out.push((name.to_string(), decode_rest(raw)));
        })?;
        Some(out)
    }

    /// Byte offset in `path` where the catch-all's raw text starts, if `path` matches and
    /// the pattern ends in one.
    pub(crate) fn rest_offset(&self, path: &[u8]) -> Option<usize> {
        let mut at = None;
        let base = path.as_ptr() as usize;
        self.walk(path, |_, raw| at = Some(raw.as_ptr() as usize - base))?;
        match self.segments.last() {
            Some(Segment::Rest(_)) => at,
            _ => None,
        }
    }

    /// Walks `path` against the pattern, handing each parameter's raw text to `found`.
    fn walk<'p>(&self, path: &'p [u8], mut found: impl FnMut(&str, &'p [u8])) -> Option<()> {
        let rest = path.strip_prefix(b"/")?;
        if rest.split(|&b| b == b'/').any(is_dot_segment) {
            return None;
        }
        let mut parts = rest.split(|&b| b == b'/');
        let mut consumed = 0usize;
        for seg in &self.segments {
            match seg {
                Segment::Literal(lit) => {
                    let part = parts.next()?;
                    if !percent_decode(part).eq(lit.bytes()) {
                        return None;
                    }
                    consumed += part.len() + 1;
                }
                Segment::Param(name) => {
                    let part = parts.next()?;
                    if part.is_empty() || !decodes_to_utf8(part) {
                        return None;
                    }
                    found(name, part);
                    consumed += part.len() + 1;
                }
                Segment::Rest(name) => {
                    let tail = rest.get(consumed..)?;
                    if parts.next().is_none() || !decodes_to_utf8(tail) {
                        return None;
                    }
                    found(name, tail);
                    return Some(());
                }
            }
        }
        parts.next().is_none().then_some(())
    }
}

fn is_dot_segment(seg: &[u8]) -> bool {
    percent_decode(seg).eq(b".".iter().copied()) || percent_decode(seg).eq(b"..".iter().copied())
}

fn decodes_to_utf8(raw: &[u8]) -> bool {
    if !raw.contains(&b'%') {
        return std::str::from_utf8(raw).is_ok();
    }
    let bytes: Vec<u8> = percent_decode(raw).collect();
    std::str::from_utf8(&bytes).is_ok()
}

/// Decodes each `/`-separated segment of `raw` and joins them with `/` (so an encoded
/// `%2F` stays distinguishable only as a decoded `/`, as in a single parameter).
fn decode_rest(raw: &[u8]) -> String {
    String::from_utf8_lossy(&percent_decode(raw).collect::<Vec<u8>>()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, path: &str) -> Option<Vec<(String, String)>> {
        Pattern::parse(p).unwrap().captures(path.as_bytes())
    }

    fn one(name: &str, v: &str) -> Option<Vec<(String, String)>> {
        Some(vec![(name.to_string(), v.to_string())])
    }

    #[test]
    fn literals_params_and_trailing_slashes() {
        assert_eq!(caps("/users", "/users"), Some(vec![]));
        assert_eq!(caps("/users", "/users/"), None);
        assert_eq!(caps("/users/", "/users/"), Some(vec![]));
        assert_eq!(caps("/users/", "/users"), None);
        assert_eq!(caps("/", "/"), Some(vec![]));
        assert_eq!(caps("/", ""), None);
        assert_eq!(caps("/users/{id}", "/users/42"), one("id", "42"));
        assert_eq!(caps("/users/{id}", "/users/"), None, "empty parameter");
        assert_eq!(caps("/users/{id}", "/users/42/"), None);
        assert_eq!(caps("/users/{id}", "/users//42"), None);
        assert_eq!(
            caps("/u/{a}/p/{b}", "/u/1/p/2"),
            Some(vec![("a".into(), "1".into()), ("b".into(), "2".into())])
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            caps("/users/{id}", "/users/J%C3%BCrgen"),
            one("id", "Jürgen")
        );
        assert_eq!(caps("/users/{id}", "/users/a%2Fb"), one("id", "a/b"));
        assert_eq!(caps("/users/{id}", "/users/a%20b+c"), one("id", "a b+c"));
        assert_eq!(caps("/users/{id}", "/users/%FF"), None, "not UTF-8");
        assert_eq!(caps("/users/{id}", "/users/100%"), one("id", "100%"));
        assert_eq!(caps("/caf%C3%A9", "/café"), Some(vec![]));
        assert_eq!(caps("/café", "/caf%C3%A9"), Some(vec![]));
        assert_eq!(caps("/users", "/%75sers"), Some(vec![]));
    }

    #[test]
    fn dot_segments_never_match() {
        assert_eq!(caps("/users/{id}", "/users/.."), None);
        assert_eq!(caps("/users/{id}", "/users/%2e%2E"), None);
        assert_eq!(caps("/users/{id}", "/users/."), None);
        assert_eq!(caps("/a/{*rest}", "/a/b/../c"), None);
        assert_eq!(caps("/users", "/x/../users"), None);
        assert_eq!(caps("/users/{id}", "/users/..."), one("id", "..."));
        assert!(Pattern::parse("/a/../b").is_err());
    }

    #[test]
    fn catch_all() {
        assert_eq!(caps("/f/{*p}", "/f/a/b%20c"), one("p", "a/b c"));
        assert_eq!(caps("/f/{*p}", "/f/"), one("p", ""));
        assert_eq!(caps("/f/{*p}", "/f"), None);
        let p = Pattern::parse("/f/{*p}").unwrap();
        assert_eq!(p.rest_offset(b"/f/x/y"), Some(3));
        assert_eq!(p.rest_offset(b"/%66/x"), Some(5));
        assert_eq!(Pattern::parse("/f/{x}").unwrap().rest_offset(b"/f/x"), None);
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "users", "/{}", "/{a b}", "/{*r}/x", "/{a}/{a}", "/x{a}", "/%FF",
        ] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
    }

    /// Everything but unreserved characters is encoded, as a client would.
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');

    proptest::proptest! {
        #[test]
        fn encoded_parameters_decode_to_what_was_encoded(
            a in "\\PC{1,12}",
            b in "\\PC{1,12}",
            rest in proptest::collection::vec("\\PC{0,8}", 1..4),
        ) {
            let enc = |v: &str| percent_encoding::utf8_percent_encode(v, SEGMENT).to_string();
            let path = format!("/u/{}/p/{}/f/{}", enc(&a), enc(&b),
                rest.iter().map(|r| enc(r)).collect::<Vec<_>>().join("/"));
            let p = Pattern::parse("/u/{a}/p/{b}/f/{*rest}").unwrap();
            let dots = |v: &str| v == "." || v == "..";
            let expect_match = !dots(&a) && !dots(&b) && !rest.iter().any(|r| dots(r));
            let got = p.captures(path.as_bytes());
            proptest::prop_assert_eq!(got.is_some(), expect_match, "{}", path);
            proptest::prop_assert_eq!(p.matches(path.as_bytes()), expect_match);
            if let Some(got) = got {
                proptest::prop_assert_eq!(got, vec![
                    ("a".to_string(), a.clone()),
                    ("b".to_string(), b.clone()),
                    ("rest".to_string(), rest.join("/")),
                ]);
            }
        }

        #[test]
        fn arbitrary_paths_never_panic_and_agree(path in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            for pat in ["/", "/a", "/a/{x}", "/{x}/{*r}", "/a%2Fb", "/{*r}"] {
                let p = Pattern::parse(pat).unwrap();
                let m = p.matches(&path);
                proptest::prop_assert_eq!(m, p.captures(&path).is_some());
                if let Some(off) = p.rest_offset(&path) {
                    proptest::prop_assert!(m && off <= path.len());
                }
            }
        }
    }

    #[test]
    fn specificity_prefers_literals_then_params() {
        let lit = Pattern::parse("/users/new").unwrap();
        let par = Pattern::parse("/users/{id}").unwrap();
        let all = Pattern::parse("/users/{*r}").unwrap();
        let root = Pattern::parse("/{*r}").unwrap();
        assert!(lit.rank() > par.rank());
        assert!(par.rank() > all.rank());
        assert!(all.rank() > root.rank());
    }
}
