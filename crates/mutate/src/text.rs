//! Small text helpers with Go semantics: `encoding/csv` for `skip-containers`, and
//! `path/filepath.Join` for the token file path.

use std::borrow::Cow;

/// Parses the first record of `value` like Go's `csv.NewReader(..).Read()` with default
/// settings: fields are not trimmed, `""` escapes a quote inside a quoted field, a bare quote
/// in an unquoted field is an error. Returns `None` on a parse error or an empty value (upstream
/// then skips no container).
pub(crate) fn parse_csv_record(value: &str) -> Option<Vec<String>> {
    // Go's reader skips leading empty lines.
    let input = value.trim_start_matches(['\r', '\n']);
    if input.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    '"' => break,
                    c => field.push(c),
                }
            }
            chars.next_if_eq(&'\r');
            fields.push(field);
            match chars.next() {
                None | Some('\n') => return Some(fields),
                Some(',') => {}
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None | Some('\n') => {
                        if field.ends_with('\r') {
                            field.pop();
                        }
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some('"') => return None,
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

/// Go's `filepath.Join(dir, file)` on Unix: joins with `/` and cleans the result lexically.
pub(crate) fn join_path(dir: &str, file: &str) -> String {
    let joined = match (dir.is_empty(), file.is_empty()) {
        (true, true) => return String::new(),
        (true, false) => file.to_owned(),
        (false, true) => dir.to_owned(),
        (false, false) => {
            // Not `format!`: its machinery costs more than the join itself.
            let mut joined = String::with_capacity(dir.len() + 1 + file.len());
            joined.push_str(dir);
            joined.push('/');
            joined.push_str(file);
            joined
        }
    };
    match clean_path(&joined) {
        Cow::Borrowed(_) => joined,
        Cow::Owned(cleaned) => cleaned,
    }
}

/// Go's `path.Clean`: removes duplicate slashes, `.` elements and `..` elements where possible.
/// A path that is already clean (the usual case) is returned as is, without allocating.
pub(crate) fn clean_path(path: &str) -> Cow<'_, str> {
    if is_clean(path) {
        return Cow::Borrowed(path);
    }
    Cow::Owned(clean_path_owned(path))
}

/// Whether `path.Clean(path) == path`: `/` and `.` themselves, or non-empty with no empty, `.`
/// or `..` element and no trailing slash.
fn is_clean(path: &str) -> bool {
    if path == "/" || path == "." {
        return true;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    !body.is_empty() && elements(body).all(|part| !matches!(part, "" | "." | ".."))
}

/// The parts of `path` between slashes, empty ones included: `path.split('/')` without its
/// general pattern search, which cost ~60 instructions a part on these short parts.
fn elements(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|b| b == b'/') {
            Some(i) => {
                rest = Some(&current[i + 1..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// [`clean_path`] of a path that is not clean, written straight into one string (a `Vec` of
/// parts joined and formatted cost ~1.7 k instructions for the default mount path, which has a
/// trailing slash and is cleaned on every admission).
fn clean_path_owned(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out = String::with_capacity(path.len() + 1);
    if rooted {
        out.push('/');
    }
    let root = out.len();
    for part in elements(path) {
        match part {
            "" | "." => {}
            ".." => {
                let body = &out[root..];
                if !body.is_empty() && body != ".." && !body.ends_with("/..") {
                    // Drop the last element (and its separator).
                    out.truncate(body.rfind('/').map_or(root, |i| root + i));
                } else if !rooted {
                    // Nothing to go up from: a relative path keeps the `..`.
                    if !body.is_empty() {
                        out.push('/');
                    }
                    out.push_str("..");
                }
            }
            element => {
                if out.len() > root {
                    out.push('/');
                }
                out.push_str(element);
            }
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(v: &str) -> Option<Vec<String>> {
        parse_csv_record(v)
    }

    #[test]
    fn csv_like_go() {
        assert_eq!(csv("a,b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(csv("a, b"), Some(vec!["a".into(), " b".into()]));
        assert_eq!(csv("sidecar"), Some(vec!["sidecar".into()]));
        assert_eq!(csv("\"a,b\",c"), Some(vec!["a,b".into(), "c".into()]));
        assert_eq!(csv("\"a\"\"b\""), Some(vec!["a\"b".into()]));
        assert_eq!(
            csv("\"a\"\"b\",\"c\"\"\",d"),
            Some(vec!["a\"b".into(), "c\"".into(), "d".into()])
        );
        assert_eq!(csv("a,"), Some(vec!["a".into(), String::new()]));
        assert_eq!(csv("a\nb"), Some(vec!["a".into()]));
        assert_eq!(csv(""), None);
        assert_eq!(csv("a\"b"), None);
        assert_eq!(csv("\"ab"), None);
        assert_eq!(csv("\"a\"b"), None);
    }

    #[test]
    fn join_like_go() {
        assert_eq!(join_path("/var/run/x/", "token"), "/var/run/x/token");
        assert_eq!(join_path("/a//b", "./c"), "/a/b/c");
        assert_eq!(join_path("/a/b", "../c"), "/a/c");
        assert_eq!(join_path("/", "token"), "/token");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("a/../.."), "..");
        for clean in ["/", "/a/b", "a", "/var/run/secrets/x"] {
            assert!(matches!(clean_path(clean), Cow::Borrowed(_)), "{clean}");
        }
        for (dirty, cleaned) in [
            ("", "."),
            ("/a/", "/a"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("/a/.", "/a"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("../..", "../.."),
            ("a/b/../../..", ".."),
            ("/a/b/../c/./d/", "/a/c/d"),
            ("//", "/"),
            (".", "."),
        ] {
            assert_eq!(clean_path(dirty), cleaned);
        }
    }

    /// Go's `path.Clean` as its documentation states the rules, element by element: the
    /// reference for [`clean_path`].
    fn reference_clean(path: &str) -> String {
        let rooted = path.starts_with('/');
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if part != ".." {
                parts.push(part);
            } else if parts.last().is_some_and(|p| *p != "..") {
                parts.pop();
            } else if !rooted {
                parts.push("..");
            }
        }
        let body = parts.join("/");
        match (rooted, body.is_empty()) {
            (true, _) => format!("/{body}"),
            (false, true) => ".".to_owned(),
            (false, false) => body,
        }
    }

    #[test]
    fn clean_matches_the_reference_on_every_short_path() {
        let parts = ["", ".", "..", "a", "bc"];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            let mut longer = Vec::new();
            for path in &paths {
                for e in parts {
                    let next = if path.is_empty() {
                        e.to_owned()
                    } else {
                        format!("{path}/{e}")
                    };
                    for p in [next.clone(), format!("/{next}")] {
                        assert!(elements(&p).eq(p.split('/')), "{p:?}");
                        let cleaned = clean_path(&p);
                        assert_eq!(cleaned, reference_clean(&p), "{p:?}");
                        // Borrowed only when already clean (a clean path may still be copied).
                        if matches!(cleaned, Cow::Borrowed(_)) {
                            assert_eq!(cleaned, p, "{p:?}");
                        }
                        checked += 1;
                    }
                    longer.push(next);
                }
            }
            paths = longer;
        }
        assert!(checked > 7000, "{checked}");
    }
}
