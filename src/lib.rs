//! Keyway as a library: the settings, the application builder and the log set-up that the
//! `keyway` binary and the test suite share, so tests run the application the binary runs.

pub mod configuration;
pub mod export;
pub mod keys;
pub mod retention;
pub mod startup;
pub mod telemetry;
