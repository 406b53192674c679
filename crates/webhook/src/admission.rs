//! The AdmissionReview wire format (`admission.k8s.io/v1` and `v1beta1`), as the webhook reads
//! and answers it.
//!
//! We keep our own small serde types instead of `kube::core::admission`: the request side only
//! needs `uid`, `namespace` and the raw `object` (kept as JSON so unknown pod fields survive), and
//! the response side must be byte-shaped like upstream's (`{"uid":..,"allowed":true}` with no
//! `status` when the pod is admitted unchanged), which kube's `AdmissionResponse` cannot express
//! because it always serialises `status`.

use std::borrow::Cow;

use irsa_mutate::PodView;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `apiVersion` of admission v1.
pub const API_VERSION_V1: &str = "admission.k8s.io/v1";
/// `apiVersion` of admission v1beta1.
pub const API_VERSION_V1BETA1: &str = "admission.k8s.io/v1beta1";
/// `kind` of an AdmissionReview.
pub const KIND: &str = "AdmissionReview";

/// The part of an incoming AdmissionReview the webhook uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default = "Option::default")]
    request: Option<RequestIn>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default = "Option::default")]
    object: Option<Value>,
}

/// A decoded admission request, with the pod fields the mutation reads ([`PodView`]),
/// borrowed from the request body where they need no unescaping.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRequest<'a> {
    /// The envelope to echo in the reply.
    pub envelope: Envelope,
    /// `request.uid`, echoed in the reply.
    pub uid: Cow<'a, str>,
    /// `request.namespace`, or when that is unset or empty the pod's own `metadata.namespace`
    /// (at CREATE time the pod itself may carry none).
    pub namespace: Cow<'a, str>,
    /// What the mutation reads of `request.object`.
    pub pod: PodView<'a>,
}

impl<'a> PodRequest<'a> {
    /// A request for `pod`, `namespace` being `request.namespace`.
    pub(crate) fn new(
        envelope: Envelope,
        uid: Cow<'a, str>,
        namespace: Option<Cow<'a, str>>,
        pod: PodView<'a>,
    ) -> Self {
        let namespace = request_namespace(namespace, || {
            pod.metadata.present().and_then(|m| m.namespace.clone())
        });
        Self {
            envelope,
            uid,
            namespace,
            pod,
        }
    }

    /// The pod's `spec.serviceAccountName`, `default` when unset (as the API server defaults it).
    pub fn service_account_name(&self) -> &str {
        self.pod.service_account_name()
    }
}

/// A decoded admission request keeping the whole pod ([`decode_whole`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WholeRequest {
    /// The envelope to echo in the reply.
    pub envelope: Envelope,
    /// `request.uid`, echoed in the reply.
    pub uid: String,
    /// As [`PodRequest::namespace`].
    pub namespace: String,
    /// `request.object`, the pod (a JSON object).
    pub pod: Value,
}

impl WholeRequest {
    /// The request as the mutation reads it.
    pub fn view(&self) -> PodRequest<'_> {
        PodRequest {
            envelope: self.envelope.clone(),
            uid: Cow::Borrowed(&self.uid),
            namespace: Cow::Borrowed(&self.namespace),
            pod: pod_view(&self.pod),
        }
    }

    /// As [`WholeRequest::view`], owning everything.
    pub fn into_view(self) -> PodRequest<'static> {
        PodRequest {
            pod: pod_view(&self.pod).into_owned(),
            envelope: self.envelope,
            uid: Cow::Owned(self.uid),
            namespace: Cow::Owned(self.namespace),
        }
    }

    /// The pod's `spec.serviceAccountName`, `default` when unset.
    pub fn service_account_name(&self) -> &str {
        irsa_mutate::service_account_name(&self.pod)
    }
}

/// The view of a pod [`decode_whole`] accepted (always an object).
fn pod_view(pod: &Value) -> PodView<'_> {
    PodView::of(pod).unwrap_or_default()
}

/// The namespace of a request: `request.namespace` unless unset or empty, else the pod's.
fn request_namespace<'a>(
    namespace: Option<Cow<'a, str>>,
    pod_namespace: impl FnOnce() -> Option<Cow<'a, str>>,
) -> Cow<'a, str> {
    namespace
        .filter(|n| !n.is_empty())
        .or_else(pod_namespace)
        .unwrap_or_default()
}

