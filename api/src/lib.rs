//! Kontakt's API layer: the GraphQL schema over the domain, role-scoped
//! tokens, the HTTP server (GraphQL over HTTP and websockets, health,
//! metrics, the public map, Open311 and the web client) and the `kontakt`
//! command line.
//!
//! The API translates; it does not decide. Resolvers parse input into the
//! domain's types, check who is asking, call [`kontakt_workflow::Kontakt`], and
//! map its typed errors to GraphQL error codes in one place
//! ([`graphql::errors`]).

// Library code handles its errors; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod admin;
pub mod ami;
pub mod appeals_docx;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dialer;
pub mod fanout;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod open311;
pub mod public;
pub mod ratelimit;
pub mod reports;
pub mod server;
pub mod state;
pub mod telephony;
pub mod ui;
pub mod ws;
