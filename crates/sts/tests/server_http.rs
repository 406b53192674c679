//! The HTTP server itself: what the connection tells the policy engine (`aws:SourceIp`), the
//! probe paths and their methods, and graceful shutdown.

mod iam_support;

use iam_support::*;

/// `aws:SourceIp` is the address of the connection the call came in on.
#[tokio::test]
async fn source_ip_conditions_see_the_callers_address() {
    let t = TestServer::start().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:GetRole","Resource":"*",
         "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},
        {"Effect":"Allow","Action":"iam:ListRoles","Resource":"*",
         "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    let (_, creds) = t.role_session("netbound", "by-network", policy).await;
    let session = t.session_iam(&creds, Some(creds.session_token.clone()));
    session
        .get_role()
        .role_name("netbound")
        .send()
        .await
        .expect("GetRole from loopback is allowed by the 127.0.0.0/8 statement");
    aws_error_message(session.list_roles().send().await, "AccessDenied");
    t.stop().await;
}

/// `/healthz`, `/readyz` and `/metrics` answer GET and HEAD; other methods get 405 with
/// `Allow`, and never reach the Query API.
#[tokio::test]
async fn probe_paths_answer_get_and_head_only() {
    let t = TestServer::start().await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let url = format!("{}{path}", t.url());
        let get = client.get(&url).send().await.unwrap();
        assert_eq!(get.status().as_u16(), 200, "GET {path}");
        assert!(
            get.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "GET {path}"
        );
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status().as_u16(), 200, "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
        let post = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Action=ListRoles&Version=2010-05-08")
            .send()
            .await
            .unwrap();
        assert_eq!(post.status().as_u16(), 405, "POST {path}");
        assert_eq!(post.headers()["allow"], "GET,HEAD", "POST {path}");
    }
    let health = client.get(format!("{}/healthz", t.url())).send().await;
    assert_eq!(health.unwrap().text().await.unwrap(), "ok\n");
    t.stop().await;
}

/// Shutdown stops accepting, lets a request already in flight finish, and closes idle
/// keep-alive connections instead of waiting for them.
#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestServer::start().await;
    let addr = t.server.addr();
    // An idle keep-alive connection: one request answered, then nothing.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // A request whose body is still on its way when shutdown begins.
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    busy.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let stopping = tokio::spawn(t.server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the request in flight"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections once shutdown began"
    );
    busy.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut reply = Vec::new();
    busy.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    // Unsigned GetCallerIdentity: a complete AWS error answer, then the connection closes.
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    assert!(
        reply.contains("<Code>MissingAuthenticationToken</Code>"),
        "{reply}"
    );
    tokio::time::timeout(std::time::Duration::from_secs(5), stopping)
        .await
        .expect("shutdown ends once the request is answered")
        .unwrap()
        .unwrap();
    assert_eq!(
        idle.read(&mut buf).await.unwrap(),
        0,
        "the idle connection was closed"
    );
}
