//! `laminar tags IMAGE`: the tags a registry has, ordered as a rule would order them, and the
//! tag the rule would select. Writes nothing but the registry cache.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use clap::Args;
use serde::Serialize;

use super::{CliError, load_config};
use crate::config::{Environment, Registry};
use crate::image::forms::chart_version;
use crate::image::reference::Reference;
use crate::policy::{Ago, Order, Pattern, Policy, Selection, TagInfo};
use crate::registry::{Options, Registries};
use crate::trust::Verdict;

#[derive(Debug, Args)]
pub struct TagsArgs {
    /// Image name without tag, e.g. 127.0.0.1:5000/acme/app; a chart's as laminar scan shows it
    /// (an OCI chart's `oci://` may be kept)
    pub image: String,
    /// The image is a Helm chart in an OCI registry: list its versions (a tag's `_` is the
    /// version's `+`)
    #[arg(long)]
    pub chart: bool,
    /// Only tags matching this pattern (glob:…, regex:…, semver:…) [default: every tag]
    #[arg(long)]
    pub pattern: Option<String>,
    /// Ordering: time, semver, alphabetical or numerical [default: as for the pattern]
    #[arg(long, value_parser = clap::value_parser!(Order))]
    pub sort: Option<Order>,
    /// Sort on this regex's capture group instead of the whole tag
    #[arg(long, value_name = "RE")]
    pub extract: Option<String>,
    /// asc, or desc: the smallest is newest (alphabetical and numerical sorts)
    #[arg(long, value_parser = ["asc", "desc"], default_value = "asc")]
    pub order: String,
    /// Only tags whose extracted part (else the tag) is a version in this semver range
    #[arg(long, value_name = "RANGE")]
    pub range: Option<String>,
    /// Select only tags at least this old: seconds, or e.g. 90s, 30m, 72h, 3d
    #[arg(long, value_name = "AGE", value_parser = |s: &str| crate::config::parse_duration(s).ok_or("expected e.g. 3600, 30m, 72h or 3d"))]
    pub min_age: Option<std::time::Duration>,
    /// The tag in use now: select only a strictly newer one
    #[arg(long, value_name = "TAG")]
    pub current: Option<String>,
    /// Judge the newest tags (up to 50) by the registry's `verify` block in the config, and
    /// select the newest trusted one
    #[arg(long)]
    pub verify: bool,
    /// Plain HTTP
    #[arg(long)]
    pub insecure: bool,
    /// One JSON object
    #[arg(long)]
    pub json: bool,
}

impl clap::builder::ValueParserFactory for Order {
    type Parser = clap::builder::ValueParser;

    fn value_parser() -> Self::Parser {
        clap::builder::ValueParser::new(|s: &str| s.parse::<Order>())
    }
}

#[derive(Serialize)]
struct Listing<'a> {
    image: &'a str,
    /// `pushed` or `created`: what the tags' times are.
    time_source: &'static str,
    tags: Vec<Row<'a>>,
    selected: Option<&'a str>,
}

#[derive(Serialize)]
struct Row<'a> {
    tag: &'a str,
    digest: Option<&'a str>,
    created: Option<String>,
    age_seconds: Option<u64>,
    /// With `--verify`: `trusted…` or why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<String>,
}

/// Tags judged at most by `--verify`, newest first.
const VERIFIED_AT_MOST: usize = 50;

