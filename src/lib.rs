pub mod config {
    pub mod yaml;
}
pub mod image;
pub mod policy;
