//! Capacity planning: the crews, vehicles and materials each executing
//! organization needs for its requests to meet the regulated deadlines with a
//! chosen probability — the honest replacement for "arrivals × mean time".
//!
//! [`plan`] is a pure function of the history, the organizations, their
//! [`WorkingHours`] and the [`CategoryNorm`]s, in five steps:
//!
//! 1. **Forecast.** Requests per organization and month (city time): months
//!    without requests count as zero, the first and the current month count
//!    by the days observed; a seasonal index per calendar month once a year
//!    is observed, a linear trend once two are. The forecast is split by
//!    deadline class and spread over the 168 hours of the week by the
//!    history's own weekday × hour profile.
//! 2. **Service time** from acceptance (or registration) to resolution,
//!    measured on the working clock: by class and category, else by class,
//!    else a quarter of the class window.
//! 3. **Crews**: an M/M/c queue (Erlang C) per organization and class group,
//!    the smallest number of crews for which each group meets its deadlines
//!    with probability ≥ target, in the peak month.
//! 4. **Needs**: forecast × norms — crew-hours, vehicle-hours, vehicles,
//!    materials.
//! 5. **Balance**: moves of one crew between city organizations that raise
//!    the city's predicted compliance most.
//!
//! [`simulate`] replays arrivals through crews event by event; the tests
//! check the queueing model against it. `docs/capacity-model.md` explains the
//! model and its limits.
//!
//! The main design decision: time is measured on each organization's
//! **working clock**, which stands still outside its working hours. A request
//! registered at night waits for the morning, so its budget is the working
//! time between registration and deadline, not the calendar window; the
//! queue is the one the crews see while they work.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::lifecycle::Request;
use crate::model::{CategoryCode, DeadlineClass, OrgId, Organization, RequestStatus, Subordination};

const WEEK: usize = 168;
/// Forecast horizons beyond ten years are cut: nothing learnt from history holds that long.
const MAX_MONTHS: u32 = 120;
/// The reference data refuses more crews than this; the search stops there.
const MAX_CREWS: u32 = 10_000;
/// Resolved requests a category (or class) needs before its own mean is trusted.
const MIN_SAMPLES: u32 = 5;
/// Materials one category's norm may list.
pub const MAX_MATERIALS: usize = 20;
/// Observed days from which a seasonal index (one year) and a trend (two) are estimated.
const SEASON_DAYS: f64 = 360.0;
/// Arrival instants sampled in each hour of the week when averaging over budgets.
const POINTS_PER_HOUR: usize = 4;
/// Moves the balance view lists at most.
const MAX_MOVES: usize = 10;
/// A move must raise the city's predicted compliance by this much (0.1
/// percentage point) to be worth a crew's change of employer.
const MIN_GAIN: f64 = 1e-3;

// ---------------------------------------------------------------------------
// Settings: working hours and norms
// ---------------------------------------------------------------------------

/// When an organization's crews work, in city time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    /// The hour work starts, 0–23.
    pub start_hour: u32,
    /// The hour work stops, after `start_hour`, at most 24.
    pub end_hour: u32,
    /// Working days: bit 0 is Monday, bit 6 Sunday.
    pub days: u8,
    /// Crews on call take emergencies at any hour, not only in working hours.
    pub around_the_clock_for_emergencies: bool,
}

impl Default for WorkingHours {
    /// The usual municipal day: 08–17, Monday to Friday, emergencies around the clock.
    fn default() -> Self {
        Self { start_hour: 8, end_hour: 17, days: 0b001_1111, around_the_clock_for_emergencies: true }
    }
}

impl WorkingHours {
    /// Every hour of every day, for services that work in shifts.
    pub fn around_the_clock() -> Self {
        Self { start_hour: 0, end_hour: 24, days: 0b111_1111, around_the_clock_for_emergencies: true }
    }

    /// Refuses hours no crew could work by.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.start_hour >= self.end_hour || self.end_hour > 24 {
            return Err(DomainError::Validation(format!(
                "working hours {}–{} must start before they end, and end by 24",
                self.start_hour, self.end_hour
            )));
        }
        if self.days == 0 || self.days & 0x80 != 0 {
            return Err(DomainError::Validation(
                "working days must name at least one of Monday to Sunday (bits 0 to 6)".into(),
            ));
        }
        Ok(())
    }

    /// True when `hour` (0–23) of `weekday` is a working hour.
    pub fn is_working(&self, weekday: Weekday, hour: u32) -> bool {
        self.days & (1u8 << weekday.num_days_from_monday()) != 0
            && self.start_hour <= hour
            && hour < self.end_hour
    }

    /// Working hours in a week.
    pub fn weekly_hours(&self) -> f64 {
        WeekClock::regular(self).weekly()
    }
}

/// What one request of a category takes, by the norms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryNorm {
    /// The category.
    pub category: CategoryCode,
    /// Crew-hours of work per request.
    pub crew_hours: f64,
    /// Hours a vehicle is tied up per request.
    pub vehicle_hours: f64,
    /// Materials used per request.
    pub materials: Vec<MaterialNorm>,
}

/// A material used per request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaterialNorm {
    /// What (`асфальтобетон`, `lamp 150 W`).
    pub name: String,
    /// Its unit (`t`, `pcs`, `m`).
    pub unit: String,
    /// Quantity per request.
    pub per_request: f64,
}

fn quantity(what: &str, x: f64) -> Result<(), DomainError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(DomainError::Validation(format!("{what} must be a finite number, not negative")))
    }
}

fn label(what: &str, s: &str) -> Result<(), DomainError> {
    if s.trim().is_empty() || s.chars().count() > 200 {
        Err(DomainError::Validation(format!("{what} must be 1 to 200 characters")))
    } else {
        Ok(())
    }
}

impl CategoryNorm {
    /// Refuses negative or non-finite quantities, empty names, and more than [`MAX_MATERIALS`].
    pub fn validate(&self) -> Result<(), DomainError> {
        quantity("crew-hours", self.crew_hours)?;
        quantity("vehicle-hours", self.vehicle_hours)?;
        if self.materials.len() > MAX_MATERIALS {
            return Err(DomainError::Validation(format!(
                "a norm lists at most {MAX_MATERIALS} materials, not {}",
                self.materials.len()
            )));
        }
        self.materials.iter().try_for_each(MaterialNorm::validate)
    }
}

impl MaterialNorm {
    /// Refuses an empty name or unit, or a negative or non-finite quantity.
    pub fn validate(&self) -> Result<(), DomainError> {
        label("a material's name", &self.name)?;
        label("a material's unit", &self.unit)?;
        quantity("a material's quantity", self.per_request)
    }
}

