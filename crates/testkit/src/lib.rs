//! The test harness every suite shares: real upstream servers (HTTP, TLS, mTLS), the
//! `oidc-provider` authorization server, `keyway serve` processes, and fresh test databases
//! named with the run's prefix. Used only as a dev-dependency.
// A failed unwrap fails the test that called it, which is what a harness should do.
#![allow(clippy::unwrap_used)]
// Harness handles are never printed; their inner servers and processes say nothing useful.
#![allow(missing_debug_implementations)]

pub mod auth_server;
pub mod browser;
pub mod db;
pub mod fuzz;
pub mod process;
pub mod upstream;
pub mod webdriver;
