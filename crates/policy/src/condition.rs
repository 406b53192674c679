//! Condition operators: parsing of operator names and values, and evaluation with
//! AWS's rules for missing keys, multiple values, `...IfExists`, `Null` and the
//! `ForAllValues:` / `ForAnyValue:` set qualifiers.

use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;

use crate::arn::ArnPattern;
use crate::context::Context;
use crate::pattern::{Part, Pattern, parse_parts, render};

/// The base operator family (without qualifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorKind {
    /// `StringEquals` / `StringNotEquals`.
    StringEquals,
    /// `StringEqualsIgnoreCase` / `StringNotEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringLike` / `StringNotLike`.
    StringLike,
    /// `NumericEquals` / `NumericNotEquals`.
    NumericEquals,
    /// `NumericLessThan`.
    NumericLessThan,
    /// `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// `NumericGreaterThan`.
    NumericGreaterThan,
    /// `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// `DateEquals` / `DateNotEquals`.
    DateEquals,
    /// `DateLessThan`.
    DateLessThan,
    /// `DateLessThanEquals`.
    DateLessThanEquals,
    /// `DateGreaterThan`.
    DateGreaterThan,
    /// `DateGreaterThanEquals`.
    DateGreaterThanEquals,
    /// `Bool`.
    Bool,
    /// `BinaryEquals`.
    BinaryEquals,
    /// `IpAddress` / `NotIpAddress`.
    IpAddress,
    /// `ArnEquals`, `ArnLike` / `ArnNotEquals`, `ArnNotLike` (identical semantics).
    ArnLike,
    /// `Null`.
    Null,
}

/// A set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// `ForAllValues:`.
    ForAllValues,
    /// `ForAnyValue:`.
    ForAnyValue,
}

/// A fully qualified operator such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// The family.
    pub kind: OperatorKind,
    /// `...Not...` form.
    pub negated: bool,
    /// `...IfExists` suffix.
    pub if_exists: bool,
    /// `ForAllValues:` / `ForAnyValue:` prefix.
    pub set: Option<SetQualifier>,
}

impl Operator {
    /// Parses an operator name (case-sensitive, as IAM). `None` if unknown.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        use OperatorKind as K;
        let (kind, negated) = match base {
            "StringEquals" => (K::StringEquals, false),
            "StringNotEquals" => (K::StringEquals, true),
            "StringEqualsIgnoreCase" => (K::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (K::StringEqualsIgnoreCase, true),
            "StringLike" => (K::StringLike, false),
            "StringNotLike" => (K::StringLike, true),
            "NumericEquals" => (K::NumericEquals, false),
            "NumericNotEquals" => (K::NumericEquals, true),
            "NumericLessThan" => (K::NumericLessThan, false),
            "NumericLessThanEquals" => (K::NumericLessThanEquals, false),
            "NumericGreaterThan" => (K::NumericGreaterThan, false),
            "NumericGreaterThanEquals" => (K::NumericGreaterThanEquals, false),
            "DateEquals" => (K::DateEquals, false),
            "DateNotEquals" => (K::DateEquals, true),
            "DateLessThan" => (K::DateLessThan, false),
            "DateLessThanEquals" => (K::DateLessThanEquals, false),
            "DateGreaterThan" => (K::DateGreaterThan, false),
            "DateGreaterThanEquals" => (K::DateGreaterThanEquals, false),
            "Bool" => (K::Bool, false),
            "BinaryEquals" => (K::BinaryEquals, false),
            "IpAddress" => (K::IpAddress, false),
            "NotIpAddress" => (K::IpAddress, true),
            "ArnEquals" | "ArnLike" => (K::ArnLike, false),
            "ArnNotEquals" | "ArnNotLike" => (K::ArnLike, true),
            "Null" if !if_exists => (K::Null, false),
            _ => return None,
        };
        Some(Operator {
            kind,
            negated,
            if_exists,
            set,
        })
    }

    /// True for operators whose values may contain policy variables.
    pub fn allows_variables(&self) -> bool {
        matches!(
            self.kind,
            OperatorKind::StringEquals
                | OperatorKind::StringEqualsIgnoreCase
                | OperatorKind::StringLike
                | OperatorKind::Bool
                | OperatorKind::ArnLike
        )
    }
}

/// Compiled values of one condition key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// StringEquals: literal templates (no wildcards).
    Strings(Vec<Vec<Part>>),
    /// StringEqualsIgnoreCase: lower-cased templates.
    StringsIgnoreCase(Vec<Vec<Part>>),
    /// StringLike: wildcard patterns.
    Like(Vec<Pattern>),
    /// Numeric.
    Numbers(Vec<f64>),
    /// Dates as nanoseconds since the Unix epoch.
    Dates(Vec<i128>),
    /// Bool: lower-cased templates.
    Bools(Vec<Vec<Part>>),
    /// Base64-decoded bytes.
    Binary(Vec<Vec<u8>>),
    /// CIDR blocks.
    Ips(Vec<IpNet>),
    /// ARN patterns.
    Arns(Vec<ArnPattern>),
    /// Null: true = key must be absent.
    Null(Vec<bool>),
}

