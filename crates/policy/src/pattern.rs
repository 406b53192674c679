//! Wildcard patterns (`*`, `?`) and policy-variable templates (`${key}`), compiled once.
//!
//! A pattern is a list of tokens. Text written in the policy contributes `*` / `?`
//! wildcards; escapes (`${*}`, `${?}`, `${$}`) and substituted variable values are
//! always literal, as AWS documents ("Substituted values are literal").

use crate::context::Context;

/// One compiled token of a pattern whose variables are already resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// Literal text.
    Lit(&'a str),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A piece of a template as written in the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Literal text (no wildcards inside).
    Lit(String),
    /// `*` written in the policy.
    Star,
    /// `?` written in the policy.
    One,
    /// `${key}` or `${key, 'default'}`; the key is lower-cased.
    Var {
        key: String,
        default: Option<String>,
    },
}

/// Splits policy text into parts. With `variables` false (Version 2008-10-17 or none),
/// `${...}` stays literal. With `wildcards` false, `*` and `?` are literal characters.
pub(crate) fn parse_parts(text: &str, variables: bool, wildcards: bool) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    let mut lit = String::new();
    let flush = |lit: &mut String, parts: &mut Vec<Part>| {
        if !lit.is_empty() {
            parts.push(Part::Lit(std::mem::take(lit)));
        }
    };
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if variables
            && rest.starts_with("${")
            && let Some(end) = rest.find('}')
        {
            let inner = &rest[2..end];
            rest = &rest[end + 1..];
            match inner {
                "*" | "?" | "$" => lit.push_str(inner),
                _ => {
                    flush(&mut lit, &mut parts);
                    parts.push(parse_var(inner));
                }
            }
            continue;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '*' if wildcards => {
                flush(&mut lit, &mut parts);
                if parts.last() != Some(&Part::Star) {
                    parts.push(Part::Star);
                }
            }
            '?' if wildcards => {
                flush(&mut lit, &mut parts);
                parts.push(Part::One);
            }
            _ => lit.push(c),
        }
    }
    flush(&mut lit, &mut parts);
    parts
}

fn parse_var(inner: &str) -> Part {
    // `${aws:PrincipalTag/team, 'company-wide'}`
    if let Some((key, def)) = inner.split_once(',') {
        let def = def.trim();
        if def.len() >= 2 && def.starts_with('\'') && def.ends_with('\'') {
            return Part::Var {
                key: key.trim().to_ascii_lowercase(),
                default: Some(def[1..def.len() - 1].to_string()),
            };
        }
    }
    Part::Var {
        key: inner.trim().to_ascii_lowercase(),
        default: None,
    }
}

/// Resolves a variable: the context value when the key has exactly one value, else the
/// default. `None` means unresolvable (the policy value then matches nothing).
pub(crate) fn resolve_var<'a>(
    key: &str,
    default: Option<&'a str>,
    ctx: &'a Context,
) -> Option<&'a str> {
    match ctx.get(key) {
        Some([one]) => Some(one.as_str()),
        _ => default,
    }
}

/// A compiled wildcard pattern, possibly with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `*` alone: matches everything.
    Any,
    /// No wildcard, no variable.
    Exact(String),
    /// `text*`.
    Prefix(String),
    /// `*text`.
    Suffix(String),
    /// Wildcards but no variables.
    Glob(Vec<Part>),
    /// Contains variables, resolved at evaluation time.
    Dynamic(Vec<Part>),
}

impl Pattern {
    /// Compiles policy text. `lowercase` folds literal text (for case-insensitive use).
    pub(crate) fn new(text: &str, variables: bool, lowercase: bool) -> Pattern {
        let mut parts = parse_parts(text, variables, true);
        if lowercase {
            for p in &mut parts {
                if let Part::Lit(s) = p {
                    *s = s.to_ascii_lowercase();
                }
            }
        }
        Pattern::from_parts(parts)
    }

    fn from_parts(parts: Vec<Part>) -> Pattern {
        if parts.iter().any(|p| matches!(p, Part::Var { .. })) {
            return Pattern::Dynamic(parts);
        }
        match parts.as_slice() {
            [] => Pattern::Exact(String::new()),
            [Part::Star] => Pattern::Any,
            [Part::Lit(s)] => Pattern::Exact(s.clone()),
            [Part::Lit(s), Part::Star] => Pattern::Prefix(s.clone()),
            [Part::Star, Part::Lit(s)] => Pattern::Suffix(s.clone()),
            _ => Pattern::Glob(parts),
        }
    }

