//! The per-address rate limit of the unauthenticated surface (`/public/*`,
//! `/open311/*`): a token bucket per client address (governor's GCRA, which
//! behaves as one), refusals answered with 429 and `Retry-After` in the shape
//! the surface speaks, and counted in `/metrics`.
//!
//! Memory stays bounded: a key whose bucket has refilled is indistinguishable
//! from a new one, so those are dropped every [`PRUNE_EVERY`] checks; what
//! remains is the addresses seen within one refill time. IPv6 clients are
//! keyed by their /64, the block one subscriber usually holds, so rotating
//! addresses inside it does not multiply the budget.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::metrics::SurfaceLabels;
use crate::state::AppState;

/// How many checks pass between two prunings of refilled buckets.
const PRUNE_EVERY: u64 = 1024;

/// A keyed token bucket, on the monotonic clock unless a test steps its own.
pub struct RateLimit<C: Clock = DefaultClock> {
    limiter: RateLimiter<IpAddr, DashMapStateStore<IpAddr>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    checks: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for RateLimit<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("keys", &self.limiter.len()).finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `per_minute` on average per address, `burst` at once; both at least 1.
    pub fn new(per_minute: u32, burst: u32) -> Result<Self, String> {
        Self::with_clock(per_minute, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimit<C> {
    /// The same limit on another clock.
    pub fn with_clock(per_minute: u32, burst: u32, clock: C) -> Result<Self, String> {
        let rate = NonZeroU32::new(per_minute).ok_or("public.rate_per_minute must be at least 1")?;
        let burst = NonZeroU32::new(burst).ok_or("public.burst must be at least 1")?;
        let quota = Quota::per_minute(rate).allow_burst(burst);
        let limiter = RateLimiter::dashmap_with_clock(quota, clock.clone());
        Ok(Self { limiter, clock, checks: AtomicU64::new(0) })
    }

    /// Takes one token for `addr`; when none is left, how long until one is.
    pub fn check(&self, addr: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&key(addr)).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// How many addresses are being tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// The bucket an address draws from: itself for IPv4, its /64 for IPv6.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Middleware: refuses a client over its budget before the handler runs.
pub async fn limit(State(app): State<AppState>, request: Request, next: Next) -> Response {
    // Served without connection info (in-process tests), every caller shares one bucket.
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    match app.public.limit.check(addr) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            // Whole seconds, rounded up, and never 0: a client told 0 retries at once.
            let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
            let path = request.uri().path();
            let surface = if path.starts_with("/open311") { "open311" } else { "public" };
            app.metrics.rate_limited.get_or_create(&SurfaceLabels { surface: surface.into() }).inc();
            let message = format!("too many requests from this address: retry in {secs} s");
            let mut response = if surface == "open311" {
                crate::open311::error_response(
                    crate::open311::Format::of_path(path),
                    &crate::open311::Open311Error::TooManyRequests(message),
                )
            } else {
                crate::public::error(axum::http::StatusCode::TOO_MANY_REQUESTS, &message)
            };
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_address_waits_while_others_do_not() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limit = RateLimit::with_clock(60, 3, clock.clone()).unwrap();
        let a = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            assert!(limit.check(a).is_ok());
        }
        assert_eq!(limit.check(a), Err(Duration::from_secs(1)));
        assert!(limit.check(IpAddr::from([192, 0, 2, 2])).is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_err());
    }

    #[test]
    fn ipv6_addresses_of_one_block_share_a_bucket() {
        let limit = RateLimit::new(60, 1).unwrap();
        assert!(limit.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(limit.check("2001:db8:1:2::ffff".parse().unwrap()).is_err());
        assert!(limit.check("2001:db8:1:3::1".parse().unwrap()).is_ok());
        assert!(limit.check("::ffff:192.0.2.9".parse().unwrap()).is_ok());
        assert!(limit.check("192.0.2.9".parse().unwrap()).is_err());
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limit = RateLimit::with_clock(60, 1, clock.clone()).unwrap();
        for i in 0..PRUNE_EVERY as u32 - 1 {
            let _ = limit.check(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(limit.tracked(), PRUNE_EVERY as usize - 1);
        clock.advance(Duration::from_secs(2));
        assert!(limit.check(IpAddr::from([10, 0, 0, 1])).is_ok());
        assert_eq!(limit.tracked(), 1);
    }

    #[test]
    fn zero_limits_are_refused() {
        assert!(RateLimit::new(0, 1).is_err());
        assert!(RateLimit::new(1, 0).is_err());
    }
}