/// The `apiVersion`/`kind` pair echoed from request to response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `apiVersion` of the request (v1 when the request did not say).
    pub api_version: Cow<'static, str>,
    /// `kind` of the request (`AdmissionReview` when the request did not say).
    pub kind: Cow<'static, str>,
}

impl Envelope {
    /// The envelope to echo for a request's `apiVersion` and `kind`, each defaulted (v1,
    /// `AdmissionReview`) when empty. The usual values are not copied.
    pub(crate) fn echo(api_version: &str, kind: &str) -> Self {
        let known = |v: &str, default: &'static str, other: &'static str| -> Cow<'static, str> {
            match v {
                "" => Cow::Borrowed(default),
                v if v == default => Cow::Borrowed(default),
                v if v == other => Cow::Borrowed(other),
                v => Cow::Owned(v.to_owned()),
            }
        };
        Self {
            api_version: known(api_version, API_VERSION_V1, API_VERSION_V1BETA1),
            kind: known(kind, KIND, KIND),
        }
    }
}

impl Default for Envelope {
    fn default() -> Self {
        Self {
            api_version: Cow::Borrowed(API_VERSION_V1),
            kind: Cow::Borrowed(KIND),
        }
    }
}

/// Why a body could not be turned into a [`PodRequest`]. It is answered with an
/// AdmissionReview that has `allowed: false` and this message (upstream does the same).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The envelope, when the body got that far.
    pub envelope: Envelope,
    /// The uid, when the body got that far.
    pub uid: String,
    /// The message put in `response.status.message`.
    pub message: String,
}

/// Decodes an AdmissionReview body holding a pod, reading only the pod fields the mutation
/// needs: what the server uses.
///
/// A hand-written scanner ([`crate::scan`]) decodes the usual bodies straight into the
/// [`PodView`]; whatever it is not sure of (bad bodies, rare forms) goes through serde
/// ([`decode_whole`]), which also writes every error message. So the same bodies are accepted
/// and rejected, with the same messages, as by [`decode_whole`], and the view is that of the
/// whole pod.
///
/// Errors mirror upstream: an empty body or a review without `request` is `bad content`;
/// undecodable JSON gives the decoder's message; an object that is not a JSON object (not a pod)
/// says so.
pub fn decode(body: &[u8]) -> Result<PodRequest<'_>, Rejection> {
    match decode_fast(body) {
        Some(request) => Ok(request),
        None => decode_whole(body).map(WholeRequest::into_view),
    }
}

/// [`decode`]'s fast path alone: the request, or `None` when the scanner leaves the body to
/// serde. For tests and benchmarks.
pub fn decode_fast(body: &[u8]) -> Option<PodRequest<'_>> {
    crate::scan::review(body)
}

/// Decodes an AdmissionReview body holding a pod with serde, keeping the whole pod. The
/// reference [`decode`] is tested against, and its fallback.
pub fn decode_whole(body: &[u8]) -> Result<WholeRequest, Rejection> {
    let bad = |envelope: Envelope, uid: String, message: String| Rejection {
        envelope,
        uid,
        message,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(
            Envelope::default(),
            String::new(),
            "bad content".into(),
        ));
    }
    let review: ReviewIn = serde_json::from_slice(body).map_err(|e| {
        bad(
            Envelope::default(),
            String::new(),
            format!("couldn't decode AdmissionReview: json parse error: {e}"),
        )
    })?;
    let envelope = Envelope::echo(&review.api_version, &review.kind);
    let Some(request) = review.request else {
        return Err(bad(envelope, String::new(), "bad content".into()));
    };
    let pod = match request.object {
        Some(pod @ Value::Object(_)) => pod,
        Some(other) => {
            return Err(bad(
                envelope,
                request.uid,
                format!(
                    "cannot unmarshal {} into a v1.Pod: request.object must be a Pod object",
                    json_type(&other)
                ),
            ));
        }
        None => {
            return Err(bad(
                envelope,
                request.uid,
                "request.object is missing: expected a v1.Pod".into(),
            ));
        }
    };
    let pod_namespace = pod
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    Ok(WholeRequest {
        namespace: request_namespace(request.namespace.map(Cow::Owned), || {
            pod_namespace.map(Cow::Borrowed)
        })
        .into_owned(),
        envelope,
        uid: request.uid,
        pod,
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The outgoing AdmissionReview.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'a str,
    response: ResponseOut<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Debug, Serialize)]