/// Validates a set of norms: each one, and one norm per category.
pub fn validate_norms(norms: &[CategoryNorm]) -> Result<(), DomainError> {
    let mut seen = BTreeSet::new();
    for n in norms {
        n.validate().map_err(|e| DomainError::Validation(format!("{}: {e}", n.category)))?;
        if !seen.insert(&n.category) {
            return Err(DomainError::Validation(format!("{} has two norms", n.category)));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The working clock
// ---------------------------------------------------------------------------

/// A weekly calendar of open hours. Positions are hours since Monday
/// 1970-01-05 00:00 city time ([`week_pos`]); [`WeekClock::at`] reads the
/// working clock, the open hours elapsed since then.
#[derive(Debug, Clone)]
struct WeekClock {
    /// `cum[h]`: open hours in the first `h` hours of the week.
    cum: [f64; WEEK + 1],
}

impl WeekClock {
    fn new(open: impl Fn(usize) -> bool) -> Self {
        let mut cum = [0.0; WEEK + 1];
        for h in 0..WEEK {
            cum[h + 1] = cum[h] + if open(h) { 1.0 } else { 0.0 };
        }
        Self { cum }
    }

    fn regular(hours: &WorkingHours) -> Self {
        Self::new(|h| hours.is_working(weekday_of(h), (h % 24) as u32))
    }

    /// The clock emergencies run on: all hours when crews are on call.
    fn emergency(hours: &WorkingHours) -> Self {
        if hours.around_the_clock_for_emergencies { Self::new(|_| true) } else { Self::regular(hours) }
    }

    fn weekly(&self) -> f64 {
        self.cum[WEEK]
    }

    fn slot(pos: f64) -> usize {
        // A NaN position casts to 0: no panic, and no such position is ever built.
        (pos.rem_euclid(WEEK as f64).floor() as usize).min(WEEK - 1)
    }

    fn slot_open(&self, slot: usize) -> bool {
        self.cum[slot + 1] > self.cum[slot]
    }

    fn is_open(&self, pos: f64) -> bool {
        self.slot_open(Self::slot(pos))
    }

    fn at(&self, pos: f64) -> f64 {
        let weeks = (pos / WEEK as f64).floor();
        let rest = pos - weeks * WEEK as f64;
        let s = (rest.floor().max(0.0) as usize).min(WEEK - 1);
        weeks * self.weekly() + self.cum[s] + (self.cum[s + 1] - self.cum[s]) * (rest - s as f64)
    }

    /// Working hours in `[from, to]`.
    fn between(&self, from: f64, to: f64) -> f64 {
        (self.at(to) - self.at(from)).max(0.0)
    }

    /// The next whole hour at which the clock starts or stops.
    fn next_change(&self, pos: f64) -> Option<f64> {
        let s = Self::slot(pos);
        let open = self.slot_open(s);
        (1..=WEEK).find(|k| self.slot_open((s + k) % WEEK) != open).map(|k| pos.floor() + k as f64)
    }
}

fn weekday_of(slot: usize) -> Weekday {
    const DAYS: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
    DAYS[(slot / 24) % 7]
}

/// Hours since Monday 1970-01-05 00:00 city time (the Unix epoch was a Thursday).
fn week_pos(t: DateTime<Utc>, city: FixedOffset) -> f64 {
    let local_ms = t.timestamp_millis() as f64 + f64::from(city.local_minus_utc()) * 1000.0;
    local_ms / 3_600_000.0 - 96.0
}

/// [`week_pos`] of a city-time moment.
fn local_pos(t: NaiveDateTime) -> f64 {
    t.and_utc().timestamp_millis() as f64 / 3_600_000.0 - 96.0
}

// ---------------------------------------------------------------------------
// Queueing: Erlang C and the sojourn time of M/M/c
// ---------------------------------------------------------------------------

/// Erlang C: the probability that an arrival waits in an M/M/c queue offered
/// `offered` erlangs (arrival rate × mean service time) with `crews` servers.
/// 1 when the queue is unstable (`offered ≥ crews`) or there are no crews.
pub fn erlang_c(crews: u32, offered: f64) -> f64 {
    if offered.is_nan() || crews == 0 || offered >= f64::from(crews) {
        return 1.0;
    }
    if offered <= 0.0 {
        return 0.0;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=crews {
        b = offered * b / (f64::from(k) + offered * b);
        if b < 1e-300 {
            return 0.0;
        }
    }
    let rho = offered / f64::from(crews);
    b / (1.0 - rho * (1.0 - b))
}

/// P(wait + service ≤ `hours`) in a FIFO M/M/c queue: the exact sojourn-time
/// distribution (the wait is 0 with probability 1 − C, else exponential with
/// rate cμ − λ; the service exponential with rate μ).
pub fn sojourn_within(crews: u32, arrivals_per_hour: f64, mean_service_hours: f64, hours: f64) -> f64 {
    let s = mean_service_hours.max(1e-9);
    let wait =
        Wait { prob: erlang_c(crews, arrivals_per_hour * s), rate: f64::from(crews) / s - arrivals_per_hour };
    wait.within(hours, 1.0 / s)
}

/// How long an arrival waits: 0 with probability `1 − prob`, else exponential with `rate`.
#[derive(Debug, Clone, Copy)]
struct Wait {
    prob: f64,
    rate: f64,
}

impl Wait {
    const NONE: Wait = Wait { prob: 0.0, rate: f64::INFINITY };
    const NEVER: Wait = Wait { prob: 1.0, rate: 0.0 };

    /// P(wait + Exp(`mu`) ≤ `budget`).
    fn within(self, budget: f64, mu: f64) -> f64 {
        if budget.is_nan() || budget <= 0.0 {
            return 0.0;
        }
        let served = -(-mu * budget).exp_m1();
        if self.prob <= 0.0 {
            return served;
        }
        if self.rate.is_nan() || self.rate <= 0.0 {
            // Those who wait are never reached.
            return (1.0 - self.prob) * served;
        }
        // P(Exp(θ) + Exp(μ) > b), symmetric in θ and μ, written so that it
        // neither cancels when θ ≈ μ nor overflows when they are far apart.
        let (lo, hi) = if self.rate < mu { (self.rate, mu) } else { (mu, self.rate) };
        let z = (hi - lo) * budget;
        let phi = if z < 1e-12 { 1.0 } else { -(-z).exp_m1() / z };
        let both_tail = (-lo * budget).exp() * (1.0 + lo * budget * phi);
        (1.0 - (1.0 - self.prob) * (1.0 - served) - self.prob * both_tail).clamp(0.0, 1.0)
    }
}

/// The two groups of classes that queue differently: emergencies go first
/// and, when crews are on call, at any hour; the rest wait for working hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClassGroup {
    /// The EMERGENCY class.
    Emergency,
    /// SHORT, MEDIUM and LONG.
    Regular,
}

impl ClassGroup {
    /// The group a class belongs to.
    pub fn of(class: DeadlineClass) -> Self {
        if class == DeadlineClass::Emergency { Self::Emergency } else { Self::Regular }
    }
}

/// One class of an organization: its share of the requests, its mean
/// service time and the budgets its arrivals have, over the week.
#[derive(Debug, Clone)]
struct ClassModel {
    class: DeadlineClass,
    share: f64,
    service: f64,
    /// Share of its arrivals that fall in working hours.
    open_share: f64,
    /// (weight, budget in hours on its clock, arrived in working hours), weights summing to 1.
    points: Vec<(f64, f64, bool)>,
}

/// The queueing model of one organization, independent of volume and crews.
#[derive(Debug, Clone)]
struct OrgModel {
    around_the_clock: bool,
    classes: Vec<ClassModel>,
}

/// One month to be served: its calendar hours, its working hours (by its
/// own weekdays), and the requests expected in it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Month {
    hours: f64,
    working: f64,
    requests: f64,
}

/// Expected requests and expected requests on time, per class group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Score {
    requests: [f64; 2],
    on_time: [f64; 2],
}

impl Score {
    fn group(&self, g: ClassGroup) -> Option<f64> {
        let i = g as usize;
        (self.requests[i] > 0.0).then(|| self.on_time[i] / self.requests[i])
    }

    fn overall(&self) -> Option<f64> {
        let n = self.requests[0] + self.requests[1];
        (n > 0.0).then(|| (self.on_time[0] + self.on_time[1]) / n)
    }

    /// True when each group with requests reaches its own target.
    fn meets(&self, targets: [f64; 2]) -> bool {
        [ClassGroup::Emergency, ClassGroup::Regular]
            .into_iter()
            .all(|g| self.group(g).is_none_or(|p| p >= targets[g as usize]))
    }

    fn add(&mut self, other: &Score) {
        for i in 0..2 {
            self.requests[i] += other.requests[i];
            self.on_time[i] += other.on_time[i];
        }
    }
}

impl OrgModel {
    fn new(hours: &WorkingHours, classes: Vec<ClassModel>) -> Self {
        Self { around_the_clock: hours.around_the_clock_for_emergencies, classes }
    }

    /// Expected requests on time in `month` with `crews` crews (`None`: as
    /// many as could ever help).
    ///
    /// Regular requests queue on the working clock behind every job the
    /// crews do in working hours (their own and the emergencies that arrive
    /// then), with the night's arrivals released at opening: the arrival rate
    /// is arrivals per working hour. Emergencies go first. With all crews
    /// busy (Erlang C, the same for both groups) an emergency waits only for
    /// the emergencies ahead of it (rate cμ − λₑ), a regular request also for
    /// the emergencies that come after it (Cobham's non-preemptive priority:
    /// its mean wait grows by 1 / (1 − λₑ / cμ), kept exponential). At night,
    /// when crews are on call, emergencies have the crews to themselves.
    fn score(&self, month: &Month, crews: Option<u32>) -> Score {
        let working = month.working;
        let night = (month.hours - working).max(0.0);
        let (mut lambda, mut load, mut lambda_e_day, mut e_night, mut s_e) = (0.0, 0.0, 0.0, 0.0, 1.0);
        for k in &self.classes {
            let n = month.requests * k.share;
            if k.class == DeadlineClass::Emergency {
                let day = if self.around_the_clock { n * k.open_share } else { n };
                s_e = k.service;
                lambda_e_day = day / working;
                e_night = n - day;
                lambda += lambda_e_day;
                load += lambda_e_day * k.service;
            } else {
                lambda += n / working;
                load += n * k.service / working;
            }
        }
        let (day, e_day) = match crews {
            None => (Wait::NONE, Wait::NONE),
            Some(c) if lambda <= 0.0 => {
                let w = if c == 0 { Wait::NEVER } else { Wait::NONE };
                (w, w)
            }
            Some(0) => (Wait::NEVER, Wait::NEVER),
            Some(c) => {
                let prob = erlang_c(c, load);
                // Completions per hour while every crew is busy.
                let capacity = f64::from(c) * lambda / load;
                let regular = if capacity > lambda {
                    Wait { prob, rate: (capacity - lambda) * (1.0 - lambda_e_day / capacity) }
                } else {
                    Wait::NEVER
                };
                (regular, Wait { prob, rate: capacity - lambda_e_day })
            }
        };
        let lambda_n = if night > 0.0 { e_night / night } else { 0.0 };
        let e_night_wait = match crews {
            None => Wait::NONE,
            Some(0) => Wait::NEVER,
            Some(_) if lambda_n <= 0.0 => Wait::NONE,
            Some(c) => {
                Wait { prob: erlang_c(c, lambda_n * s_e), rate: f64::from(c) / s_e.max(1e-9) - lambda_n }
            }
        };
        let mut score = Score::default();
        for k in &self.classes {
            let n = month.requests * k.share;
            let g = ClassGroup::of(k.class) as usize;
            let mu = 1.0 / k.service.max(1e-9);
            let p: f64 = if working <= 0.0 || !working.is_finite() {
                0.0
            } else {
                k.points
                    .iter()
                    .map(|&(w, budget, open)| {
                        let wait = match ClassGroup::of(k.class) {
                            ClassGroup::Regular => day,
                            ClassGroup::Emergency if self.around_the_clock && !open => e_night_wait,
                            ClassGroup::Emergency => e_day,
                        };
                        w * wait.within(budget, mu)
                    })
                    .sum()
            };
            score.requests[g] += n;
            score.on_time[g] += n * p;
        }
        score
    }

    /// The fewest crews with which each class group reaches its target in
    /// `month` (a target of 0 leaves a group out); `None` when no number up
    /// to [`MAX_CREWS`] does — the working hours alone may forbid it.
    fn crews_needed(&self, month: &Month, targets: [f64; 2]) -> Option<u32> {
        let ok = |c: Option<u32>| self.score(month, c).meets(targets);
        if ok(Some(0)) {
            return Some(0);
        }
        if !ok(None) {
            return None;
        }
        let (mut lo, mut hi) = (0u32, 1u32);
        while !ok(Some(hi)) {
            if hi >= MAX_CREWS {
                return None;
            }
            lo = hi;
            hi = (hi * 2).min(MAX_CREWS);
        }
        // Compliance grows with crews: the smallest passing count is in (lo, hi].
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(Some(mid)) { hi = mid } else { lo = mid }
        }
        Some(hi)
    }
}

// ---------------------------------------------------------------------------
// Forecast
// ---------------------------------------------------------------------------

/// A calendar month in city time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    fn of(t: NaiveDateTime) -> Self {
        Self { year: t.year(), month: t.month() }
    }

    fn next(self) -> Self {
        if self.month >= 12 {
            Self { year: self.year + 1, month: 1 }
        } else {
            Self { month: self.month + 1, ..self }
        }
    }

    fn start(self) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).map(|d| d.and_time(NaiveTime::MIN))
    }

    fn days(self) -> f64 {
        match (self.start(), self.next().start()) {
            (Some(a), Some(b)) => (b - a).num_hours() as f64 / 24.0,
            _ => 30.0,
        }
    }

    /// Open hours of `clock` in the month, weekday by weekday.
    fn working_hours(self, clock: &WeekClock) -> f64 {
        match (self.start(), self.next().start()) {
            (Some(a), Some(b)) => clock.between(local_pos(a), local_pos(b)),
            _ => clock.weekly() * self.days() / 7.0,
        }
    }

    fn index(self) -> usize {
        (self.month.clamp(1, 12) - 1) as usize
    }

    fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// One month of an organization's history: requests counted, days observed.