pub(super) fn run(args: &TagsArgs, config: Option<&Path>) -> Result<(), CliError> {
    let usage = |e: String| CliError::Usage(e);
    let pattern = Pattern::parse(args.pattern.as_deref().unwrap_or("glob:*"))
        .map_err(|e| usage(e.to_string()))?;
    let mut policy = Policy::new(pattern, &[], args.sort, args.extract.as_deref())
        .map_err(|e| usage(e.to_string()))?;
    if args.order == "desc" {
        policy = policy.descending().map_err(|e| usage(e.to_string()))?;
    }
    if let Some(range) = &args.range {
        policy = policy.with_range(range).map_err(|e| usage(e.to_string()))?;
    }
    if let Some(min_age) = args.min_age {
        policy = policy.with_min_age(min_age);
    }
    let image = args.image.strip_prefix("oci://").unwrap_or(&args.image);
    let (mut registry, data_dir) = match config {
        Some(path) => {
            let config = load_config(path)?.config;
            let registry = config.registry_for(image).cloned().ok_or_else(|| {
                usage(format!(
                    "no registry in {} has a prefix of {}",
                    path.display(),
                    image
                ))
            })?;
            (registry, config.global.data_dir)
        }
        None => (
            Registry::new(&registry_prefix(image)?),
            Environment::from_process().default_data_dir(),
        ),
    };
    registry.insecure |= args.insecure;
    let gate = match (args.verify, &registry.gate) {
        (false, _) => None,
        (true, Some(gate)) => Some(gate.clone()),
        (true, None) => {
            return Err(usage(
                "--verify needs the registry's verify block: name the config with --config".into(),
            ));
        }
    };
    let now = SystemTime::now();
    let (tags, verdicts) = super::block_on(async {
        let registries = Registries::new(
            std::slice::from_ref(&registry),
            &data_dir,
            Options::default(),
        )
        .await;
        let with_digests = policy.needs_times() || gate.is_some();
        let mut tags = registries.tags(&registry.id(), image, with_digests).await?;
        if args.chart {
            let versions = tags.iter().map(|t| TagInfo {
                tag: chart_version(&t.tag),
                ..t.clone()
            });
            tags = std::sync::Arc::new(versions.collect());
        }
        let mut verdicts = HashMap::new();
        if let Some(gate) = &gate {
            for info in policy.rank(&tags).into_iter().take(VERIFIED_AT_MOST) {
                let Some(digest) = &info.digest else { continue };
                let verdict = registries
                    .judge(&registry.id(), image, digest, gate, now)
                    .await;
                verdicts.insert(info.tag.clone(), verdict);
            }
        }
        registries.save_cache().await;
        Ok::<_, CliError>((tags, verdicts))
    })?;
    let trusted =
        |t: &TagInfo| gate.is_none() || verdicts.get(&t.tag).is_some_and(Verdict::trusted);
    let ranked = policy.rank(&tags);
    let selected = match &args.current {
        Some(current) => {
            let eligible: Vec<TagInfo> = tags.iter().filter(|t| trusted(t)).cloned().collect();
            match policy.select(current, &eligible, now) {
                Selection::Update { to, .. } => ranked.iter().find(|t| t.tag == to.tag),
                Selection::Keep(_) => None,
            }
        }
        None => ranked.iter().find(|t| trusted(t)),
    }
    .map(|t| t.tag.as_str());
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let row = |t| row(t, now, &verdicts);
    let time_source = registry.kind.time_source();
    if args.json {
        let listing = Listing {
            image,
            time_source,
            tags: ranked.iter().map(|t| row(t)).collect(),
            selected,
        };
        serde_json::to_writer(&mut out, &listing).map_err(io::Error::other)?;
        writeln!(out)?;
    } else {
        writeln!(out, "times: {time_source}")?;
        for t in &ranked {
            let r = row(t);
            let age = r
                .age_seconds
                .map(|s| format!("{} ago", Ago(Duration::from_secs(s))));
            write!(
                out,
                "{}\t{}\t{}\t{}",
                r.tag,
                r.digest.unwrap_or("-"),
                r.created.as_deref().unwrap_or("-"),
                age.as_deref().unwrap_or("-")
            )?;
            match (&gate, r.verdict) {
                (None, _) => writeln!(out)?,
                (Some(_), verdict) => writeln!(out, "\t{}", verdict.as_deref().unwrap_or("-"))?,
            }
        }
        match selected {
            Some(tag) => writeln!(out, "selected: {tag}")?,
            None => writeln!(out, "selected: none")?,
        }
    }
    Ok(())
}

fn row<'a>(t: &'a TagInfo, now: SystemTime, verdicts: &HashMap<String, Verdict>) -> Row<'a> {
    Row {
        tag: &t.tag,
        digest: t.digest.as_deref(),
        created: t.pushed.map(rfc3339),
        age_seconds: t
            .pushed
            .and_then(|at| now.duration_since(at).ok())
            .map(|age| age.as_secs()),
        verdict: verdicts.get(&t.tag).map(ToString::to_string),
    }
}

fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time).map_or_else(|_| "-".to_string(), |t| t.to_string())
}

/// The registry part of an image name, as a prefix (`docker.io` for bare names).
fn registry_prefix(image: &str) -> Result<String, CliError> {
    let reference = Reference::parse(image)
        .filter(|r| r.tag.is_none() && r.digest.is_none())
        .ok_or_else(|| CliError::Usage(format!("{image:?} is not an image name without tag")))?;
    Ok(reference.domain.unwrap_or_else(|| "docker.io".into()))
}
