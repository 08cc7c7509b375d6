#!/usr/bin/env bash
# Build weight for a dependent crate (issue 12, part 2).
#
# Builds two one-call programs cold, in debug, with `-j 2`, each in its own
# fresh CARGO_TARGET_DIR, and prints wall and CPU times, crate counts and ratios:
#   dep:  a new binary crate depending on this repository by path (default
#         features; not incremental, as a crates.io dependency) + tokio, one
#         getTracking call in main;
#   hand: the same call written by hand on reqwest (rustls, ring provider) +
#         tokio + serde_json + chrono + uuid.
# Both start from this repository's Cargo.lock (same versions on both sides) and
# the shared registry in CARGO_HOME, filled by one `cargo fetch` (crates.io only)
# before any clock starts; the builds themselves run `--offline`.
#
# Usage: scripts/build-weight.sh [RUNS] [JOBS]   (default 1 run, 2 jobs)
#   With RUNS > 1 the two sides alternate (dep, hand, hand, dep, ...), so
#   both see the same machine load; the medians are compared.
#   KEEP=1 keeps the scratch directory; TIMINGS=1 adds `--timings` (reports
#   under <scratch>/<side>/target/cargo-timings/). DEP_INCREMENTAL=1 builds
#   the library incrementally, as the figures before session 4 were taken.
set -euo pipefail

runs=${1:-1}
jobs=${2:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/build-weight.XXXXXX")
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$scratch"' EXIT; fi
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR RUSTFLAGS RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER

mkdir -p "$scratch/dep/src" "$scratch/hand/src"

[[ "${DEP_INCREMENTAL:-0}" == 1 ]] && export DEP_INCREMENTAL=true || export DEP_INCREMENTAL=false
cat >"$scratch/dep/Cargo.toml" <<TOML
[package]
name = "weight-dep"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
spapi-shipping = { path = "$repo" }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

# A user gets spapi-shipping from crates.io, and cargo never compiles a
# registry dependency incrementally; the path dependency here would be (about
# 2.5 s more for the library alone, measured). Like every other crate on both
# sides, it is built as a dependency is. DEP_INCREMENTAL=1: as the earlier
# rows of BENCHMARKS.md were measured.
[profile.dev.package.spapi-shipping]
incremental = ${DEP_INCREMENTAL:-0}

[workspace]
TOML

cat >"$scratch/dep/src/main.rs" <<'RS'
use spapi_shipping::{Client, types::ShippingBusinessId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let tracking = client
        .get_tracking()
        .tracking_id("1Z999AA10123456784")
        .carrier_id("AMZN_UK")
        .x_amzn_shipping_business_id(ShippingBusinessId::AmazonShippingUk)
        .send()
        .await?
        .into_inner();
    if let Some(payload) = tracking.payload {
        println!("{:?}: {:?}", payload.tracking_id, payload.summary.and_then(|s| s.status));
    }
    Ok(())
}
RS

cat >"$scratch/hand/Cargo.toml" <<'TOML'
[package]
name = "weight-hand"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
reqwest = { version = "0.13", default-features = false, features = ["json", "rustls-no-provider"] }
rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
serde_json = "1"
chrono = { version = "0.4", default-features = false, features = ["clock", "std"] }
uuid = { version = "1", features = ["v4"] }

[workspace]
TOML

cat >"$scratch/hand/src/main.rs" <<'RS'
use std::env::var;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token: serde_json::Value = http
        .post("https://api.amazon.com/auth/o2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
            var("SP_API_REFRESH_TOKEN")?,
            var("LWA_APP_ID")?,
            var("LWA_CLIENT_SECRET")?
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = token["access_token"].as_str().ok_or("no access_token")?;
    let started = chrono::Utc::now();
    let tracking: serde_json::Value = http
        .get("https://sellingpartnerapi-eu.amazon.com/shipping/v2/tracking?trackingId=1Z999AA10123456784&carrierId=AMZN_UK")
        .header("x-amz-access-token", access)
        .header("x-amzn-shipping-business-id", "AmazonShipping_UK")
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!(
        "{} {}: {}",
        started.to_rfc3339(),
        tracking["payload"]["trackingId"],
        tracking["payload"]["summary"]["status"]
    );
    Ok(())
}
RS

for side in dep hand; do
    cp "$repo/Cargo.lock" "$scratch/$side/Cargo.lock"
    # Resolves against the copied lock (dropping unused entries) and fills the
    # shared registry; the only network use, before any clock starts.
    (cd "$scratch/$side" && cargo fetch --quiet)
done

declare -A times cpus counts
build() { # side run -> wall and CPU seconds in times/cpus[side,run], crates in counts[side]
    local side=$1 run=$2 target="$scratch/$1/target-$2" log clock
    log="$scratch/$side/build-$run.log"
    # bash's `time`: wall, then user and system CPU of cargo and every rustc,
    # build script and C compiler it ran. CPU time barely moves with the
    # machine's load; wall time is what a user waits.
    clock=$( { TIMEFORMAT='%R %U %S'; time (cd "$scratch/$side" && CARGO_TARGET_DIR="$target" \
        cargo build --offline -j "$jobs" ${TIMINGS:+--timings} --color never >"$log" 2>&1); } 2>&1 ) \
        || { cat "$log" >&2; exit 1; }
    read -r wall user sys <<<"$clock"
    times[$side,$run]=$wall
    cpus[$side,$run]=$(echo "$user + $sys" | bc)
    counts[$side]=$(grep -c '^ *Compiling ' "$log")
    printf '  run %d %-4s %7.1f s wall %7.1f s CPU  %3d crates  (load %s)\n' "$run" "$side" \
        "${times[$side,$run]}" "${cpus[$side,$run]}" "${counts[$side]}" "$(cut -d' ' -f1-3 /proc/loadavg)"
    [[ -n "${TIMINGS:-}" && -d "$target/cargo-timings" ]] && cp -r "$target/cargo-timings" "$scratch/$side/timings-$run"
    rm -rf "$target"
}

echo "build weight: $(nproc) cores, -j $jobs, $runs run(s), $(rustc --version)"
echo "  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((run = 1; run <= runs; run++)); do
    if ((run % 2)); then build dep "$run"; build hand "$run"; else build hand "$run"; build dep "$run"; fi
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
series() { for ((r = 1; r <= runs; r++)); do eval echo "\${$1[$2,$r]}"; done | median; }
dep=$(series times dep) hand=$(series times hand) dep_cpu=$(series cpus dep) hand_cpu=$(series cpus hand)
printf 'dep   %7.1f s wall %7.1f s CPU  %3d crates  (spapi-shipping, default features, + tokio)\n' \
    "$dep" "$dep_cpu" "${counts[dep]}"
printf 'hand  %7.1f s wall %7.1f s CPU  %3d crates  (reqwest rustls/ring + tokio + serde_json + chrono + uuid)\n' \
    "$hand" "$hand_cpu" "${counts[hand]}"
printf 'ratio %.2fx wall, %.2fx CPU (target <= 1.5x; medians over %d run(s))\n' \
    "$(echo "$dep / $hand" | bc -l)" "$(echo "$dep_cpu / $hand_cpu" | bc -l)" "$runs"
[[ "${KEEP:-0}" == 1 ]] && echo "kept: $scratch"
exit 0