#[derive(Debug, Clone, Copy)]
struct MonthObs {
    ym: YearMonth,
    days: f64,
    count: f64,
}

/// Average days per calendar month, for normalizing seasonal indices.
const MONTH_DAYS: [f64; 12] = [31.0, 28.25, 31.0, 30.0, 31.0, 30.0, 31.0, 31.0, 30.0, 31.0, 30.0, 31.0];

/// Expected requests in each month of `future`, from a monthly series read
/// as requests per observed day (so a partial month counts for its days).
/// A seasonal index per calendar month needs a year of history and a trend
/// two: with less, a season would pass for a trend and be extrapolated.
fn project(series: &[MonthObs], future: &[YearMonth]) -> Vec<f64> {
    let exposure: f64 = series.iter().map(|m| m.days).sum();
    let counted: f64 = series.iter().map(|m| m.count).sum();
    if exposure <= 0.0 || counted <= 0.0 {
        return vec![0.0; future.len()];
    }
    let seasonal = exposure >= SEASON_DAYS;
    let trended = exposure >= 2.0 * SEASON_DAYS;
    let mut season = [1.0; 12];
    let mut line = (counted / exposure, 0.0);
    for _ in 0..2 {
        line = if trended { fit_line(series, &season) } else { (recent_level(series, &season), 0.0) };
        if seasonal {
            season = seasonal_indices(series, line);
        }
    }
    let recent = recent_level(series, &season);
    let last = series.len() as f64 - 1.0;
    future
        .iter()
        .enumerate()
        .map(|(j, ym)| {
            // A trend is damped to within half and twice the last year's level.
            let rate = (line.0 + line.1 * (last + 1.0 + j as f64)).clamp(0.5 * recent, 2.0 * recent);
            rate * season[ym.index()] * ym.days()
        })
        .collect()
}

/// Deseasonalized requests per day over the last twelve months.
fn recent_level(series: &[MonthObs], season: &[f64; 12]) -> f64 {
    let tail = &series[series.len().saturating_sub(12)..];
    let days: f64 = tail.iter().map(|m| m.days).sum();
    let deseasoned: f64 = tail.iter().map(|m| m.count / season[m.ym.index()].max(1e-9)).sum();
    if days > 0.0 { deseasoned / days } else { 0.0 }
}

/// Deseasonalized requests per day against the month's index, least squares
/// weighted by the days observed.
fn fit_line(series: &[MonthObs], season: &[f64; 12]) -> (f64, f64) {
    let pts: Vec<(f64, f64, f64)> = series
        .iter()
        .enumerate()
        .filter(|(_, m)| m.days > 0.0)
        .map(|(i, m)| (i as f64, m.count / (m.days * season[m.ym.index()].max(1e-9)), m.days))
        .collect();
    let w: f64 = pts.iter().map(|p| p.2).sum();
    if w <= 0.0 {
        return (0.0, 0.0);
    }
    let mx = pts.iter().map(|p| p.0 * p.2).sum::<f64>() / w;
    let my = pts.iter().map(|p| p.1 * p.2).sum::<f64>() / w;
    let sxx: f64 = pts.iter().map(|p| p.2 * (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| p.2 * (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

/// Each calendar month's requests over those the line expects, with one
/// request of prior each way so a quiet month is not taken for an empty one,
/// normalized to average 1 over a year.
fn seasonal_indices(series: &[MonthObs], line: (f64, f64)) -> [f64; 12] {
    let (mut seen, mut expected) = ([0.0; 12], [0.0; 12]);
    for (i, m) in series.iter().enumerate() {
        seen[m.ym.index()] += m.count;
        expected[m.ym.index()] += m.days * (line.0 + line.1 * i as f64).max(0.0);
    }
    let (n, e): (f64, f64) = (seen.iter().sum(), expected.iter().sum());
    if e <= 0.0 {
        return [1.0; 12];
    }
    let mut s = [1.0; 12];
    for k in 0..12 {
        if expected[k] > 0.0 {
            s[k] = (seen[k] + 1.0) / (expected[k] * n / e + 1.0);
        }
    }
    let mean = (0..12).map(|k| s[k] * MONTH_DAYS[k]).sum::<f64>() / MONTH_DAYS.iter().sum::<f64>();
    if mean > 0.0 {
        s.iter_mut().for_each(|x| *x /= mean);
    }
    s
}

/// The history window, in city time: from the first registration to `now`.
struct Window {
    from: NaiveDateTime,
    to: NaiveDateTime,
    now: DateTime<Utc>,
    city: FixedOffset,
    /// Each month from the first to the current, with the days observed.
    months: Vec<(YearMonth, f64)>,
    /// The months forecast.
    future: Vec<YearMonth>,
}

impl Window {
    fn new(history: &[Request], now: DateTime<Utc>, city: FixedOffset, horizon: u32) -> Self {
        let local = |t: DateTime<Utc>| t.with_timezone(&city).naive_local();
        let to = local(now);
        let from = history.iter().map(|r| r.registered_at).filter(|t| *t <= now).min().map_or(to, local);
        let mut months = Vec::new();
        let mut ym = YearMonth::of(from);
        while ym <= YearMonth::of(to) {
            let days = match (ym.start(), ym.next().start()) {
                (Some(a), Some(b)) => (b.min(to) - a.max(from)).num_seconds().max(0) as f64 / 86_400.0,
                _ => 0.0,
            };
            months.push((ym, days));
            ym = ym.next();
        }
        let mut future = Vec::new();
        let mut ym = YearMonth::of(to);
        for _ in 0..horizon.min(MAX_MONTHS) {
            ym = ym.next();
            future.push(ym);
        }
        Self { from, to, now, city, months, future }
    }

    fn contains(&self, r: &Request) -> bool {
        let t = r.registered_at.with_timezone(&self.city).naive_local();
        self.from <= t && t < self.to
    }
}

/// An organization's requests in the window: those it holds (it does the
/// work, whoever was late before), cancelled ones left out (no work).
fn workload<'a>(org: &OrgId, history: &'a [Request], window: &Window) -> Vec<&'a Request> {
    history
        .iter()
        .filter(|r| r.organization.as_ref() == Some(org) && r.status != RequestStatus::Cancelled)
        .filter(|r| window.contains(r))
        .collect()
}

/// What an organization's history says about its coming demand.
#[derive(Debug, Clone)]
struct Demand {
    /// Expected requests per month of the window's future.
    months: Vec<f64>,
    /// Share of the requests per (class, category), over the last year.
    mix: BTreeMap<(DeadlineClass, CategoryCode), f64>,
    /// Per class, the share of its arrivals in each hour of the week.
    profile: BTreeMap<DeadlineClass, [f64; WEEK]>,
}

/// Pseudo-requests pulling a class's weekly profile to the organization's.
const PROFILE_PRIOR: f64 = 24.0;

fn demand(mine: &[&Request], window: &Window) -> Demand {
    let mut counts: BTreeMap<YearMonth, f64> = BTreeMap::new();
    let mut pooled = [0.0; WEEK];
    let mut by_class: BTreeMap<DeadlineClass, [f64; WEEK]> = BTreeMap::new();
    for r in mine {
        *counts
            .entry(YearMonth::of(r.registered_at.with_timezone(&window.city).naive_local()))
            .or_default() += 1.0;
        let slot = WeekClock::slot(week_pos(r.registered_at, window.city));
        pooled[slot] += 1.0;
        by_class.entry(r.deadline_class).or_insert([0.0; WEEK])[slot] += 1.0;
    }
    let series: Vec<MonthObs> = window
        .months
        .iter()
        .map(|&(ym, days)| MonthObs { ym, days, count: counts.get(&ym).copied().unwrap_or(0.0) })
        .collect();
    let year_ago = window.now.checked_sub_signed(Duration::days(365)).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let recent: Vec<&&Request> = mine.iter().filter(|r| r.registered_at >= year_ago).collect();
    let basis: Vec<&&Request> = if recent.is_empty() { mine.iter().collect() } else { recent };
    let mut mix: BTreeMap<(DeadlineClass, CategoryCode), f64> = BTreeMap::new();
    for r in &basis {
        *mix.entry((r.deadline_class, r.category.clone())).or_default() += 1.0 / basis.len() as f64;
    }
    let n_pooled: f64 = pooled.iter().sum();
    let profile = by_class
        .into_iter()
        .map(|(class, own)| {
            let n: f64 = own.iter().sum();
            let mut p = [0.0; WEEK];
            for h in 0..WEEK {
                p[h] = (own[h] + PROFILE_PRIOR * pooled[h] / n_pooled.max(1.0)) / (n + PROFILE_PRIOR);
            }
            (class, p)
        })
        .collect();
    Demand { months: project(&series, &window.future), mix, profile }
}

// ---------------------------------------------------------------------------
// Service time
// ---------------------------------------------------------------------------

/// Mean hours of work per request, from acceptance (or registration, if never
/// accepted) to resolution, counted on the working clock of the request's
/// group: a job accepted at 16:00 and resolved at 10:00 the next day took
/// three working hours, not eighteen. Acceptance is the first moment the
/// record shows work could start, so any queue inside the organization after
/// it counts as service: the estimate errs on the side of more crews.
struct ServiceTimes {
    by_category: BTreeMap<(DeadlineClass, CategoryCode), (f64, u32)>,
    by_class: BTreeMap<DeadlineClass, (f64, u32)>,
    regular: WeekClock,
    emergency: WeekClock,
}

impl ServiceTimes {
    fn new(mine: &[&Request], hours: &WorkingHours, city: FixedOffset) -> Self {
        let mut s = Self {
            by_category: BTreeMap::new(),
            by_class: BTreeMap::new(),
            regular: WeekClock::regular(hours),
            emergency: WeekClock::emergency(hours),
        };
        for r in mine {
            let Some(done) = r.resolved_at else { continue };
            let start = r.accepted_at.unwrap_or(r.registered_at).min(done);
            let h = s.clock(r.deadline_class).between(week_pos(start, city), week_pos(done, city));
            for e in [
                s.by_category.entry((r.deadline_class, r.category.clone())).or_default(),
                s.by_class.entry(r.deadline_class).or_default(),
            ] {
                e.0 += h;
                e.1 += 1;
            }
        }
        s
    }

    fn clock(&self, class: DeadlineClass) -> &WeekClock {
        if class == DeadlineClass::Emergency { &self.emergency } else { &self.regular }
    }

    /// By class and category; else by class; else a quarter of the class
    /// window, counted on the working clock (a quarter of the working hours a
    /// window holds on average).
    fn mean(&self, class: DeadlineClass, category: &CategoryCode) -> f64 {
        let mean = |&(sum, n): &(f64, u32)| (n >= MIN_SAMPLES).then(|| sum / f64::from(n));
        self.by_category
            .get(&(class, category.clone()))
            .and_then(mean)
            .or_else(|| self.by_class.get(&class).and_then(mean))
            .unwrap_or_else(|| class.hours() as f64 / 4.0 * self.clock(class).weekly() / WEEK as f64)
    }
}

// ---------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------

/// The resource plan for the coming months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The probability of meeting the deadline the crews are sized for.
    pub target: f64,
    /// The months planned, `YYYY-MM`.
    pub months: Vec<String>,
    /// One row per organization, in the order given.
    pub organizations: Vec<OrgPlan>,
    /// Expected requests per organization and month.
    pub forecast: Vec<MonthForecast>,
    /// Moves of one crew between city organizations, best first, each after the ones above it.
    pub balance: Vec<BalanceMove>,
    /// Inputs that could not be used as given, and what was used instead.
    pub warnings: Vec<String>,
}

/// One organization's needs over the planned months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgPlan {
    /// The organization.
    pub organization: OrgId,
    /// Requests expected over the planned months.
    pub expected_requests: f64,
    /// The month with the most arrivals per hour, `YYYY-MM`: crews are sized for it.
    pub peak_month: Option<String>,
    /// Arrivals per calendar hour in the peak month.
    pub peak_arrivals_per_hour: f64,
    /// The busiest hour of the week (Monday 00:00 is 0), by the history's profile.
    pub peak_hour_of_week: Option<u32>,
    /// Arrivals expected in that hour, in the peak month.
    pub peak_hour_arrivals: f64,
    /// Mean working hours per request, weighted by the expected mix.
    pub mean_service_hours: f64,
    /// The queue of each class group in the peak month.
    pub groups: Vec<GroupPlan>,
    /// The fewest crews meeting the target in every class group in the peak
    /// month; `None` when none up to 10 000 do (see `compliance_ceiling`).
    pub crews_needed: Option<u32>,
    /// The crews needed or, when the target is out of reach, the fewest
    /// with which every class group comes within a percentage point of its
    /// ceiling: more crews would not help, longer hours would.
    pub crews_for_best: Option<u32>,
    /// Crews the organization has.
    pub crews_configured: u32,
    /// Needed minus configured: positive when short.
    pub gap: Option<i64>,
    /// Predicted share on time over the planned months with the configured crews.
    pub compliance_configured: Option<f64>,
    /// The same with the crews needed.
    pub compliance_needed: Option<f64>,
    /// The best share on time any number of crews could reach in the peak
    /// month with these working hours: below the target, hours must change.
    pub compliance_ceiling: Option<f64>,
    /// Crew-hours of work over the planned months (norms, else measured service time).
    pub crew_hours: f64,
    /// Vehicle-hours over the planned months, by the norms.
    pub vehicle_hours: f64,
    /// Vehicles that cover those hours within the working hours.
    pub vehicles_needed: u32,
    /// Materials over the planned months.
    pub materials: Vec<MaterialTotal>,
    /// Categories expected but without a norm: their crew-hours come from
    /// measured service time, their vehicles and materials are missing.
    pub categories_without_norm: Vec<CategoryCode>,
}