struct StatusOut<'a> {
    message: &'a str,
}

/// Serialises an "allowed" reply, with a JSONPatch when `patch` is given.
pub fn allow(
    envelope: &Envelope,
    uid: &str,
    patch: Option<&json_patch::Patch>,
    warnings: &[String],
) -> Vec<u8> {
    let json = patch.map(|p| {
        let mut json = Vec::with_capacity(1024);
        // A Patch is a list of plain serde values: serialising it cannot fail.
        if serde_json::to_writer(&mut json, p).is_err() {
            json = b"[]".to_vec();
        }
        json
    });
    allow_json(envelope, uid, json.as_deref(), warnings)
}

/// Like [`allow`], with the JSON Patch already serialised (`patch_json`, a JSON array).
///
/// The reply is written in one pass into one buffer sized up front: the patch is base64-encoded
/// straight into it (the base64 alphabet needs no JSON escaping). The bytes are those serde
/// would write for the same reply (field order `apiVersion`, `kind`, `response`: `uid`,
/// `allowed`, then `patch`/`patchType` and `warnings` only when present).
pub fn allow_json(
    envelope: &Envelope,
    uid: &str,
    patch_json: Option<&[u8]>,
    warnings: &[String],
) -> Vec<u8> {
    let patch_len = patch_json.map_or(0, |p| p.len().div_ceil(3) * 4);
    let strings = envelope.api_version.len() + envelope.kind.len() + uid.len();
    let warned: usize = warnings.iter().map(|w| w.len() + 8).sum();
    let mut out = Vec::with_capacity(128 + strings + patch_len + warned);
    out.extend_from_slice(br#"{"apiVersion":"#);
    json_string(&mut out, &envelope.api_version);
    out.extend_from_slice(br#","kind":"#);
    json_string(&mut out, &envelope.kind);
    out.extend_from_slice(br#","response":{"uid":"#);
    json_string(&mut out, uid);
    out.extend_from_slice(br#","allowed":true"#);
    if let Some(patch) = patch_json {
        out.extend_from_slice(br#","patch":""#);
        base64_into(&mut out, patch);
        out.extend_from_slice(br#"","patchType":"JSONPatch""#);
    }
    if !warnings.is_empty() {
        out.extend_from_slice(br#","warnings":["#);
        for (i, warning) in warnings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(&mut out, warning);
        }
        out.push(b']');
    }
    out.extend_from_slice(b"}}");
    out
}

/// Appends standard base64 (with padding) of `input` to `out`, with `base64-simd` (AVX2/SSSE3
/// when the CPU has them, detected at run time; already in the build through the AWS SDK). The
/// patch of a typical pod is ~1 KB: the `base64` crate's general-purpose engine took about 7
/// instructions a byte, a 12-bit pair table 3.5; with this the whole reply to the bench review
/// (994-byte patch) takes 2.1 k.
fn base64_into(out: &mut Vec<u8>, input: &[u8]) {
    base64_simd::STANDARD.encode_append(input, out);
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if crate::scan::is_plain_text(s.as_bytes()) {
        // Printable ASCII without quote or backslash: serde_json writes it as is.
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Serialises the reply to a body that could not be decoded (`allowed: false`).
pub fn reject(rejection: &Rejection) -> Vec<u8> {
    encode(&ReviewOut {
        api_version: &rejection.envelope.api_version,
        kind: &rejection.envelope.kind,
        response: ResponseOut {
            uid: &rejection.uid,
            allowed: false,
            status: Some(StatusOut {
                message: &rejection.message,
            }),
            patch: None,
            patch_type: None,
            warnings: &[],
        },
    })
}

fn encode(review: &ReviewOut<'_>) -> Vec<u8> {
    // Only strings, bools and options of them: serialisation cannot fail.
    let size = 256 + review.response.patch.as_ref().map_or(0, String::len);
    let mut out = Vec::with_capacity(size);
    let _ = serde_json::to_writer(&mut out, review);
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn should_decode_v1beta1_and_echo_envelope() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview",
            "request":{"uid":"u-1","namespace":"ns","object":{"metadata":{"name":"p"},"spec":{"serviceAccountName":"sa"}}}}"#;
        let req = decode(body).unwrap();
        assert_eq!(req.envelope.api_version, API_VERSION_V1BETA1);
        assert_eq!(req.namespace, "ns");
        assert_eq!(req.service_account_name(), "sa");
        let out = json(&allow(&req.envelope, &req.uid, None, &[]));
        assert_eq!(
            out,
            serde_json::json!({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview",
                "response":{"uid":"u-1","allowed":true}})
        );
    }

    #[test]
    fn should_default_service_account_and_namespace_from_pod() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "request":{"uid":"u","object":{"metadata":{"namespace":"from-pod"},"spec":{}}}}"#;
        let req = decode(body).unwrap();
        assert_eq!(req.namespace, "from-pod");
        assert_eq!(req.service_account_name(), "default");
    }

    #[test]
    fn should_reject_empty_and_requestless_bodies_as_bad_content() {
        for body in [
            &b""[..],
            b"  \n",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
        ] {
            let err = decode(body).unwrap_err();
            assert_eq!(err.message, "bad content");
            let out = json(&reject(&err));
            assert_eq!(out["response"]["allowed"], false);
            assert_eq!(out["response"]["status"]["message"], "bad content");
            assert_eq!(out["apiVersion"], API_VERSION_V1);
        }
    }

    #[test]
    fn should_reject_truncated_json_and_non_pod_objects() {
        let err = decode(br#"{"apiVersion":"admission.k8s.io/v1","kind":"Adm"#).unwrap_err();
        assert!(err.message.contains("json parse error"), "{}", err.message);
        let err = decode(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":"nope"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.uid, "x");
        assert!(err.message.contains("string"), "{}", err.message);
    }

    #[test]
    fn should_write_allow_replies_byte_for_byte_as_serde_does() {
        let envelopes = [
            Envelope::default(),
            Envelope {
                api_version: API_VERSION_V1BETA1.into(),
                kind: "Admission\"Review\\\u{1}é".into(),
            },
        ];
        let patches: [Option<&[u8]>; 4] =
            [None, Some(b""), Some(b"[]"), Some(br#"[{"op":"add"}]"#)];
        let warnings = [
            vec![],
            vec!["one \"quoted\"\n".to_owned(), "two ✓".to_owned()],
        ];
        for envelope in &envelopes {
            for uid in ["", "705ab4f5-6393-11e8-b7cc-42010a800002", "\u{7f}\t"] {
                for patch in patches {
                    for warnings in &warnings {
                        let ours = allow_json(envelope, uid, patch, warnings);
                        let b64 = base64::engine::general_purpose::STANDARD;
                        let serde = encode(&ReviewOut {
                            api_version: &envelope.api_version,
                            kind: &envelope.kind,
                            response: ResponseOut {
                                uid,
                                allowed: true,
                                status: None,
                                patch: patch.map(|p| b64.encode(p)),
                                patch_type: patch.map(|_| "JSONPatch"),
                                warnings,
                            },
                        });
                        assert_eq!(
                            String::from_utf8(ours).unwrap(),
                            String::from_utf8(serde).unwrap()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn should_base64_like_the_base64_crate_for_every_length() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let bytes: Vec<u8> = (0..600u32).map(|i| (i * 97 + i / 7) as u8).collect();
        for len in 0..bytes.len() {
            for start in [0, 1, 255] {
                let input: Vec<u8> = bytes[..len].iter().map(|b| b.wrapping_add(start)).collect();
                let mut out = b"x".to_vec();
                base64_into(&mut out, &input);
                assert_eq!(&out[1..], b64.encode(&input).as_bytes(), "len {len}");
            }
        }
        let every_byte: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        base64_into(&mut out, &every_byte);
        assert_eq!(out, b64.encode(&every_byte).as_bytes());
    }

    #[test]
    fn should_base64_the_patch() {
        let patch: json_patch::Patch = serde_json::from_value(
            serde_json::json!([{"op":"add","path":"/metadata/labels","value":{}}]),
        )
        .unwrap();
        let out = json(&allow(
            &Envelope::default(),
            "u",
            Some(&patch),
            &["w".into()],
        ));
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(out["response"]["patch"].as_str().unwrap())
            .unwrap();
        assert_eq!(json(&raw), serde_json::to_value(&patch).unwrap());
        assert_eq!(out["response"]["warnings"][0], "w");
    }
}
