//! Kontakt's domain: what a request is, what may happen to it, and when.
//!
//! - [`model`]: the regulation's vocabulary — deadline classes, statuses,
//!   organizations, categories, routing rules, the address registry — as
//!   parsed newtypes.
//! - [`lifecycle`]: the request state machine, a pure `decide`/`apply` pair.
//! - [`service`]: [`Kontakt`], which loads state through the
//!   [`Store`](kontakt_storage::Store) trait, decides, and writes the record,
//!   its events and its index entries in one atomic, durable write.
//! - [`reference`] and [`demo`]: reference data, its CSV formats, and the
//!   demo city.
//!
//! The main design decision: **the current state is the fold of the events**,
//! and the stored record is that fold, written together with the events. The
//! domain never reads a clock; time comes in as an argument ([`Clock`]).
//!
//! ```
//! use kontakt_workflow::{Kontakt, SystemClock, demo};
//! let dir = tempfile::tempdir().unwrap();
//! let store = kontakt_storage::SledStore::open(dir.path()).unwrap();
//! let kontakt = Kontakt::new(std::sync::Arc::new(store), std::sync::Arc::new(SystemClock));
//! demo::load(&kontakt).unwrap().expect("an empty store loads the city");
//! assert!(kontakt.organizations().unwrap().len() >= 6);
//! ```

// Library code handles its errors; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod analytics;
pub mod appeals;
pub mod board;
pub mod callbacks;
pub mod capacity;
pub mod check;
pub mod clock;
pub mod delivery;
pub mod demo;
pub mod demo_activity;
mod error;
pub mod incidents;
pub mod indexes;
pub mod lifecycle;
pub mod model;
pub mod notify;
pub mod refdata;
pub mod reference;
pub mod reports;
pub mod routing;
pub mod service;
pub mod status_script;
pub mod tokens;

pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use error::DomainError;
pub use lifecycle::{Applicant, Command, Event, EventKind, Request, SlaPolicy};
pub use service::{Kontakt, NewRequest, Page, RequestQuery};