/// One class group's queue in the peak month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPlan {
    /// The group.
    pub group: ClassGroup,
    /// Requests expected in the peak month.
    pub requests: f64,
    /// Mean service hours, weighted by the expected mix.
    pub mean_service_hours: f64,
    /// The fewest crews that meet the target for this group alone.
    pub crews_needed: Option<u32>,
    /// Predicted share on time with the configured crews.
    pub compliance_configured: Option<f64>,
    /// The best share on time any number of crews could reach.
    pub compliance_ceiling: Option<f64>,
}

/// A material's total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaterialTotal {
    /// What.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// How much.
    pub quantity: f64,
}

/// One organization's expected month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthForecast {
    /// The organization.
    pub organization: OrgId,
    /// `YYYY-MM`.
    pub month: String,
    /// Requests expected.
    pub expected_requests: f64,
    /// The same by deadline class.
    pub by_class: Vec<(DeadlineClass, f64)>,
}

/// Moving one crew from one city organization to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceMove {
    /// The organization giving a crew.
    pub from: OrgId,
    /// The organization receiving it.
    pub to: OrgId,
    /// Both do the same kind of work, so the crew's skills carry over.
    pub same_kind: bool,
    /// The giver's crews before the move.
    pub from_crews: u32,
    /// The receiver's crews before the move.
    pub to_crews: u32,
    /// The giver's predicted compliance before and after.
    pub from_compliance: (f64, f64),
    /// The receiver's predicted compliance before and after.
    pub to_compliance: (f64, f64),
    /// The city organizations' compliance, weighted by expected requests, before and after.
    pub overall: (f64, f64),
}

/// One organization, ready to be scored for any number of crews.
struct Planned<'a> {
    org: &'a Organization,
    model: OrgModel,
    /// The planned months.
    months: Vec<Month>,
}

impl Planned<'_> {
    fn expected(&self) -> f64 {
        self.months.iter().map(|m| m.requests).sum()
    }

    /// Predicted share on time over the planned months.
    fn compliance(&self, crews: u32) -> Option<f64> {
        let mut total = Score::default();
        for m in &self.months {
            total.add(&self.model.score(m, Some(crews)));
        }
        total.overall()
    }
}

/// The resource plan for the `months` after the current one: per
/// organization the demand forecast, the crews that meet the deadlines with
/// probability ≥ `target` in the peak month (M/M/c on the working clock),
/// vehicles and materials by the norms, and moves of crews between city
/// organizations. Organizations without an entry in `hours` work the default
/// hours; invalid hours and norms are replaced or skipped, with a warning.
#[expect(clippy::too_many_arguments, reason = "each input is a separate piece of reference data")]
pub fn plan(
    organizations: &[Organization],
    history: &[Request],
    norms: &[CategoryNorm],
    hours: &BTreeMap<OrgId, WorkingHours>,
    now: DateTime<Utc>,
    months: u32,
    city: FixedOffset,
    target: f64,
) -> Plan {
    let mut warnings = Vec::new();
    let target = if target.is_finite() {
        target.clamp(0.0, 1.0)
    } else {
        warnings.push("the target is not a number: 0.9 used".to_string());
        0.9
    };
    if months > MAX_MONTHS {
        warnings.push(format!("at most {MAX_MONTHS} months are planned"));
    }
    let mut norm_of: BTreeMap<&CategoryCode, &CategoryNorm> = BTreeMap::new();
    for n in norms {
        match n.validate() {
            Err(e) => warnings.push(format!("the norm of {} is not used: {e}", n.category)),
            Ok(()) if norm_of.contains_key(&n.category) => {
                warnings.push(format!("{} has two norms: the first is used", n.category))
            }
            Ok(()) => {
                norm_of.insert(&n.category, n);
            }
        }
    }
    let window = Window::new(history, now, city, months);
    let mut rows = Vec::new();
    let mut forecast = Vec::new();
    let mut planned = Vec::new();
    for org in organizations {
        let hours = match hours.get(&org.id) {
            None => WorkingHours::default(),
            Some(h) => match h.validate() {
                Ok(()) => *h,
                Err(e) => {
                    warnings.push(format!("{}: {e}; the default working hours used", org.id));
                    WorkingHours::default()
                }
            },
        };
        let (row, p, months) = plan_one(org, history, &hours, &window, &norm_of, target);
        forecast.extend(months);
        rows.push(row);
        planned.push(p);
    }
    Plan {
        target,
        months: window.future.iter().map(|m| m.label()).collect(),
        organizations: rows,
        forecast,
        balance: balance(&planned),
        warnings,
    }
}

