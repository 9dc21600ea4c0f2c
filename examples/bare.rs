//! The baseline `scripts/bench` compares credvend with: a bare axum server on the same
//! runtime flavour (tokio multi-thread, one worker per core), with the same `TCP_NODELAY` and
//! HTTP/1 stack, that answers every method and path with one pre-serialized 1 KiB JSON body.
//! No guard, no log, no audit: what credvend's own work costs is the difference.
//!
//! `cargo run --release --example bare -- 127.0.0.1:0` prints `listening on ADDR`, then serves
//! until killed.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;

/// About the size of credvend's IMDS credential document.
const BODY_BYTES: usize = 1024;

fn body() -> Bytes {
    let mut text = String::from("{\"Code\":\"Success\",\"Padding\":\"");
    while text.len() < BODY_BYTES - 2 {
        text.push('x');
    }
    text.push_str("\"}");
    Bytes::from(text)
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let body = body();
        let answer = move || {
            let body = body.clone();
            async move {
                let mut resp: Response = body.into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                resp
            }
        };
        let router = Router::new().fallback(answer);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).await
    })
}
