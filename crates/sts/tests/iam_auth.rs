//! Who may call IAM: SigV4 checks (header and presigned, computed by the `aws-sigv4`
//! crate and by aws-sdk-iam), AWS's refusal codes, and role sessions whose policies
//! decide which IAM actions they may call.

mod iam_support;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use iam_support::*;
use irsa_sts::credentials::{self, NewSession};
use irsa_sts::sigv4::uri_encode;

/// Signs a request with aws-sigv4 and sends it with reqwest; returns (status, request-id header, body).
async fn send_signed(
    method: &str,
    url: &str,
    body: &str,
    service: &str,
    location: SignatureLocation,
    time: SystemTime,
) -> (u16, String, String) {
    let identity = Credentials::new(ADMIN_ID, ADMIN_SECRET, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = location;
    settings.expires_in = Some(Duration::from_secs(300));
    let params = SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let content_type = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    let headers: Vec<(&str, &str)> = if body.is_empty() {
        vec![]
    } else {
        vec![content_type]
    };
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut url = url.to_owned();
    for (i, (k, v)) in instructions.params().iter().enumerate() {
        let sep = if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        };
        url.push_str(&format!(
            "{sep}{}={}",
            uri_encode(k, false),
            uri_encode(v, false)
        ));
    }
    let client = reqwest::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), &url)
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-amzn-requestid")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, id, resp.text().await.unwrap())
}

fn code_of(xml: &str) -> &str {
    let start = xml.find("<Code>").map(|i| i + 6).unwrap_or(0);
    let end = xml.find("</Code>").unwrap_or(0);
    &xml[start..end]
}

#[tokio::test]
async fn unsigned_and_badly_signed_calls_are_refused() {
    let t = TestServer::start().await;
    let body = "Action=ListRoles&Version=2010-05-08";
    let resp = reqwest::Client::new()
        .post(t.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["content-type"], "text/xml");
    let id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let xml = resp.text().await.unwrap();
    assert_eq!(
        xml,
        format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
             <Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message></Error>\
             <RequestId>{id}</RequestId></ErrorResponse>"
        )
    );

    let wrong_secret = iam_client(
        &t.url(),
        ADMIN_ID,
        "not-the-secret-0000000000000000000000000",
        None,
    );
    assert_aws_error(
        wrong_secret.list_roles().send().await,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
         Access Key and signing method. Consult the service documentation for details.",
    );
    let unknown = iam_client(&t.url(), "AKIAUNKNOWNUNKNOWN00", ADMIN_SECRET, None);
    assert_aws_error(
        unknown.list_roles().send().await,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );

    // Signed for the wrong service, and signed too long ago.
    let (status, _, xml) = send_signed(
        "POST",
        &t.url(),
        body,
        "sts",
        SignatureLocation::Headers,
        SystemTime::now(),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        xml.contains("Credential should be scoped to correct service: &apos;iam&apos;."),
        "{xml}"
    );
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let (status, _, xml) = send_signed(
        "POST",
        &t.url(),
        body,
        "iam",
        SignatureLocation::Headers,
        old,
    )
    .await;
    assert_eq!((status, code_of(&xml)), (403, "SignatureDoesNotMatch"));
    assert!(xml.contains("Signature expired: "), "{xml}");
    // A body altered after signing.
    let resp = reqwest::Client::new()
        .post(t.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIRSATESTADMIN001/20260101/us-east-1/iam/aws4_request",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(code_of(&resp.text().await.unwrap()), "IncompleteSignature");
    t.stop().await;
}

#[tokio::test]
async fn header_query_and_presigned_forms_verify() {
    let t = TestServer::start().await;
    let now = SystemTime::now();
    // POST form body, header signature (what SDKs send).
    let (status, id, xml) = send_signed(
        "POST",
        &t.url(),
        "Action=ListRoles&Version=2010-05-08",
        "iam",
        SignatureLocation::Headers,
        now,
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.starts_with(
        "<ListRolesResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ListRolesResult>"
    ));
    assert!(xml.ends_with(&format!(
        "<ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata></ListRolesResponse>"
    )));
    // GET with the parameters in the query string, header signature.
    let url = format!(
        "{}/?Action=ListPolicies&Scope=AWS&Version=2010-05-08",
        t.url()
    );
    let (status, _, xml) =
        send_signed("GET", &url, "", "iam", SignatureLocation::Headers, now).await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("<PolicyName>AmazonS3FullAccess</PolicyName>"));
    // Presigned URL (X-Amz-Signature in the query).
    let (status, _, xml) =
        send_signed("GET", &url, "", "iam", SignatureLocation::QueryParams, now).await;
    assert_eq!(status, 200, "{xml}");
    // A presigned URL whose X-Amz-Expires has passed.
    let old = now - Duration::from_secs(600);
    let (status, _, xml) =
        send_signed("GET", &url, "", "iam", SignatureLocation::QueryParams, old).await;
    assert_eq!(
        (status, code_of(&xml)),
        (403, "SignatureDoesNotMatch"),
        "{xml}"
    );
    assert!(xml.contains("Signature expired"), "{xml}");
    t.stop().await;
}