fn plan_one<'a>(
    org: &'a Organization,
    history: &[Request],
    hours: &WorkingHours,
    window: &Window,
    norms: &BTreeMap<&CategoryCode, &CategoryNorm>,
    target: f64,
) -> (OrgPlan, Planned<'a>, Vec<MonthForecast>) {
    let mine = workload(&org.id, history, window);
    let demand = demand(&mine, window);
    let service = ServiceTimes::new(&mine, hours, window.city);
    let regular = WeekClock::regular(hours);
    let emergency = WeekClock::emergency(hours);

    // Per class: its share, its mix-weighted service time, its budgets over the week.
    let mut class_share: BTreeMap<DeadlineClass, (f64, f64)> = BTreeMap::new();
    for ((class, category), share) in &demand.mix {
        let e = class_share.entry(*class).or_default();
        e.0 += share;
        e.1 += share * service.mean(*class, category);
    }
    let classes: Vec<ClassModel> = class_share
        .iter()
        .map(|(&class, &(share, weighted))| {
            let profile = demand.profile.get(&class).copied().unwrap_or([1.0 / WEEK as f64; WEEK]);
            let clock = if class == DeadlineClass::Emergency { &emergency } else { &regular };
            let window_h = class.hours() as f64;
            let mut points = Vec::with_capacity(WEEK * POINTS_PER_HOUR);
            for (h, &p) in profile.iter().enumerate() {
                for j in 0..POINTS_PER_HOUR {
                    let x = h as f64 + (j as f64 + 0.5) / POINTS_PER_HOUR as f64;
                    points.push((
                        p / POINTS_PER_HOUR as f64,
                        clock.between(x, x + window_h),
                        regular.is_open(x),
                    ));
                }
            }
            let open_share = (0..WEEK).filter(|&h| regular.slot_open(h)).map(|h| profile[h]).sum();
            ClassModel {
                class,
                share,
                service: if share > 0.0 { weighted / share } else { 0.0 },
                open_share,
                points,
            }
        })
        .collect();
    let model = OrgModel::new(hours, classes);

    let months: Vec<Month> = window
        .future
        .iter()
        .zip(&demand.months)
        .map(|(ym, &requests)| Month {
            hours: ym.days() * 24.0,
            working: ym.working_hours(&regular),
            requests,
        })
        .collect();
    // The busiest month per working hour: the queue lives on the working clock.
    let peak = months
        .iter()
        .enumerate()
        .filter(|(_, m)| m.requests > 0.0 && m.working > 0.0)
        .max_by(|a, b| (a.1.requests / a.1.working).total_cmp(&(b.1.requests / b.1.working)))
        .map(|(i, _)| i);
    let planned = Planned { org, model, months };
    let expected = planned.expected();
    let peak_month = peak.map_or_else(Month::default, |i| planned.months[i]);
    let (peak_hours, peak_n) = (peak_month.hours, peak_month.requests);

    let pooled: Vec<f64> = (0..WEEK)
        .map(|h| {
            planned
                .model
                .classes
                .iter()
                .map(|k| k.share * demand.profile.get(&k.class).map_or(0.0, |p| p[h]))
                .sum()
        })
        .collect();
    let peak_hour =
        (expected > 0.0).then(|| (0..WEEK).max_by(|&a, &b| pooled[a].total_cmp(&pooled[b]))).flatten();
    let peak_hour_arrivals =
        peak_hour.map_or(0.0, |h| peak_n * pooled[h] * WEEK as f64 / peak_hours.max(1.0));

    let score_at = |crews: Option<u32>| planned.model.score(&peak_month, crews);
    let (configured, ceiling) = (score_at(Some(org.crews)), score_at(None));
    let groups: Vec<GroupPlan> = [ClassGroup::Emergency, ClassGroup::Regular]
        .into_iter()
        .filter_map(|g| {
            let ks: Vec<&ClassModel> =
                planned.model.classes.iter().filter(|k| ClassGroup::of(k.class) == g).collect();
            let share: f64 = ks.iter().map(|k| k.share).sum();
            (share > 0.0 && peak_n > 0.0).then(|| GroupPlan {
                group: g,
                requests: peak_n * share,
                mean_service_hours: ks.iter().map(|k| k.share * k.service).sum::<f64>() / share,
                crews_needed: planned.model.crews_needed(&peak_month, {
                    let mut t = [0.0; 2];
                    t[g as usize] = target;
                    t
                }),
                compliance_configured: configured.group(g),
                compliance_ceiling: ceiling.group(g),
            })
        })
        .collect();
    let crews_needed =
        if peak_n > 0.0 { planned.model.crews_needed(&peak_month, [target; 2]) } else { Some(0) };
    // Out of reach: the fewest crews within a percentage point of what the hours allow.
    let crews_for_best = match crews_needed {
        Some(c) => Some(c),
        None => {
            let best = |g: ClassGroup| ceiling.group(g).map_or(0.0, |p| target.min(p - 0.01).max(0.0));
            planned.model.crews_needed(&peak_month, [best(ClassGroup::Emergency), best(ClassGroup::Regular)])
        }
    };

    // Needs by the norms, over the planned months.
    let mut crew_hours = 0.0;
    let mut vehicle_hours = 0.0;
    let mut materials: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut without_norm = BTreeSet::new();
    for ((class, category), share) in &demand.mix {
        let n = expected * share;
        match norms.get(category) {
            Some(norm) => {
                crew_hours += n * norm.crew_hours;
                vehicle_hours += n * norm.vehicle_hours;
                for m in &norm.materials {
                    *materials.entry((m.name.trim().to_string(), m.unit.trim().to_string())).or_default() +=
                        n * m.per_request;
                }
            }
            None => {
                crew_hours += n * service.mean(*class, category);
                if n > 0.0 {
                    without_norm.insert(category.clone());
                }
            }
        }
    }
    let horizon_weeks: f64 = window.future.iter().map(|m| m.days()).sum::<f64>() / 7.0;
    let vehicle_capacity = hours.weekly_hours() * horizon_weeks;
    let vehicles_needed = if vehicle_hours > 0.0 && vehicle_capacity > 0.0 {
        // A float-to-int cast saturates: no overflow, whatever the norms.
        (vehicle_hours / vehicle_capacity).ceil() as u32
    } else {
        0
    };

    let forecast = window
        .future
        .iter()
        .zip(&demand.months)
        .map(|(ym, &n)| MonthForecast {
            organization: org.id.clone(),
            month: ym.label(),
            expected_requests: n,
            by_class: planned.model.classes.iter().map(|k| (k.class, n * k.share)).collect(),
        })
        .collect();
    let mean_service_hours = planned.model.classes.iter().map(|k| k.share * k.service).sum();
    let row = OrgPlan {
        organization: org.id.clone(),
        expected_requests: expected,
        peak_month: peak.map(|i| window.future[i].label()),
        peak_arrivals_per_hour: if peak_hours > 0.0 { peak_n / peak_hours } else { 0.0 },
        peak_hour_of_week: peak_hour.map(|h| h as u32),
        peak_hour_arrivals,
        mean_service_hours,
        groups,
        crews_needed,
        crews_for_best,
        crews_configured: org.crews,
        gap: crews_needed.map(|c| i64::from(c) - i64::from(org.crews)),
        compliance_configured: planned.compliance(org.crews),
        compliance_needed: crews_needed.and_then(|c| planned.compliance(c)),
        compliance_ceiling: ceiling.overall(),
        crew_hours,
        vehicle_hours,
        vehicles_needed,
        materials: materials
            .into_iter()
            .map(|((name, unit), quantity)| MaterialTotal { name, unit, quantity })
            .collect(),
        categories_without_norm: without_norm.into_iter().collect(),
    };
    (row, planned, forecast)
}

/// Greedy moves of one crew between city organizations (regional ones are
/// not the city's to move): each step takes the move that raises the
/// request-weighted compliance of the city organizations most, preferring
/// a receiver of the same kind when any such move helps.
fn balance(planned: &[Planned<'_>]) -> Vec<BalanceMove> {
    // An idle organization stays in: its crews are the cheapest to move.
    let city: Vec<&Planned<'_>> =
        planned.iter().filter(|p| p.org.subordination == Subordination::City).collect();
    let weight: f64 = city.iter().map(|p| p.expected()).sum();
    if city.len() < 2 || weight <= 0.0 {
        return Vec::new();
    }
    let mut crews: Vec<u32> = city.iter().map(|p| p.org.crews).collect();
    let mut cache: BTreeMap<(usize, u32), f64> = BTreeMap::new();
    let mut f =
        |i: usize, c: u32| *cache.entry((i, c)).or_insert_with(|| city[i].compliance(c).unwrap_or(1.0));
    let mut moves = Vec::new();
    for _ in 0..MAX_MOVES {
        let mut best: [Option<(f64, usize, usize)>; 2] = [None, None];
        for a in 0..city.len() {
            if crews[a] == 0 {
                continue;
            }
            let loss = city[a].expected() * (f(a, crews[a]) - f(a, crews[a] - 1));
            for b in (0..city.len()).filter(|&b| b != a) {
                let gain = city[b].expected() * (f(b, crews[b].saturating_add(1)) - f(b, crews[b])) - loss;
                let same = usize::from(city[a].org.kind == city[b].org.kind);
                if gain > MIN_GAIN * weight && best[same].is_none_or(|(g, _, _)| gain > g) {
                    best[same] = Some((gain, a, b));
                }
            }
        }
        let Some((gain, a, b)) = best[1].or(best[0]) else { break };
        let overall: f64 = (0..city.len()).map(|i| city[i].expected() * f(i, crews[i])).sum::<f64>() / weight;
        moves.push(BalanceMove {
            from: city[a].org.id.clone(),
            to: city[b].org.id.clone(),
            same_kind: city[a].org.kind == city[b].org.kind,
            from_crews: crews[a],
            to_crews: crews[b],
            from_compliance: (f(a, crews[a]), f(a, crews[a] - 1)),
            to_compliance: (f(b, crews[b]), f(b, crews[b].saturating_add(1))),
            overall: (overall, overall + gain / weight),
        });
        crews[a] -= 1;
        crews[b] = crews[b].saturating_add(1);
    }
    moves
}

// ---------------------------------------------------------------------------
// Simulation
// ---------------------------------------------------------------------------

/// A request as the simulation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimArrival {
    /// When it is registered.
    pub at: DateTime<Utc>,
    /// When it is due.
    pub deadline: DateTime<Utc>,
    /// Crew-hours of work it takes.
    pub service_hours: f64,
    /// Served first, and at night when crews are on call.
    pub emergency: bool,
}

/// What became of one arrival.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimOutcome {
    /// When its work was done; `None` when not by the last deadline.
    pub finished_at: Option<DateTime<Utc>>,
    /// Done by its deadline.
    pub on_time: bool,
}

/// The outcome of a simulation, one per arrival in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResult {
    /// Per arrival.
    pub outcomes: Vec<SimOutcome>,
}

impl SimResult {
    /// Share done by the deadline; `None` with no arrivals.
    pub fn compliance(&self) -> Option<f64> {
        let n = self.outcomes.len();
        (n > 0).then(|| self.outcomes.iter().filter(|o| o.on_time).count() as f64 / n as f64)
    }
}

