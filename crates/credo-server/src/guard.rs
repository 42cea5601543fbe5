//! What every request passes through: per-client rate limits on the public routes (a token
//! bucket per IP address, 429 with `Retry-After`), and the Prometheus counters and latency
//! histogram per route.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A token bucket per client address.
pub struct RateLimiter {
    /// Tokens added per second, and the most a bucket holds.
    pub rate: f64,
    pub burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` at `now`; on refusal, the whole seconds until one is there.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let Ok(mut b) = self.buckets.lock() else {
            return Ok(());
        };
        if b.len() > 100_000 {
            // Forget full buckets so the table cannot grow without bound.
            let (rate, burst) = (self.rate, self.burst);
            b.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = b.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// The client's address, which the rate limits are kept by.
pub fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

pub async fn rate_limit(State(s): State<crate::AppState>, req: Request, next: Next) -> Response {
    match s.limiter.take(client_ip(&req), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(retry) => ApiError::rate_limited(retry).into_response(),
    }
}

/// Latency bucket bounds in seconds.
const BOUNDS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
struct RouteStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// Counters per route (the route's pattern, not the path, so IDs never reach metrics).
pub struct Metrics {
    routes: Vec<&'static str>,
    index: HashMap<&'static str, usize>,
    stats: Vec<RouteStats>,
}

impl Metrics {
    pub fn new(routes: &[&'static str]) -> Metrics {
        let mut all: Vec<&'static str> = Vec::new();
        for r in routes.iter().copied().chain(["other"]) {
            if !all.contains(&r) {
                all.push(r);
            }
        }
        Metrics {
            index: all.iter().enumerate().map(|(i, r)| (*r, i)).collect(),
            stats: all.iter().map(|_| RouteStats::default()).collect(),
            routes: all,
        }
    }

    /// The slot of a route pattern ("other" for anything else).
    fn slot(&self, route: Option<&str>) -> usize {
        route
            .and_then(|r| self.index.get(r).copied())
            .unwrap_or(self.routes.len() - 1)
    }

    fn record(&self, slot: usize, status: u16, seconds: f64) {
        let r = &self.stats[slot];
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        r.by_class[class].fetch_add(1, Ordering::Relaxed);
        r.count.fetch_add(1, Ordering::Relaxed);
        r.sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (b, bound) in r.buckets.iter().zip(BOUNDS) {
            if seconds <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a request answered outside the routers that [`measure`] wraps (a cluster
    /// node's own routes), under its route pattern.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        self.record(self.slot(Some(route)), status, seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP credo_http_requests_total HTTP requests by route and status class."
        );
        let _ = writeln!(s, "# TYPE credo_http_requests_total counter");
        for (route, r) in self.routes.iter().zip(&self.stats) {
            for (c, n) in r.by_class.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        s,
                        "credo_http_requests_total{{route=\"{route}\",status=\"{}xx\"}} {n}",
                        c + 1
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "# HELP credo_http_request_seconds Time to answer, by route."
        );
        let _ = writeln!(s, "# TYPE credo_http_request_seconds histogram");
        for (route, r) in self.routes.iter().zip(&self.stats) {
            let count = r.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            for (b, bound) in r.buckets.iter().zip(BOUNDS) {
                let _ = writeln!(
                    s,
                    "credo_http_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    b.load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(
                s,
                "credo_http_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                s,
                "credo_http_request_seconds_sum{{route=\"{route}\"}} {}",
                r.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "credo_http_request_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        for (name, help, v) in extra {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        s
    }
}

pub async fn measure(State(s): State<crate::AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A slot index, not the route's string: this runs on every request.
    let slot = s.metrics.slot(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let resp = next.run(req).await;
    let secs = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    s.metrics.record(slot, status, secs);
    let route = s.metrics.routes[slot];
    if status >= 500 {
        tracing::warn!(route, status, seconds = secs, "request failed");
    } else {
        tracing::debug!(route, status, seconds = secs, "request");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let l = RateLimiter::new(2.0, 3.0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take(ip, t0).is_ok());
        }
        assert_eq!(l.take(ip, t0), Err(1));
        assert!(l.take(other, t0).is_ok(), "buckets are per client");
        assert!(l.take(ip, t0 + Duration::from_millis(500)).is_ok());
        assert!(l.take(ip, t0 + Duration::from_millis(500)).is_err());
    }
}
