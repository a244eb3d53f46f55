//! `global.shards`: a URL template or a list, with located errors.

use super::*;

fn with_shards(shards: &str) -> String {
    format!("global:\n  shards:\n{shards}dockerRegistries: []\ngit: []\n")
}

#[test]
fn a_template_names_each_pod_and_a_list_names_each_process() {
    let config = ok(&with_shards(
        "    count: 3\n    peerUrl: http://laminar-{ordinal}.laminar-headless:8080/\n",
    ))
    .config;
    let peers = config.global.shards.unwrap().peers;
    assert_eq!(
        peers,
        [
            "http://laminar-0.laminar-headless:8080",
            "http://laminar-1.laminar-headless:8080",
            "http://laminar-2.laminar-headless:8080",
        ]
    );
    let listed = ok(&with_shards(
        "    peers: [http://127.0.0.1:9001, https://b.example]\n",
    ))
    .config;
    assert_eq!(listed.global.shards.unwrap().peers.len(), 2);
}

#[test]
fn shards_without_a_way_to_reach_each_pod_are_located_errors() {
    for (shards, wanted) in [
        (
            "    count: 3\n",
            "laminar.yaml:3:5: shards needs count with peerUrl, or peers",
        ),
        (
            "    count: 2\n    peerUrl: http://laminar.svc:8080\n",
            "laminar.yaml:4:14: peerUrl needs {ordinal}",
        ),
        (
            "    peers: [ftp://x]\n",
            "laminar.yaml:3:13: invalid peer URL",
        ),
        (
            "    peers: [http://a:1, http://a:1]\n",
            "laminar.yaml:3:12: each peer URL may be listed once",
        ),
        (
            "    count: 0\n    peerUrl: http://p-{ordinal}\n",
            "laminar.yaml:3:12:",
        ),
    ] {
        let report = errors(&with_shards(shards));
        assert!(report.contains(wanted), "{shards}: {report}");
    }
}
