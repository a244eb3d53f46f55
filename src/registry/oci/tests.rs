use super::*;

#[test]
fn next_links_are_found_among_several() {
    assert_eq!(
        parse_next_link(r#"</v2/a/tags/list?last=x&n=100>; rel="next""#),
        Some("/v2/a/tags/list?last=x&n=100")
    );
    assert_eq!(
        parse_next_link(r#"<https://r/prev?a,b>; rel="prev", <https://r/next?c>; rel=next"#),
        Some("https://r/next?c")
    );
    assert_eq!(parse_next_link(r#"</x>; rel="prev""#), None);
    assert_eq!(parse_next_link("garbage"), None);
}

#[test]
fn creation_times_before_2000_are_unknown() {
    assert_eq!(plausible_time("1970-01-01T00:00:00Z"), None);
    assert_eq!(plausible_time("1999-12-31T23:59:59Z"), None);
    assert_eq!(plausible_time("not a time"), None);
    let t = plausible_time("2024-05-01T10:00:00.123456789+02:00").unwrap();
    assert_eq!(
        t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        1_714_550_400
    );
}

#[test]
fn platforms_are_picked_from_an_index() {
    let index: Manifest = serde_json::from_str(
        r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:arm","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:amd","platform":{"os":"linux","architecture":"amd64"}}]}"#,
    )
    .unwrap();
    assert!(index.is_index());
    assert_eq!(
        index.pick(&Platform::default()).as_deref(),
        Some("sha256:amd")
    );
    let arm: Platform = "linux/arm64/v8".parse().unwrap();
    assert_eq!(index.pick(&arm).as_deref(), Some("sha256:arm"));
    let arm_v7: Platform = "linux/arm64/v7".parse().unwrap();
    assert_eq!(index.pick(&arm_v7), None);
}
