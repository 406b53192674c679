//! One module per `irsa` command.

pub mod cluster;
pub mod demo;
pub mod issuer;
pub mod keys;
pub mod policy;
pub mod sts;
pub mod token;
pub mod webhook;