/// Replays `arrivals` through `crews` crews, event by event. Emergencies
/// first, then FIFO by registration; regular work only in working hours (a
/// job open at closing time waits, with what is left of it, for the
/// morning); emergencies at any hour when crews are on call, by all crews.
/// Simulation stops at the last deadline: whatever is still open then is late.
pub fn simulate(arrivals: &[SimArrival], crews: u32, hours: &WorkingHours, city: FixedOffset) -> SimResult {
    let n = arrivals.len();
    let mut outcomes = vec![SimOutcome { finished_at: None, on_time: false }; n];
    // More crews than jobs never work at once.
    let crews = usize::try_from(crews).unwrap_or(usize::MAX).min(n);
    if crews == 0 {
        return SimResult { outcomes };
    }
    let regular = WeekClock::regular(hours);
    let emergency = WeekClock::emergency(hours);
    let pos: Vec<f64> = arrivals.iter().map(|a| week_pos(a.at, city)).collect();
    let due: Vec<f64> = arrivals.iter().map(|a| week_pos(a.deadline, city)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| pos[a].total_cmp(&pos[b]).then(a.cmp(&b)));
    let mut left: Vec<f64> = arrivals
        .iter()
        .map(|a| if a.service_hours.is_finite() { a.service_hours.max(0.0) } else { 0.0 })
        .collect();
    let horizon = due.iter().chain(&pos).copied().fold(f64::NEG_INFINITY, f64::max);
    // Queues hold ranks in arrival order, so the first is the oldest.
    let (mut urgent, mut routine) = (BTreeSet::new(), BTreeSet::new());
    let mut busy: Vec<Option<usize>> = vec![None; crews];
    let mut next = 0;
    let mut t = pos[order[0]];
    loop {
        while next < n && pos[order[next]] <= t {
            if arrivals[order[next]].emergency {
                urgent.insert(next)
            } else {
                routine.insert(next)
            };
            next += 1;
        }
        let (day, on_call) = (regular.is_open(t), emergency.is_open(t));
        for slot in busy.iter_mut() {
            if let Some(rank) = *slot {
                let em = arrivals[order[rank]].emergency;
                let works = if em { on_call } else { day };
                if !works {
                    if em {
                        urgent.insert(rank)
                    } else {
                        routine.insert(rank)
                    };
                    *slot = None;
                }
            }
        }
        for slot in busy.iter_mut().filter(|s| s.is_none()) {
            let first = if on_call { urgent.pop_first() } else { None };
            *slot = first.or_else(|| if day { routine.pop_first() } else { None });
        }
        if next == n && urgent.is_empty() && routine.is_empty() && busy.iter().all(Option::is_none) {
            break;
        }
        if t >= horizon {
            break;
        }
        let arrival = if next < n { pos[order[next]] } else { f64::INFINITY };
        let done = busy.iter().flatten().map(|&r| t + left[order[r]]).fold(f64::INFINITY, f64::min);
        let change = [regular.next_change(t), emergency.next_change(t)]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        let until = arrival.min(done).min(change).min(horizon);
        if !until.is_finite() {
            break;
        }
        for slot in busy.iter_mut() {
            if let Some(rank) = *slot {
                let i = order[rank];
                left[i] -= until - t;
                if left[i] <= 1e-9 {
                    let finished =
                        Duration::try_milliseconds(((until - pos[i]) * 3_600_000.0).round() as i64)
                            .and_then(|d| arrivals[i].at.checked_add_signed(d));
                    outcomes[i] = SimOutcome { finished_at: finished, on_time: until <= due[i] + 1e-9 };
                    *slot = None;
                }
            }
        }
        t = until;
    }
    SimResult { outcomes }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    use super::*;
    use crate::lifecycle::Applicant;
    use crate::model::{Address, Channel, Code, OrganizationKind, RequestId, RequestNumber};

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    fn city() -> FixedOffset {
        FixedOffset::east_opt(3 * 3600).unwrap()
    }

    /// A moment in city time.
    fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        city().with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().with_timezone(&Utc)
    }

    fn org(id: &str, kind: OrganizationKind, subordination: Subordination, crews: u32) -> Organization {
        Organization {
            id: code(id),
            name_ru: id.into(),
            name_en: id.into(),
            kind,
            subordination,
            district: None,
            crews,
            phone: None,
        }
    }

    /// A request registered (and accepted) at `at`, resolved at `resolved` if given.
    fn request(
        org: &str,
        class: DeadlineClass,
        category: &str,
        at: DateTime<Utc>,
        resolved: Option<DateTime<Utc>>,
    ) -> Request {
        Request {
            id: RequestId::generate(at),
            number: RequestNumber { year: 2025, seq: 1 },
            status: if resolved.is_some() { RequestStatus::Resolved } else { RequestStatus::Dispatched },
            category: code(category),
            deadline_class: class,
            registered_at: at,
            deadline: at + class.window(),
            organization: Some(code(org)),
            accepted_at: Some(at),
            address: Address {
                id: code("a1"),
                street: "ул. Пушкинская".into(),
                house: "1".into(),
                district: "Центрально-Городской".into(),
                lat: 48.3,
                lon: 38.05,
            },
            address_unconfirmed: false,
            description: "test".into(),
            channel: Channel::Phone,
            applicant: Applicant::default(),
            co_applicants: vec![],
            incident: None,
            resolution: None,
            resolved_at: resolved,
            resolved_late: resolved.map(|r| r > at + class.window()),
            closed_at: None,
            escalation: None,
            overdue_holder: None,
            reopened: 0,
            updated_at: at,
            events: 1,
            version: 0,
        }
    }

    /// splitmix64: a fixed seed gives the same year on every machine.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn exp(&mut self, mean: f64) -> f64 {
            -mean * (1.0 - self.next()).ln()
        }
    }

    /// The calendar moment at which `hours` of work on `clock`, started at `at`, are done.
    fn after_work(clock: &WeekClock, at: DateTime<Utc>, hours: f64) -> DateTime<Utc> {
        let start = week_pos(at, city());
        let (mut p, mut left) = (start, hours);
        loop {
            let end = p.floor() + 1.0;
            if clock.is_open(p) {
                if end - p >= left {
                    p += left;
                    break;
                }
                left -= end - p;
            }
            p = end;
        }
        at + Duration::milliseconds(((p - start) * 3_600_000.0).round() as i64)
    }

    /// A class of the synthetic year: its share of arrivals, category and mean service hours.
    type Mix = [(DeadlineClass, &'static str, f64, f64)];

    /// A year (2025) of one organization's requests: Poisson arrivals whose
    /// rate peaks in November and on weekday daytime, exponential service;
    /// each history record resolved as if its work started on registration.
    fn synthetic_year(
        seed: u64,
        org: &str,
        hours: &WorkingHours,
        per_day: f64,
        mix: &Mix,
    ) -> (Vec<Request>, Vec<SimArrival>) {
        let mut rng = Rng(seed);
        let (regular, emergency) = (WeekClock::regular(hours), WeekClock::emergency(hours));
        let start = local(2025, 1, 1, 0);
        let (mut history, mut arrivals) = (Vec::new(), Vec::new());
        for hour in 0..365 * 24 {
            let t0 = start + Duration::hours(hour);
            let lt = t0.with_timezone(&city());
            let season = 1.0 + 0.35 * (std::f64::consts::TAU * (f64::from(lt.month()) - 11.0) / 12.0).cos();
            let weekly = match (lt.weekday().num_days_from_monday(), lt.hour()) {
                (5 | 6, _) => 0.6,
                (_, 8..20) => 1.6,
                _ => 0.4,
            };
            let rate = per_day / 24.0 * season * weekly;
            let mut x = rng.exp(1.0 / rate);
            while x < 1.0 {
                let at = t0 + Duration::milliseconds((x * 3_600_000.0) as i64);
                let mut u = rng.next();
                let &(class, category, _, mean) = mix
                    .iter()
                    .find(|m| {
                        u -= m.2;
                        u < 0.0
                    })
                    .unwrap_or(&mix[mix.len() - 1]);
                let work = rng.exp(mean);
                let clock = if class == DeadlineClass::Emergency { &emergency } else { &regular };
                history.push(request(org, class, category, at, Some(after_work(clock, at, work))));
                arrivals.push(SimArrival {
                    at,
                    deadline: at + class.window(),
                    service_hours: work,
                    emergency: class == DeadlineClass::Emergency,
                });
                x += rng.exp(1.0 / rate);
            }
        }
        (history, arrivals)
    }

    fn hours_map(id: &str, hours: WorkingHours) -> BTreeMap<OrgId, WorkingHours> {
        BTreeMap::from([(code(id), hours)])
    }

    /// Simulated share on time per group among the arrivals of calendar `month`.
    fn simulated(arrivals: &[SimArrival], crews: u32, hours: &WorkingHours, month: u32) -> (f64, f64) {
        let sim = simulate(arrivals, crews, hours, city());
        let share = |emergency: bool| {
            let picked: Vec<usize> = (0..arrivals.len())
                .filter(|&i| arrivals[i].emergency == emergency)
                .filter(|&i| arrivals[i].at.with_timezone(&city()).month() == month)
                .collect();
            picked.iter().filter(|&&i| sim.outcomes[i].on_time).count() as f64 / picked.len().max(1) as f64
        };
        (share(true), share(false))
    }

    /// How far below the target a simulated month may fall and still count
    /// as meeting it: the peak month holds a few hundred requests, so its
    /// share on time is itself uncertain by about ±0.02.
    const TOLERANCE: f64 = 0.03;

    /// The crews planned for a year and the month they were sized for (as a month of the history).
    fn planned(history: &[Request], hours: WorkingHours) -> (u32, u32) {
        let p = plan(
            &[org("roads", OrganizationKind::Roads, Subordination::City, 1)],
            history,
            &[],
            &hours_map("roads", hours),
            local(2026, 1, 1, 0),
            12,
            city(),
            0.9,
        );
        let row = &p.organizations[0];
        let month = row.peak_month.as_ref().expect("a peak month")[5..].parse().unwrap();
        (row.crews_needed.expect("the target is reachable"), month)
    }

    #[test]
    fn planned_crews_meet_the_target_in_a_simulated_year_and_one_fewer_do_not() {
        use DeadlineClass::*;
        // Crews work 08–20 every day and take emergencies at night; a SHORT
        // request's day holds twelve working hours, so waiting matters.
        let hours =
            WorkingHours { start_hour: 8, end_hour: 20, days: 0x7f, around_the_clock_for_emergencies: true };
        let mix: &Mix = &[
            (Emergency, "gas-smell", 0.2, 2.0),
            (Short, "no-light", 0.5, 2.5),
            (Medium, "pothole", 0.3, 3.5),
        ];
        let (history, arrivals) = synthetic_year(7, "roads", &hours, 12.0, mix);
        let (crews, month) = planned(&history, hours);
        let (emergency, regular) = simulated(&arrivals, crews, &hours, month);
        assert!(
            emergency >= 0.9 - TOLERANCE && regular >= 0.9 - TOLERANCE,
            "{crews} crews: emergencies {emergency:.3}, the rest {regular:.3}"
        );
        let (emergency, regular) = simulated(&arrivals, crews - 1, &hours, month);
        assert!(
            emergency < 0.9 || regular < 0.9,
            "{} crews still meet it: emergencies {emergency:.3}, the rest {regular:.3}",
            crews - 1
        );
    }

    #[test]
    fn on_weekday_hours_the_plan_is_on_the_safe_side() {
        use DeadlineClass::*;
        // MEDIUM and LONG leave days of slack: what binds is keeping up at
        // all, and there the stationary model is pessimistic about a month at
        // 90 % load (the queue has no time to grow as long as it says).
        let hours = WorkingHours::default();
        let mix: &Mix = &[
            (Emergency, "gas-smell", 0.25, 2.0),
            (Medium, "no-light", 0.45, 2.5),
            (Long, "pothole", 0.3, 3.5),
        ];
        let (history, arrivals) = synthetic_year(7, "roads", &hours, 8.0, mix);
        let (crews, month) = planned(&history, hours);
        let (emergency, regular) = simulated(&arrivals, crews, &hours, month);
        assert!(emergency >= 0.9 - TOLERANCE && regular >= 0.9 - TOLERANCE, "{emergency:.3} / {regular:.3}");
        let (emergency, regular) = simulated(&arrivals, crews - 2, &hours, month);
        assert!(emergency < 0.9 || regular < 0.9, "{} crews still meet it", crews - 2);
    }

    #[test]
    fn on_weekday_hours_a_one_day_deadline_is_out_of_reach_and_the_plan_says_so() {
        use DeadlineClass::*;
        // A SHORT request registered between Friday 17:00 and Sunday 08:00
        // is due before any working hour: no number of crews saves it.
        let hours = WorkingHours::default();
        let mix: &Mix = &[
            (Emergency, "gas-smell", 0.2, 2.0),
            (Short, "no-light", 0.5, 2.5),
            (Medium, "pothole", 0.3, 3.5),
        ];
        let (history, arrivals) = synthetic_year(7, "roads", &hours, 8.0, mix);
        let p = plan(
            &[org("roads", OrganizationKind::Roads, Subordination::City, 4)],
            &history,
            &[],
            &hours_map("roads", hours),
            local(2026, 1, 1, 0),
            12,
            city(),
            0.9,
        );
        let row = &p.organizations[0];
        assert_eq!(row.crews_needed, None);
        assert_eq!(row.gap, None);
        let regular = row.groups.iter().find(|g| g.group == ClassGroup::Regular).unwrap();
        assert!(regular.compliance_ceiling.unwrap() < 0.9, "{regular:?}");
        assert!(row.groups.iter().any(|g| g.group == ClassGroup::Emergency && g.crews_needed.is_some()));
        let best = row.crews_for_best.expect("the best the hours allow");
        let month = row.peak_month.as_ref().unwrap()[5..].parse().unwrap();
        let (_, simulated_regular) = simulated(&arrivals, best + 20, &hours, month);
        assert!(simulated_regular < 0.9, "{simulated_regular}");
    }

    /// One request a day at noon, city time, on each of `days`.
    fn daily(
        org: &str,
        class: DeadlineClass,
        category: &str,
        days: impl Iterator<Item = NaiveDate>,
    ) -> Vec<Request> {
        days.map(|d| {
            let at =
                city().from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
            request(org, class, category, at, None)
        })
        .collect()
    }

    fn dates(from: (i32, u32, u32), to: (i32, u32, u32)) -> impl Iterator<Item = NaiveDate> {
        let from = NaiveDate::from_ymd_opt(from.0, from.1, from.2).unwrap();
        let to = NaiveDate::from_ymd_opt(to.0, to.1, to.2).unwrap();
        from.iter_days().take_while(move |d| *d <= to)
    }

    fn forecast_of(history: &[Request], now: DateTime<Utc>, months: u32) -> Vec<(String, f64)> {
        let p = plan(
            &[org("zhek", OrganizationKind::Housing, Subordination::City, 3)],
            history,
            &[],
            &BTreeMap::new(),
            now,
            months,
            city(),
            0.9,
        );
        p.forecast.into_iter().map(|f| (f.month, f.expected_requests)).collect()
    }

    #[test]
    fn months_without_requests_count_as_zero() {
        // January and March one a day, February none: 62 requests in 89.5 days observed.
        let mut history = daily("zhek", DeadlineClass::Short, "leak", dates((2025, 1, 1), (2025, 1, 31)));
        history.extend(daily("zhek", DeadlineClass::Short, "leak", dates((2025, 3, 1), (2025, 3, 31))));
        let f = forecast_of(&history, local(2025, 4, 1, 0), 1);
        assert_eq!(f[0].0, "2025-05");
        let expected = 62.0 / 89.5 * 31.0;
        assert!((f[0].1 - expected).abs() < 0.5, "{} expected, {} forecast", expected, f[0].1);
    }

    #[test]
    fn a_partial_month_counts_for_the_days_observed() {
        // One a day from 10 March to 19 April, planned on 20 April: March is
        // seen for 21.5 days, April for 19; both run at one a day.
        let history = daily("zhek", DeadlineClass::Short, "leak", dates((2025, 3, 10), (2025, 4, 19)));
        let f = forecast_of(&history, local(2025, 4, 20, 0), 1);
        assert_eq!(f[0].0, "2025-05");
        assert!(
            (f[0].1 - 31.0).abs() < 1.0,
            "a month of one a day, not the average of two partial counts: {}",
            f[0].1
        );
    }

    #[test]
    fn the_season_of_a_year_returns_next_year() {
        // Three a day from November to February, one a day otherwise.
        let history: Vec<Request> = dates((2025, 1, 1), (2025, 12, 31))
            .flat_map(|d| {
                let n = if matches!(d.month(), 11 | 12 | 1 | 2) { 3 } else { 1 };
                (0..n).flat_map(move |_| daily("zhek", DeadlineClass::Short, "leak", std::iter::once(d)))
            })
            .collect();
        let f: BTreeMap<String, f64> = forecast_of(&history, local(2026, 1, 1, 0), 12).into_iter().collect();
        assert!((f["2026-07"] - 31.0).abs() < 2.0, "July {}", f["2026-07"]);
        assert!((f["2026-12"] - 93.0).abs() < 3.0, "December {}", f["2026-12"]);
    }

    #[test]
    fn a_trend_is_followed_once_two_years_are_seen() {
        // From one a day to three a day over two years, no season.
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let mut owed = 0.0;
        let mut history = Vec::new();
        for d in dates((2024, 1, 1), (2025, 12, 31)) {
            owed += 1.0 + 2.0 * (d - start).num_days() as f64 / 731.0;
            while owed >= 1.0 {
                history.extend(daily("zhek", DeadlineClass::Short, "leak", std::iter::once(d)));
                owed -= 1.0;
            }
        }
        let f = forecast_of(&history, local(2026, 1, 1, 0), 2);
        // February 2026 runs at about 3.1 a day; last year's flat level would give 2.5.
        assert_eq!(f[0].0, "2026-02");
        assert!(f[0].1 > 28.0 * 2.9 && f[0].1 < 28.0 * 3.3, "{}", f[0].1);
    }

    #[test]
    fn service_time_falls_back_from_category_to_class_to_a_quarter_window() {
        let hours = WorkingHours::default();
        // Friday 2025-03-07 16:00, resolved Monday 09:00: two working hours.
        let friday = local(2025, 3, 7, 16);
        let mut mine = vec![];
        for _ in 0..5 {
            mine.push(request("zhek", DeadlineClass::Long, "pothole", friday, Some(local(2025, 3, 10, 9))));
        }
        for _ in 0..2 {
            // Monday 08:00 to 18:00: nine working hours.
            mine.push(request(
                "zhek",
                DeadlineClass::Long,
                "curb",
                local(2025, 3, 10, 8),
                Some(local(2025, 3, 10, 18)),
            ));
        }
        let refs: Vec<&Request> = mine.iter().collect();
        let s = ServiceTimes::new(&refs, &hours, city());
        assert!((s.mean(DeadlineClass::Long, &code("pothole")) - 2.0).abs() < 1e-9);
        // Two samples are too few for "curb": the class's mean.
        assert!((s.mean(DeadlineClass::Long, &code("curb")) - (5.0 * 2.0 + 2.0 * 9.0) / 7.0).abs() < 1e-9);
        // Nothing for SHORT: a quarter of its 24 hours, in working time (45 of 168 hours).
        assert!((s.mean(DeadlineClass::Short, &code("leak")) - 6.0 * 45.0 / 168.0).abs() < 1e-9);
        // Emergencies run around the clock: a quarter of 6 hours.
        assert!((s.mean(DeadlineClass::Emergency, &code("gas")) - 1.5).abs() < 1e-9);
    }

    #[test]
    fn a_request_registered_on_friday_afternoon_has_the_working_hours_before_its_deadline() {
        let clock = WeekClock::regular(&WorkingHours::default());
        // MEDIUM registered Friday 12:00 is due Monday 12:00: Friday 12–17 and Monday 08–12.
        let friday = week_pos(local(2025, 3, 7, 12), city());
        assert!((clock.between(friday, friday + 72.0) - 9.0).abs() < 1e-9);
        // SHORT registered Saturday is due Sunday: no working hour at all.
        let saturday = week_pos(local(2025, 3, 8, 10), city());
        assert_eq!(clock.between(saturday, saturday + 24.0), 0.0);
    }

    #[test]
    fn erlang_c_and_the_sojourn_time_match_known_values() {
        // M/M/1: waiting probability ρ, sojourn exponential with rate μ − λ.
        assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12);
        assert!((sojourn_within(1, 0.5, 1.0, 2.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        // M/M/2 offered one erlang: C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // θ = cμ − λ equal to μ: the limit form, no division by zero.
        let p = sojourn_within(2, 1.0, 1.0, 3.0);
        let expected = 1.0 - (2.0 / 3.0) * (-3.0f64).exp() - (1.0 / 3.0) * (1.0 + 3.0) * (-3.0f64).exp();
        assert!((p - expected).abs() < 1e-9, "{p} vs {expected}");
        // Unstable or crewless: nobody who waits is served.
        assert_eq!(erlang_c(3, 3.0), 1.0);
        assert_eq!(sojourn_within(3, 5.0, 1.0, 100.0), 0.0);
        assert_eq!(sojourn_within(0, 1.0, 1.0, 100.0), 0.0);
        // More crews never hurt.
        let ps: Vec<f64> = (3..10).map(|c| sojourn_within(c, 2.5, 1.0, 2.0)).collect();
        assert!(ps.windows(2).all(|w| w[0] <= w[1]), "{ps:?}");
    }

    #[test]
    fn the_simulation_works_regular_jobs_in_working_hours_and_emergencies_at_night() {
        let arrivals = [
            // Friday 16:00, two hours of work: one tonight, one on Monday morning.
            SimArrival {
                at: local(2025, 3, 7, 16),
                deadline: local(2025, 3, 10, 16),
                service_hours: 2.0,
                emergency: false,
            },
            // Saturday 02:00, one hour: a crew on call does it at once.
            SimArrival {
                at: local(2025, 3, 8, 2),
                deadline: local(2025, 3, 8, 8),
                service_hours: 1.0,
                emergency: true,
            },
        ];
        let sim = simulate(&arrivals, 1, &WorkingHours::default(), city());
        assert_eq!(sim.outcomes[0].finished_at, Some(local(2025, 3, 10, 9)));
        assert_eq!(sim.outcomes[1].finished_at, Some(local(2025, 3, 8, 3)));
        assert_eq!(sim.compliance(), Some(1.0));
        // Without crews on call the emergency waits for Monday and is late.
        let office = WorkingHours { around_the_clock_for_emergencies: false, ..WorkingHours::default() };
        let sim = simulate(&arrivals, 1, &office, city());
        assert_eq!(sim.outcomes[1].finished_at, Some(local(2025, 3, 10, 9)));
        assert!(!sim.outcomes[1].on_time);
        // Emergencies first: Monday's first hour goes to it, the regular job ends at 10:00.
        assert_eq!(sim.outcomes[0].finished_at, Some(local(2025, 3, 10, 10)));
    }

    fn norm(category: &str, crew: f64, vehicle: f64, materials: &[(&str, &str, f64)]) -> CategoryNorm {
        CategoryNorm {
            category: code(category),
            crew_hours: crew,
            vehicle_hours: vehicle,
            materials: materials
                .iter()
                .map(|&(name, unit, per_request)| MaterialNorm {
                    name: name.into(),
                    unit: unit.into(),
                    per_request,
                })
                .collect(),
        }
    }

    #[test]
    fn norms_sum_into_a_years_needs() {
        // A year of one pothole, one lamp and one leak a day.
        let year = || dates((2025, 1, 1), (2025, 12, 31));
        let mut history = daily("roads", DeadlineClass::Long, "pothole", year());
        history.extend(daily("roads", DeadlineClass::Medium, "lamp", year()));
        history.extend(daily("roads", DeadlineClass::Medium, "leak", year()));
        let norms = [
            norm("pothole", 3.0, 6.0, &[("asphalt", "t", 0.5)]),
            norm(
                "lamp",
                1.0,
                1.0,
                &[("lamp 150 W", "pcs", 1.0), ("asphalt", "t", 0.1), ("asphalt", "kg", 2.0)],
            ),
        ];
        let p = plan(
            &[org("roads", OrganizationKind::Roads, Subordination::City, 3)],
            &history,
            &norms,
            &BTreeMap::new(),
            local(2026, 1, 1, 0),
            12,
            city(),
            0.9,
        );
        let row = &p.organizations[0];
        let third = row.expected_requests / 3.0;
        assert!((row.expected_requests - 3.0 * 365.0).abs() < 15.0, "{}", row.expected_requests);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6 * b.max(1.0);
        let leak_hours = row.crew_hours - third * 4.0;
        assert!(leak_hours > 0.0, "the leak has no norm: its measured (here: fallback) hours count");
        assert!(close(row.vehicle_hours, third * 7.0));
        let quantity = |name: &str, unit: &str| {
            row.materials.iter().find(|m| m.name == name && m.unit == unit).map(|m| m.quantity)
        };
        assert!(close(quantity("asphalt", "t").unwrap(), third * 0.6));
        assert!(close(quantity("asphalt", "kg").unwrap(), third * 2.0));
        assert!(close(quantity("lamp 150 W", "pcs").unwrap(), third));
        // 2 555 vehicle-hours over a year of 45-hour weeks (2 346 hours): two vehicles.
        assert_eq!(row.vehicles_needed, 2);
        assert_eq!(row.categories_without_norm, vec![code("leak")]);
    }

    #[test]
    fn bad_norms_and_hours_are_refused() {
        assert!(norm("pothole", 3.0, 1.0, &[("asphalt", "t", 0.5)]).validate().is_ok());
        for bad in [
            norm("pothole", -1.0, 1.0, &[]),
            norm("pothole", f64::NAN, 1.0, &[]),
            norm("pothole", 1.0, f64::INFINITY, &[]),
            norm("pothole", 1.0, 1.0, &[("", "t", 1.0)]),
            norm("pothole", 1.0, 1.0, &[("asphalt", " ", 1.0)]),
            norm("pothole", 1.0, 1.0, &[("asphalt", "t", -0.1)]),
            norm("pothole", 1.0, 1.0, &[("asphalt", "t", 1.0); MAX_MATERIALS + 1]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let twice = [norm("pothole", 1.0, 1.0, &[]), norm("pothole", 2.0, 1.0, &[])];
        assert!(validate_norms(&twice).is_err());

        assert!(WorkingHours::default().validate().is_ok());
        assert!(WorkingHours::around_the_clock().validate().is_ok());
        for bad in [
            WorkingHours { start_hour: 17, end_hour: 8, ..WorkingHours::default() },
            WorkingHours { start_hour: 8, end_hour: 8, ..WorkingHours::default() },
            WorkingHours { end_hour: 25, ..WorkingHours::default() },
            WorkingHours { days: 0, ..WorkingHours::default() },
            WorkingHours { days: 0x80 | 0x1f, ..WorkingHours::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(WorkingHours::default().weekly_hours(), 45.0);
    }

    #[test]
    fn a_crew_moves_from_the_organization_with_slack_to_the_one_short() {
        use DeadlineClass::*;
        let hours = WorkingHours::around_the_clock();
        let mix: &Mix = &[(Emergency, "gas-smell", 1.0, 2.0)];
        let (mut history, _) = synthetic_year(3, "zhek-quiet", &hours, 4.0, mix);
        history.extend(synthetic_year(5, "zhek-busy", &hours, 30.0, mix).0);
        history.extend(synthetic_year(9, "vodokanal", &hours, 4.0, mix).0);
        let orgs = [
            org("zhek-quiet", OrganizationKind::Housing, Subordination::City, 8),
            org("zhek-busy", OrganizationKind::Housing, Subordination::City, 3),
            // Regional and idle: not the city's to move.
            org("vodokanal", OrganizationKind::Water, Subordination::Regional, 12),
        ];
        let hmap: BTreeMap<OrgId, WorkingHours> = orgs.iter().map(|o| (o.id.clone(), hours)).collect();
        let p = plan(&orgs, &history, &[], &hmap, local(2026, 1, 1, 0), 12, city(), 0.9);
        let first = p.balance.first().expect("a move");
        assert_eq!((first.from.as_str(), first.to.as_str()), ("zhek-quiet", "zhek-busy"));
        assert!(first.same_kind);
        assert!(first.overall.1 > first.overall.0, "{first:?}");
        assert!(first.to_compliance.1 > first.to_compliance.0);
        assert!(p.balance.iter().all(|m| m.from.as_str() != "vodokanal" && m.to.as_str() != "vodokanal"));
        assert!(p.balance.len() < MAX_MOVES, "moves stop once they no longer help");
        let busy = &p.organizations[1];
        assert!(busy.gap.unwrap() > 0, "{busy:?}");
        assert!(p.organizations[0].gap.unwrap() < 0);
    }

    #[test]
    fn no_input_makes_the_plan_or_the_simulation_panic() {
        let orgs = [
            org("zhek", OrganizationKind::Housing, Subordination::City, 0),
            org("roads", OrganizationKind::Roads, Subordination::City, 2),
        ];
        let empty = plan(&orgs, &[], &[], &BTreeMap::new(), local(2026, 1, 1, 0), 12, city(), 0.9);
        assert_eq!(empty.organizations[0].crews_needed, Some(0));
        assert_eq!(empty.organizations[0].compliance_configured, None);
        assert!(empty.balance.is_empty());

        // Far more work than crews, odd inputs.
        let mut history = daily("zhek", DeadlineClass::Emergency, "gas", dates((2025, 6, 1), (2025, 12, 31)));
        history.extend(daily("zhek", DeadlineClass::Short, "leak", dates((2025, 6, 1), (2025, 12, 31))));
        let bad_hours = hours_map("zhek", WorkingHours { days: 0, ..WorkingHours::default() });
        for (months, target) in [(0, 0.9), (u32::MAX, f64::NAN), (3, 1.0), (3, -2.0)] {
            let p = plan(
                &orgs,
                &history,
                &[norm("gas", -1.0, 0.0, &[])],
                &bad_hours,
                local(2026, 1, 1, 0),
                months,
                city(),
                target,
            );
            assert!(!p.warnings.is_empty());
            assert!(p.months.len() <= MAX_MONTHS as usize);
        }
        // A target of 1 cannot be met with random service times.
        let p = plan(&orgs, &history, &[], &BTreeMap::new(), local(2026, 1, 1, 0), 3, city(), 1.0);
        assert_eq!(p.organizations[0].crews_needed, None);
        assert_eq!(p.organizations[0].compliance_configured, Some(0.0), "no crews, nothing on time");
        // History after `now`, or `now` before any history.
        let p = plan(&orgs, &history, &[], &BTreeMap::new(), local(2000, 1, 1, 0), 3, city(), 0.9);
        assert_eq!(p.organizations[0].expected_requests, 0.0);

        let at = local(2025, 3, 7, 16);
        let odd = [
            SimArrival { at, deadline: at - Duration::hours(1), service_hours: f64::NAN, emergency: false },
            SimArrival { at, deadline: at + Duration::hours(1), service_hours: -3.0, emergency: true },
            SimArrival {
                at,
                deadline: at + Duration::hours(100),
                service_hours: f64::INFINITY,
                emergency: false,
            },
        ];
        assert_eq!(simulate(&[], 3, &WorkingHours::default(), city()).compliance(), None);
        assert_eq!(simulate(&odd, 0, &WorkingHours::default(), city()).compliance(), Some(0.0));
        let never =
            WorkingHours { days: 0, around_the_clock_for_emergencies: false, ..WorkingHours::default() };
        assert_eq!(simulate(&odd, 2, &never, city()).compliance(), Some(0.0));
        let sim = simulate(&odd, u32::MAX, &WorkingHours::default(), city());
        assert_eq!(sim.outcomes.len(), 3);
        assert!(sim.outcomes[1].on_time);
    }
}
