//! Registry failures: typed, located (registry and image), free of secrets.

/// A failure to learn an image's tags, naming the registry and the image.
#[derive(Clone, Debug, thiserror::Error)]
#[error("registry {registry}: {image}: {failure}")]
pub struct RegistryError {
    pub registry: String,
    pub image: String,
    pub failure: Failure,
}

impl RegistryError {
    pub fn metric_label(&self) -> &'static str {
        self.failure.metric_label()
    }
}

/// What went wrong, without where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("rate limited (HTTP {status}); gave up after {attempts} attempts")]
    RateLimited { status: u16, attempts: u32 },
    #[error("server error (HTTP {status}); gave up after {attempts} attempts")]
    ServerError { status: u16, attempts: u32 },
    #[error(
        "HTTP {status} asking to wait {after}, longer than a cycle waits; trying again next cycle"
    )]
    WaitTooLong { status: u16, after: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("cannot get credentials: {0}")]
    Credentials(String),
    #[error("not found")]
    NotFound,
    #[error("unexpected HTTP {status} for {what}")]
    Status { status: u16, what: &'static str },
    #[error("network error: {0}")]
    Network(String),
    #[error("request timed out")]
    Timeout,
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("more than {0} tags: refusing a partial list (raise maxTags if this is right)")]
    TooManyTags(usize),
    #[error(
        "more than {0} pages of tags: refusing a partial list (raise maxPages if this is right)"
    )]
    TooManyPages(usize),
    #[error("the tag list's next page is one already fetched: a pagination loop")]
    PageLoop,
    #[error("ECR: {0}")]
    Ecr(String),
    #[error("cannot set up the client: {0}")]
    Setup(String),
    #[error("invalid image name: {0}")]
    InvalidImage(String),
}

impl Failure {
    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Failure::RateLimited { .. } => "rate_limited",
            Failure::ServerError { .. } => "server_error",
            Failure::WaitTooLong { .. } => "wait_too_long",
            Failure::Auth(_) => "auth",
            Failure::Credentials(_) => "credentials",
            Failure::NotFound => "not_found",
            Failure::Status { .. } => "http_status",
            Failure::Network(_) => "network",
            Failure::Timeout => "timeout",
            Failure::Malformed(_) => "malformed",
            Failure::TooManyTags(_) => "too_many_tags",
            Failure::TooManyPages(_) => "too_many_pages",
            Failure::PageLoop => "page_loop",
            Failure::Ecr(_) => "ecr",
            Failure::Setup(_) => "setup",
            Failure::InvalidImage(_) => "invalid_image",
        }
    }

    pub fn at(self, registry: &str, image: &str) -> RegistryError {
        RegistryError {
            registry: registry.to_string(),
            image: image.to_string(),
            failure: self,
        }
    }
}