    /// Matches `s`. `ci` compares ASCII case-insensitively (the pattern must then be
    /// lower-cased already). Unresolvable variables make the pattern match nothing.
    pub(crate) fn matches(&self, s: &str, ci: bool, ctx: &Context) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(p) => eq(p, s, ci),
            Pattern::Prefix(p) => {
                s.len() >= p.len() && s.is_char_boundary(p.len()) && eq(p, &s[..p.len()], ci)
            }
            Pattern::Suffix(p) => {
                s.len() >= p.len()
                    && s.is_char_boundary(s.len() - p.len())
                    && eq(p, &s[s.len() - p.len()..], ci)
            }
            Pattern::Glob(parts) => {
                let mut toks: [Tok<'_>; 16] = [Tok::Star; 16];
                if parts.len() <= toks.len() {
                    for (t, p) in toks.iter_mut().zip(parts) {
                        *t = static_tok(p);
                    }
                    glob(&toks[..parts.len()], s, ci)
                } else {
                    let toks: Vec<Tok<'_>> = parts.iter().map(static_tok).collect();
                    glob(&toks, s, ci)
                }
            }
            Pattern::Dynamic(parts) => {
                let mut toks: Vec<Tok<'_>> = Vec::with_capacity(parts.len());
                for p in parts {
                    toks.push(match p {
                        Part::Lit(l) => Tok::Lit(l),
                        Part::Star => Tok::Star,
                        Part::One => Tok::One,
                        Part::Var { key, default } => {
                            match resolve_var(key, default.as_deref(), ctx) {
                                Some(v) => Tok::Lit(v),
                                None => return false,
                            }
                        }
                    });
                }
                glob(&toks, s, ci)
            }
        }
    }
}

fn static_tok(p: &Part) -> Tok<'_> {
    match p {
        Part::Lit(l) => Tok::Lit(l),
        Part::Star => Tok::Star,
        Part::One => Tok::One,
        // Glob never holds variables (they make the pattern Dynamic).
        Part::Var { .. } => Tok::Lit(""),
    }
}

fn eq(p: &str, s: &str, ci: bool) -> bool {
    if ci {
        p.eq_ignore_ascii_case(s)
    } else {
        p == s
    }
}

fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Matches tokens against `s`: linear scan with backtracking to the last `*`.
pub(crate) fn glob(toks: &[Tok<'_>], s: &str, ci: bool) -> bool {
    let s = s.as_bytes();
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if ti < toks.len() {
            match toks[ti] {
                Tok::Star => {
                    ti += 1;
                    star = Some((ti, si));
                    continue;
                }
                Tok::One => {
                    if si < s.len() {
                        si += char_len(s[si]);
                        ti += 1;
                        continue;
                    }
                }
                Tok::Lit(l) => {
                    let l = l.as_bytes();
                    if s.len() - si >= l.len() && {
                        let w = &s[si..si + l.len()];
                        if ci {
                            w.eq_ignore_ascii_case(l)
                        } else {
                            w == l
                        }
                    } {
                        si += l.len();
                        ti += 1;
                        continue;
                    }
                }
            }
        } else if si == s.len() {
            return true;
        }
        match star {
            Some((sti, ssi)) if ssi < s.len() => {
                let next = ssi + char_len(s[ssi]);
                star = Some((sti, next));
                ti = sti;
                si = next;
            }
            _ => return false,
        }
    }
}

/// Resolves a template without wildcards into a string (`None` when a variable is
/// unresolvable).
pub(crate) fn render(parts: &[Part], ctx: &Context) -> Option<String> {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Lit(l) => out.push_str(l),
            Part::Star => out.push('*'),
            Part::One => out.push('?'),
            Part::Var { key, default } => out.push_str(resolve_var(key, default.as_deref(), ctx)?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p, true, false).matches(s, false, &Context::new())
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abbbc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m(
            "arn:aws:s3:::k8s-default-aws-cli-*",
            "arn:aws:s3:::k8s-default-aws-cli-demo"
        ));
        assert!(!m(
            "arn:aws:s3:::k8s-default-aws-cli-*",
            "arn:aws:s3:::k9s-default-aws-cli-demo"
        ));
        assert!(m("é?x", "éøx"));
        assert!(!m("abc", "ABC"));
        assert!(Pattern::new("S3:Get*", false, true).matches(
            "s3:GETOBJECT",
            true,
            &Context::new()
        ));
    }

    #[test]
    fn variables_and_escapes() {
        let ctx = Context::new()
            .with("aws:username", "Bob*")
            .with("aws:PrincipalTag/team", "blue");
        let p = Pattern::new("home/${aws:username}/*", true, false);
        assert!(p.matches("home/Bob*/x", false, &ctx));
        assert!(
            !p.matches("home/Bobby/x", false, &ctx),
            "substituted values are literal"
        );
        let p = Pattern::new("a${*}b", true, false);
        assert!(p.matches("a*b", false, &ctx));
        assert!(!p.matches("axb", false, &ctx));
        let p = Pattern::new(
            "${aws:PrincipalTag/dept, 'none'}-${aws:principaltag/team}",
            true,
            false,
        );
        assert!(p.matches("none-blue", false, &ctx));
        let p = Pattern::new("${aws:missing}", true, false);
        assert!(!p.matches("", false, &ctx));
        // Without variable support the text is literal.
        let p = Pattern::new("${aws:username}", false, false);
        assert!(p.matches("${aws:username}", false, &ctx));
    }
}
