//! The one rule for tests of a service (Redis, a Redis Cluster,
//! PostgreSQL): with `SPAPI_REQUIRE_SERVICES` set (`.ci/run` sets it, after
//! starting each service), a missing service fails the test; without it,
//! the test says it skipped.

/// Whether a missing service must fail the test rather than skip it.
pub fn services_required() -> bool {
    std::env::var("SPAPI_REQUIRE_SERVICES").is_ok_and(|v| !v.is_empty() && v != "0")
}
