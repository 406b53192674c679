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

/// Whether `path.Clean(path) == path`: non-empty, no empty, `.` or `..` element, and no
/// trailing slash except for the root itself.
fn is_clean(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    !body.is_empty() && body.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

fn clean_path_owned(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
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
        ] {
            assert_eq!(clean_path(dirty), cleaned);
        }
    }
}
