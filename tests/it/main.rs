//! Integration tests: the `laminar` binary driven as a user would.

mod acr;
mod check;
mod corpus;
mod cycle;
mod daemon;
mod deploy;
mod dockerhub;
mod ecr;
mod forms;
mod gar;
mod ghcr;
mod git;
mod git_server;
mod harbor;
mod incremental;
mod partial;
mod quay;
mod readme;
mod registry;
mod registry_faults;
mod registry_server;
mod safety;
mod scan;
mod signing;
mod util;