#[tokio::test]
async fn role_sessions_get_what_their_policies_allow() {
    let t = TestServer::start().await;
    let allow_get = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::123456789012:role/reader"}]}"#;
    let (role, creds) = t.role_session("reader", "get", allow_get).await;
    assert!(creds.access_key_id.starts_with("ASIA"));
    let session = t.session_iam(&creds, Some(creds.session_token.clone()));
    let got = session.get_role().role_name("reader").send().await.unwrap();
    assert_eq!(got.role().unwrap().role_name(), "reader");
    assert_aws_error(
        session.list_roles().send().await,
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/reader/s1 is not authorized to perform: iam:ListRoles \
         because no identity-based policy allows the iam:ListRoles action",
    );

    // The token must belong to the access key id, be authentic and unexpired.
    let mut tampered = creds.session_token.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let bad = t.session_iam(&creds, Some(String::from_utf8(tampered).unwrap()));
    let get_role = |client: &aws_sdk_iam::Client| client.get_role().role_name("reader").send();
    aws_error_message(get_role(&bad).await, "InvalidClientTokenId");
    let no_token = t.session_iam(&creds, None);
    aws_error_message(get_role(&no_token).await, "InvalidClientTokenId");
    let old = credentials::issue(
        &t.state.session_key,
        NewSession::new(role.arn(), role.role_id(), "s2", 900),
        SystemTime::now() - Duration::from_secs(3600),
    )
    .unwrap();
    let expired = t.session_iam(&old, Some(old.session_token.clone()));
    assert_aws_error(
        get_role(&expired).await,
        "ExpiredToken",
        "The security token included in the request is expired",
    );
    t.stop().await;
}

#[tokio::test]
async fn oversized_and_unknown_requests_get_aws_errors() {
    let t = TestServer::start().await;
    let big = format!(
        "Action=ListRoles&Version=2010-05-08&Pad={}",
        "x".repeat(irsa_sts::server::MAX_BODY_BYTES)
    );
    let resp = reqwest::Client::new()
        .post(t.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(
        code_of(&resp.text().await.unwrap()),
        "RequestEntityTooLarge"
    );
    let (status, _, xml) = send_signed(
        "POST",
        &t.url(),
        "Action=CreateUser&Version=2010-05-08",
        "iam",
        SignatureLocation::Headers,
        SystemTime::now(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(xml.contains("<Code>InvalidAction</Code><Message>Could not find operation CreateUser for version 2010-05-08</Message>"), "{xml}");
    let resp = reqwest::Client::new()
        .post(t.url())
        .body("Version=2010-05-08")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(&resp.text().await.unwrap()), "MissingAction");
    // Metrics count every answer; unknown action names do not become labels.
    let metrics = reqwest::get(format!("{}/metrics", t.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "irsa_sts_requests_total{service=\"iam\",action=\"other\",code=\"InvalidAction\"} 1"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("CreateUser"), "{metrics}");
    assert!(
        metrics.contains("irsa_sts_request_duration_seconds_count{service=\"iam\"}"),
        "{metrics}"
    );
    let health = reqwest::get(format!("{}/readyz", t.url())).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    t.stop().await;
}

/// A session limited by a managed session policy keeps no permissions once that policy is
/// deleted: an empty session-policy set would otherwise read as "not limited".
#[tokio::test]
async fn a_session_whose_session_policy_was_deleted_keeps_no_permissions() {
    let t = TestServer::start().await;
    let iam = t.iam();
    let role = create_role(
        &iam,
        "limited",
        &trust_policy("oidc.example.com", "default:limited"),
    )
    .await;
    let allow_get = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}"#;
    put_role_policy(&iam, "limited", "get", allow_get).await;
    let limit_arn = create_policy(&iam, "session-limit", allow_get).await;

    let mut session = NewSession::new(role.arn(), role.role_id(), "s1", 900);
    session.policy_arns = vec![limit_arn.clone()];
    let creds = credentials::issue(&t.state.session_key, session, SystemTime::now()).unwrap();
    let client = t.session_iam(&creds, Some(creds.session_token.clone()));
    // Role policy and session policy both allow GetRole.
    client.get_role().role_name("limited").send().await.unwrap();

    iam.delete_policy()
        .policy_arn(&limit_arn)
        .send()
        .await
        .unwrap();
    aws_error_message(
        client.get_role().role_name("limited").send().await,
        "AccessDenied",
    );
}