/// Why a condition value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadValue {
    /// Index of the bad value.
    pub index: usize,
    /// What is wrong.
    pub detail: String,
}

/// Compiles the values of one key for `op`.
pub(crate) fn compile_values(
    op: &Operator,
    raw: &[String],
    variables: bool,
) -> Result<Values, BadValue> {
    let vars = variables && op.allows_variables();
    let bad = |index: usize, detail: String| BadValue { index, detail };
    use OperatorKind as K;
    Ok(match op.kind {
        K::StringEquals => {
            Values::Strings(raw.iter().map(|v| parse_parts(v, vars, false)).collect())
        }
        K::StringEqualsIgnoreCase => Values::StringsIgnoreCase(
            raw.iter()
                .map(|v| lower_parts(parse_parts(v, vars, false)))
                .collect(),
        ),
        K::StringLike => Values::Like(raw.iter().map(|v| Pattern::new(v, vars, false)).collect()),
        K::NumericEquals
        | K::NumericLessThan
        | K::NumericLessThanEquals
        | K::NumericGreaterThan
        | K::NumericGreaterThanEquals => {
            let mut out = Vec::with_capacity(raw.len());
            for (i, v) in raw.iter().enumerate() {
                out.push(
                    parse_number(v).ok_or_else(|| bad(i, format!("\"{v}\" is not a number")))?,
                );
            }
            Values::Numbers(out)
        }
        K::DateEquals
        | K::DateLessThan
        | K::DateLessThanEquals
        | K::DateGreaterThan
        | K::DateGreaterThanEquals => {
            let mut out = Vec::with_capacity(raw.len());
            for (i, v) in raw.iter().enumerate() {
                out.push(parse_date(v).ok_or_else(|| {
                    bad(
                        i,
                        format!(
                            "\"{v}\" is not an ISO 8601 date or a number of seconds since the epoch"
                        ),
                    )
                })?);
            }
            Values::Dates(out)
        }
        K::Bool => Values::Bools(
            raw.iter()
                .map(|v| lower_parts(parse_parts(v, vars, false)))
                .collect(),
        ),
        K::BinaryEquals => {
            let mut out = Vec::with_capacity(raw.len());
            for (i, v) in raw.iter().enumerate() {
                out.push(decode_base64(v).ok_or_else(|| bad(i, format!("\"{v}\" is not base64")))?);
            }
            Values::Binary(out)
        }
        K::IpAddress => {
            let mut out = Vec::with_capacity(raw.len());
            for (i, v) in raw.iter().enumerate() {
                out.push(parse_cidr(v).ok_or_else(|| {
                    bad(i, format!("\"{v}\" is not an IP address or CIDR block"))
                })?);
            }
            Values::Ips(out)
        }
        K::ArnLike => Values::Arns(raw.iter().map(|v| ArnPattern::new(v, vars)).collect()),
        K::Null => {
            let mut out = Vec::with_capacity(raw.len());
            for (i, v) in raw.iter().enumerate() {
                out.push(match v.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(bad(
                            i,
                            format!("Null takes \"true\" or \"false\", not \"{v}\""),
                        ));
                    }
                });
            }
            Values::Null(out)
        }
    })
}

fn lower_parts(mut parts: Vec<Part>) -> Vec<Part> {
    for p in &mut parts {
        if let Part::Lit(s) = p {
            *s = s.to_lowercase();
        }
    }
    parts
}

fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("nan") || t.to_ascii_lowercase().contains("inf") {
        return None;
    }
    t.parse::<f64>().ok()
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(s.trim())
                .ok()
        })
}

