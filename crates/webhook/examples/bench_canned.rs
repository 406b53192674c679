//! Benchmark helper: the transport ceiling. A bare rustls + hyper server, with the same TLS
//! settings as the webhook, that answers every request with a canned body (the webhook's own
//! response, captured by the bench script) after reading the request body.
//!
//! `cargo run --release -p irsa-webhook --example bench_canned -- CERT KEY RESPONSE_FILE PORT`

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use irsa_webhook::tls::{ReloadingCert, TlsSettings};

/// The same allocator as the `irsa` binary, so the ceiling is not lowered by glibc's malloc.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cert, key, response, port] = args.as_slice() else {
        return Err("usage: bench_canned CERT KEY RESPONSE_FILE PORT".into());
    };
    let canned = Bytes::from(std::fs::read(response)?);
    let resolver = Arc::new(ReloadingCert::load(cert, key)?);
    let tls = TlsSettings::default().server_config(resolver)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let canned = canned.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let canned = canned.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(canned))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
