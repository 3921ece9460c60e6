//! End-to-end tests of the HTTP API, each run on SQLite and on PostgreSQL.

mod helpers;

mod bad_input;
mod credentials;
mod operations;
mod tenancy;
