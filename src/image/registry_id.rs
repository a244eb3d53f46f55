//! Which configured registry a reference belongs to.

/// A configured registry, named by its prefix (prefixes are unique in a config): what the
/// scanner reports for a reference and what the registry layer is asked by.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(from = "String", into = "String")]
pub struct RegistryId(std::sync::Arc<str>);

impl From<String> for RegistryId {
    fn from(prefix: String) -> RegistryId {
        RegistryId::new(&prefix)
    }
}

impl From<RegistryId> for String {
    fn from(id: RegistryId) -> String {
        id.0.to_string()
    }
}

impl RegistryId {
    pub fn new(prefix: &str) -> RegistryId {
        RegistryId(prefix.trim_end_matches('/').into())
    }

    /// The prefix, without a trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RegistryId {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
