//! ARNs: parsing and wildcard matching segment by segment, as IAM does it.
//!
//! `arn:partition:service:region:account:resource` — wildcards in the first five
//! segments stay inside their segment; the resource segment (which may itself contain
//! `:` and `/`) is matched as a whole, so `*` there spans `/` and `:`.

use crate::context::Context;
use crate::pattern::Pattern;

/// A parsed ARN (borrowing the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// `s3`, `iam`, `sts`, ...
    pub service: &'a str,
    /// Region (empty for global services).
    pub region: &'a str,
    /// Account ID (empty for S3 buckets).
    pub account: &'a str,
    /// Everything after the fifth colon.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses `text` if it has the `arn:` prefix and six colon-separated segments.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        // A byte scan per field: the segments are a few bytes long, too short for the
        // searcher behind `str::splitn` to pay off (this runs for every ARN a policy check
        // or an AssumeRole* call looks at).
        let mut rest = text.strip_prefix("arn:")?;
        let mut fields = [""; 4];
        for field in &mut fields {
            let end = rest.bytes().position(|b| b == b':')?;
            *field = &rest[..end];
            rest = &rest[end + 1..];
        }
        let [partition, service, region, account] = fields;
        Some(Arn {
            partition,
            service,
            region,
            account,
            resource: rest,
        })
    }
}

/// A compiled ARN pattern (policy `Resource` entries, `ArnLike` values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    /// `*`.
    Any,
    /// An ARN-shaped pattern: five segment patterns and the resource pattern.
    Segments(Box<[Pattern; 6]>),
    /// Anything else, matched as a whole string.
    Whole(Pattern),
}

impl ArnPattern {
    /// Compiles a pattern; `variables` enables `${...}` substitution.
    pub(crate) fn new(text: &str, variables: bool) -> ArnPattern {
        if text == "*" {
            return ArnPattern::Any;
        }
        let segs: Vec<&str> = text.splitn(6, ':').collect();
        if segs.len() == 6 {
            let p = |s: &str| Pattern::new(s, variables, false);
            ArnPattern::Segments(Box::new([
                p(segs[0]),
                p(segs[1]),
                p(segs[2]),
                p(segs[3]),
                p(segs[4]),
                p(segs[5]),
            ]))
        } else {
            ArnPattern::Whole(Pattern::new(text, variables, false))
        }
    }

    /// Matches a concrete ARN (or `*` / other resource string).
    pub(crate) fn matches(&self, value: &str, ctx: &Context) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Whole(p) => p.matches(value, false, ctx),
            ArnPattern::Segments(pats) => {
                let mut it = value.splitn(6, ':');
                for p in pats.iter() {
                    match it.next() {
                        Some(seg) if p.matches(seg, false, ctx) => {}
                        _ => return false,
                    }
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        ArnPattern::new(p, true).matches(s, &Context::new())
    }

    #[test]
    fn parse() {
        let a = Arn::parse("arn:aws:sts::111122223333:assumed-role/r/s").unwrap();
        assert_eq!(
            (a.service, a.account, a.resource),
            ("sts", "111122223333", "assumed-role/r/s")
        );
        assert!(Arn::parse("arn:aws:s3").is_none());
        assert!(Arn::parse("urn:aws:s3:::b").is_none());
        let a = Arn::parse("arn:aws:dynamodb:us-east-1:1:table/t:x:y").unwrap();
        assert_eq!(a.resource, "table/t:x:y");
    }

    #[test]
    fn parse_splits_like_splitn() {
        fn reference(t: &str) -> Option<[&str; 5]> {
            let mut it = t.splitn(6, ':');
            (it.next()? == "arn").then_some(())?;
            Some([it.next()?, it.next()?, it.next()?, it.next()?, it.next()?])
        }
        let alphabet = ["arn", ":", "a", "::", "/", "x:y", "arn:"];
        let (mut seed, mut parsed) = (0x5851_f42d_4c95_7f2du64, 0);
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let text: String = (0..seed % 9)
                .map(|i| alphabet[((seed >> (i * 7)) % alphabet.len() as u64) as usize])
                .collect();
            let ours = Arn::parse(&text)
                .map(|a| [a.partition, a.service, a.region, a.account, a.resource]);
            assert_eq!(ours, reference(&text), "{text:?}");
            parsed += usize::from(ours.is_some());
        }
        assert!(
            parsed > 100,
            "the inputs must include ARNs ({parsed} parsed)"
        );
    }

    #[test]
    fn segment_matching() {
        assert!(m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c"));
        assert!(m("arn:aws:s3:::*", "arn:aws:s3:::bucket/a"));
        assert!(!m("arn:aws:s3:::bucket", "arn:aws:s3:::bucket/a"));
        assert!(m(
            "arn:aws:ec2:*:*:instance/*",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        ));
        // `*` in the region segment does not swallow the account segment.
        assert!(!m(
            "arn:aws:ec2:us-*:1:instance/*",
            "arn:aws:ec2:us-east-1:2:instance/i-1"
        ));
        assert!(!m(
            "arn:aws:ec2:*1:instance/*:*",
            "arn:aws:ec2:us-east-1:1:instance/i-1"
        ));
        assert!(m("arn:aws:iam::*:role/k8s-?", "arn:aws:iam::1:role/k8s-a"));
        assert!(m(
            "arn:aws:dynamodb:*:*:table/t*",
            "arn:aws:dynamodb:eu-west-1:1:table/t:stream"
        ));
        assert!(
            !m("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"),
            "resources are case-sensitive"
        );
        assert!(m("*", "anything"));
        assert!(!m("arn:aws:s3:::b", "*"));
    }
}