/// Parses a CIDR block or a bare address (= /32 or /128).
pub(crate) fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Parses a date: W3C ISO 8601 (`2020-01-01`, `2020-01-01T00:00:00Z`,
/// `2020-01-01T00:00:00.123+02:00`, ...) or a number of seconds since the epoch.
/// Returns nanoseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().map(|v| i128::from(v) * 1_000_000_000);
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let year: i32 = num(dp.next()?, 4)?;
    let month: u8 = match dp.next() {
        Some(m) => num(m, 2)?,
        None => 1,
    };
    let day: u8 = match dp.next() {
        Some(d) => num(d, 2)?,
        None => 1,
    };
    if dp.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let (mut h, mut mi, mut sec, mut nanos, mut offset) = (0u8, 0u8, 0u8, 0u32, 0i64);
    if let Some(t) = time {
        // Split off the zone designator.
        let (clock, zone) = match t.find(['Z', 'z', '+', '-']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let mut cp = clock.split(':');
        h = num(cp.next()?, 2)?;
        if let Some(m) = cp.next() {
            mi = num(m, 2)?;
        }
        if let Some(sx) = cp.next() {
            let (whole, frac) = match sx.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sx, None),
            };
            sec = num(whole, 2)?;
            if let Some(f) = frac {
                if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                nanos = f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32);
            }
        }
        if cp.next().is_some() {
            return None;
        }
        if !zone.is_empty() && !zone.eq_ignore_ascii_case("z") {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let z = &zone[1..];
            if !z.is_ascii() {
                return None;
            }
            let (zh, zm) = match z.split_once(':') {
                Some((a, b)) => (num::<i64>(a, 2)?, num::<i64>(b, 2)?),
                None if z.len() == 4 => (num::<i64>(&z[..2], 2)?, num::<i64>(&z[2..], 2)?),
                None => (num::<i64>(z, 2)?, 0),
            };
            if zh > 23 || zm > 59 {
                return None;
            }
            offset = sign * (zh * 3600 + zm * 60);
        }
    }
    let t = time::Time::from_hms_nano(h, mi, sec, nanos).ok()?;
    let dt = time::PrimitiveDateTime::new(date, t).assume_utc();
    Some(dt.unix_timestamp_nanos() - i128::from(offset) * 1_000_000_000)
}

fn num<T: std::str::FromStr>(s: &str, max_len: usize) -> Option<T> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One compiled condition: operator, lower-cased key, values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub op: Operator,
    pub key: String,
    pub values: Values,
}

impl Condition {
    /// Evaluates against the request context.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let op = &self.op;
        let req = ctx.get(&self.key);
        if let Values::Null(vals) = &self.values {
            let absent = req.is_none_or(<[String]>::is_empty);
            return vals.contains(&absent);
        }
        let req = match req {
            Some(v) if !v.is_empty() => v,
            _ => {
                return match op.set {
                    Some(SetQualifier::ForAllValues) => true,
                    _ if op.if_exists => true,
                    Some(SetQualifier::ForAnyValue) => false,
                    None => op.negated,
                };
            }
        };
        // A request value satisfies the operator: positive = matches any policy value;
        // negated = matches none of them.
        let sat = |v: &str| self.any_value_matches(v, ctx) != op.negated;
        match op.set {
            Some(SetQualifier::ForAllValues) => req.iter().all(|v| sat(v)),
            Some(SetQualifier::ForAnyValue) => req.iter().any(|v| sat(v)),
            None if op.negated => req.iter().all(|v| sat(v)),
            None => req.iter().any(|v| sat(v)),
        }
    }

    /// True when the request value matches at least one policy value (the positive
    /// form of the operator).
    fn any_value_matches(&self, v: &str, ctx: &Context) -> bool {
        use OperatorKind as K;
        match &self.values {
            Values::Strings(ts) => ts.iter().any(|t| match t.as_slice() {
                [Part::Lit(l)] => l == v,
                [] => v.is_empty(),
                _ => render(t, ctx).is_some_and(|r| r == v),
            }),
            Values::StringsIgnoreCase(ts) => {
                let lv = v.to_lowercase();
                ts.iter()
                    .any(|t| render(t, ctx).is_some_and(|r| r.to_lowercase() == lv))
            }
            Values::Like(ps) => ps.iter().any(|p| p.matches(v, false, ctx)),
            Values::Numbers(ns) => {
                let Some(x) = parse_number(v) else {
                    return false;
                };
                ns.iter().any(|&n| match self.op.kind {
                    K::NumericEquals => x == n,
                    K::NumericLessThan => x < n,
                    K::NumericLessThanEquals => x <= n,
                    K::NumericGreaterThan => x > n,
                    K::NumericGreaterThanEquals => x >= n,
                    _ => false,
                })
            }
            Values::Dates(ds) => {
                let Some(x) = parse_date(v) else { return false };
                ds.iter().any(|&d| match self.op.kind {
                    K::DateEquals => x == d,
                    K::DateLessThan => x < d,
                    K::DateLessThanEquals => x <= d,
                    K::DateGreaterThan => x > d,
                    K::DateGreaterThanEquals => x >= d,
                    _ => false,
                })
            }
            Values::Bools(ts) => ts
                .iter()
                .any(|t| render(t, ctx).is_some_and(|r| r.eq_ignore_ascii_case(v))),
            Values::Binary(bs) => {
                let Some(x) = decode_base64(v) else {
                    return false;
                };
                bs.contains(&x)
            }
            Values::Ips(nets) => {
                let Some(ip) = v.trim().parse::<IpAddr>().ok() else {
                    return false;
                };
                nets.iter().any(|n| n.contains(&ip))
            }
            Values::Arns(ps) => ps.iter().any(|p| p.matches(v, ctx)),
            Values::Null(_) => false,
        }
    }
}

#[cfg(test)]
mod tests;
