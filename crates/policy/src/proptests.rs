//! Property tests: wildcard matching, ARN matching, set operators, the JSON reader.

use std::collections::HashSet;

use proptest::prelude::*;

use crate::arn::ArnPattern;
use crate::condition::{Condition, Operator, compile_values};
use crate::context::Context;
use crate::pattern::Pattern;

/// Reference matcher: plain recursion over characters (exponential, fine for short inputs).
fn naive(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| naive(rest, &s[i..])),
        Some(('?', rest)) => !s.is_empty() && naive(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && naive(rest, &s[1..]),
    }
}

fn cond(op: &str, key: &str, vals: &[String]) -> Condition {
    let op = Operator::parse(op).unwrap();
    Condition {
        op,
        key: key.to_ascii_lowercase(),
        values: compile_values(&op, vals, true).unwrap(),
    }
}

proptest! {
    #[test]
    fn wildcard_agrees_with_reference(p in "[ab*?é]{0,8}", s in "[abé]{0,10}") {
        let pc: Vec<char> = p.chars().collect();
        let sc: Vec<char> = s.chars().collect();
        let ours = Pattern::new(&p, false, false).matches(&s, false, &Context::new());
        prop_assert_eq!(ours, naive(&pc, &sc), "pattern {:?} text {:?}", p, s);
    }

    #[test]
    fn generalising_a_string_keeps_it_matching(s in "[a-z0-9:/-]{1,30}", cuts in proptest::collection::vec((0usize..30, prop::bool::ANY), 0..4)) {
        // Replace chosen characters with `?` or insert `*`: the result still matches `s`.
        let mut chars: Vec<String> = s.chars().map(String::from).collect();
        for (i, star) in cuts {
            let i = i % chars.len();
            if star {
                chars.insert(i, "*".into())
            } else if chars[i] != "*" {
                chars[i] = "?".into()
            }
        }
        let p: String = chars.concat();
        prop_assert!(Pattern::new(&p, false, false).matches(&s, false, &Context::new()), "{} should match {}", p, s);
    }

    #[test]
    fn actions_match_in_any_case(a in "[a-z0-9-]{1,10}:[A-Za-z]{1,20}") {
        let pat = Pattern::new(&a.to_ascii_lowercase(), false, true);
        prop_assert!(pat.matches(&a.to_ascii_uppercase(), true, &Context::new()));
        prop_assert!(pat.matches(&a, true, &Context::new()));
    }

    #[test]
    fn arn_segments_do_not_leak(
        svc in "[a-z0-9]{1,8}", region in "[a-z0-9-]{0,10}", acct in "[0-9]{12}", other in "[0-9]{12}", res in "[a-zA-Z0-9/:_-]{1,20}",
    ) {
        let arn = format!("arn:aws:{svc}:{region}:{acct}:{res}");
        prop_assert!(ArnPattern::new(&arn, true).matches(&arn, &Context::new()));
        let any_region = format!("arn:aws:{svc}:*:{acct}:*");
        let any_prefix = format!("arn:aws:*:*:*:{res}");
        let other_account = format!("arn:aws:{svc}:*:{other}:*");
        prop_assert!(ArnPattern::new(&any_region, true).matches(&arn, &Context::new()));
        prop_assert!(ArnPattern::new(&any_prefix, true).matches(&arn, &Context::new()));
        // A wildcard region never makes another account match.
        if other != acct {
            prop_assert!(!ArnPattern::new(&other_account, true).matches(&arn, &Context::new()));
        }
    }

    #[test]
    fn set_operators_follow_set_semantics(
        policy in proptest::collection::hash_set("[abcd]", 1..4),
        request in proptest::collection::vec("[abcde]", 0..5),
    ) {
        let pv: Vec<String> = policy.iter().cloned().collect();
        let ctx = Context::new().with_values("k:tags", request.clone());
        let p: HashSet<&String> = policy.iter().collect();
        let all = request.iter().all(|v| p.contains(v));
        let any = request.iter().any(|v| p.contains(v));
        prop_assert_eq!(cond("ForAllValues:StringEquals", "k:tags", &pv).holds(&ctx), all);
        prop_assert_eq!(cond("ForAnyValue:StringEquals", "k:tags", &pv).holds(&ctx), any);
        // Negations: ForAnyValue:StringNotEquals ⇔ some value outside the policy set.
        let outside = request.iter().any(|v| !p.contains(v));
        prop_assert_eq!(cond("ForAnyValue:StringNotEquals", "k:tags", &pv).holds(&ctx), outside);
        prop_assert_eq!(cond("ForAllValues:StringNotEquals", "k:tags", &pv).holds(&ctx), !any);
        // Plain operators on a multi-valued key: any match / no match.
        if !request.is_empty() {
            prop_assert_eq!(cond("StringEquals", "k:tags", &pv).holds(&ctx), any);
            prop_assert_eq!(cond("StringNotEquals", "k:tags", &pv).holds(&ctx), !any);
        }
    }

    #[test]
    fn numeric_operators_agree_with_f64(a in -1e6f64..1e6, b in -1e6f64..1e6) {
        let ctx = Context::new().with("k:n", a.to_string());
        let v = [b.to_string()];
        prop_assert_eq!(cond("NumericLessThan", "k:n", &v).holds(&ctx), a < b);
        prop_assert_eq!(cond("NumericGreaterThanEquals", "k:n", &v).holds(&ctx), a >= b);
        prop_assert_eq!(cond("NumericNotEquals", "k:n", &v).holds(&ctx), a != b);
    }

    #[test]
    fn json_reader_agrees_with_serde_json(s in "[\\[\\]{}:,\"a1 .e-]{0,24}") {
        let ours = crate::json::parse(&s).is_ok();
        let theirs = serde_json::from_str::<serde_json::Value>(&s).is_ok();
        // serde_json keeps duplicate keys; we reject them. Otherwise both agree.
        if ours { prop_assert!(theirs, "{:?}", s) }
        if theirs && !ours { prop_assert!(crate::json::parse(&s).unwrap_err().message.contains("duplicate"), "{:?}", s) }
    }

    #[test]
    fn date_parser_never_panics(s in "[0-9T:+.Zz€-]{0,30}") {
        let _ = crate::parse_date(&s);
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,200}") {
        let _ = crate::Policy::parse(&s);
        let _ = crate::validate(&s);
    }
}
