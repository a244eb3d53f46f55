//! The HTTP server against careless and hostile clients: half-sent requests, shutdown with
//! them open, `/metrics` behind the token, the status cookie behind an https proxy.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixtures::daemon::{Daemon, TOKEN, setup};

/// Clients that send half a request and then nothing.
async fn half_open(daemon: &Daemon, count: usize) -> Vec<TcpStream> {
    let mut clients = Vec::new();
    for _ in 0..count {
        let mut client = TcpStream::connect(daemon.address()).await.unwrap();
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: laminar\r\nX-Slow: ")
            .await
            .unwrap();
        clients.push(client);
    }
    clients
}

/// Has the server closed `client`? Reads until the end, for at most `limit` (a bound for a
/// hung test, not a measurement).
async fn closed_by_server(client: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = Vec::new();
    matches!(
        tokio::time::timeout(limit, client.read_to_end(&mut sink)).await,
        Ok(Ok(_) | Err(_))
    )
}

#[tokio::test]
async fn half_sent_requests_are_cut_off_and_never_hold_up_shutdown() {
    let s = setup(
        "",
        "  httpHeaderTimeout: 1\n  metricsAuth: token\n  trustedProxies: [127.0.0.1]\n",
    )
    .await;
    let mut daemon = Daemon::start(s.dir.path(), Some(TOKEN)).await;

    // /metrics names every repo and image: with metricsAuth: token, only for the token.
    let anonymous = reqwest::get(format!("{}/metrics", daemon.base()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(daemon.get("/metrics").await.unwrap().status(), 200);

    // The status cookie is Secure when a trusted proxy says the request came over https.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = |proto: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/login", daemon.base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={TOKEN}"));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    let cookie = |response: &reqwest::Response| {
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let over_https = login(Some("https")).await.unwrap();
    assert_eq!(over_https.status(), 303);
    assert!(
        cookie(&over_https).ends_with("; Secure"),
        "{}",
        cookie(&over_https)
    );
    let plain = login(None).await.unwrap();
    assert!(!cookie(&plain).contains("Secure"), "{}", cookie(&plain));

    // Fifty clients that never finish their request head are disconnected by the server.
    let mut slow = half_open(&daemon, 50).await;
    for client in &mut slow {
        assert!(closed_by_server(client, Duration::from_secs(60)).await);
    }
    assert_eq!(daemon.get("/healthz").await.unwrap().status(), 200);
    assert!(daemon.terminate().success());

    // With a header timeout far beyond the grace period, fifty half-open clients still do
    // not stop SIGTERM from ending the daemon cleanly.
    let config = s.dir.path().join("laminar.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("httpHeaderTimeout: 1\n", "httpHeaderTimeout: 600\n"),
    )
    .unwrap();
    let mut daemon = Daemon::start(s.dir.path(), Some(TOKEN)).await;
    let mut slow = half_open(&daemon, 50).await;
    let status = daemon.terminate();
    assert!(
        status.success(),
        "SIGTERM with half-open clients → {status}"
    );
    for client in &mut slow {
        assert!(closed_by_server(client, Duration::from_secs(5)).await);
    }
}
