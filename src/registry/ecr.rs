//! AWS ECR through its own API: one paginated `DescribeImages` gives every tag with its digest
//! and push time, so no manifest is ever fetched.
//!
//! Credentials come from the standard AWS chain (environment, `AWS_PROFILE`, IRSA web identity,
//! container and instance roles), optionally assuming `roleArn`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ecr::error::{DisplayErrorContext, SdkError};
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::types::{DescribeImagesFilter, TagStatus};

use super::counters::{RequestCounters, RequestKind};
use super::error::Failure;
use super::image::ImageName;
use super::ratelimit::Limiter;
use crate::config::Registry;
use crate::image::reference::is_valid_tag;
use crate::policy::TagInfo;

/// The most DescribeImages returns per page.
const PAGE_SIZE: i32 = 1000;

#[derive(Debug)]
pub(super) struct EcrSource {
    /// Registry name, for counters.
    name: String,
    client: aws_sdk_ecr::Client,
    registry_id: Option<String>,
    limiter: Limiter,
    counters: Arc<RequestCounters>,
    max_pages: usize,
}

impl EcrSource {
    pub(super) async fn new(
        registry: &Registry,
        counters: Arc<RequestCounters>,
        max_pages: usize,
    ) -> EcrSource {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_timeout(registry.timeout)
                .build(),
        );
        if let Some(region) = &registry.ecr.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_ecr::config::Builder::from(&shared);
        if let Some(role) = &registry.ecr.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name("laminar")
                .configure(&shared)
                .build()
                .await;
            config = config.credentials_provider(provider);
        }
        EcrSource {
            name: registry.name.clone(),
            client: aws_sdk_ecr::Client::from_conf(config.build()),
            registry_id: registry.ecr.registry_id.clone(),
            limiter: Limiter::new(registry.rate_limit, registry.max_concurrency),
            counters,
            max_pages,
        }
    }

    pub(super) async fn tags(&self, image: &ImageName) -> Result<Vec<TagInfo>, Failure> {
        let mut tags = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..self.max_pages {
            let started = std::time::Instant::now();
            let output = {
                let _slot = self.limiter.acquire().await;
                self.client
                    .describe_images()
                    .repository_name(&image.repository)
                    .set_registry_id(self.registry_id.clone())
                    .filter(
                        DescribeImagesFilter::builder()
                            .tag_status(TagStatus::Tagged)
                            .build(),
                    )
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.take())
                    .send()
                    .await
            };
            let output = match output {
                Ok(output) => {
                    self.counters
                        .record(&self.name, RequestKind::Ecr, "ok", started.elapsed());
                    output
                }
                Err(err) => {
                    let failure = failure(&err);
                    self.counters.record(
                        &self.name,
                        RequestKind::Ecr,
                        failure.metric_label(),
                        started.elapsed(),
                    );
                    return Err(failure);
                }
            };
            for detail in output.image_details() {
                let pushed = detail
                    .image_pushed_at()
                    .and_then(|t| SystemTime::try_from(*t).ok());
                let digest = detail.image_digest().map(str::to_string);
                for tag in detail.image_tags() {
                    if !is_valid_tag(tag) {
                        tracing::warn!(image = %image.written, tag = %tag.escape_debug(), "ECR listed an invalid tag; dropped");
                        continue;
                    }
                    tags.push(TagInfo {
                        tag: tag.clone(),
                        pushed,
                        digest: digest.clone(),
                    });
                }
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(tags),
            }
        }
        Err(Failure::TooManyTags(tags.len()))
    }
}

fn failure(err: &SdkError<DescribeImagesError>) -> Failure {
    if err
        .as_service_error()
        .is_some_and(|e| e.is_repository_not_found_exception())
    {
        return Failure::NotFound;
    }
    if let SdkError::TimeoutError(_) = err {
        return Failure::Timeout;
    }
    let message = DisplayErrorContext(err).to_string();
    if message.to_ascii_lowercase().contains("credentials") {
        Failure::Credentials(message)
    } else {
        Failure::Ecr(message)
    }
}
