//! The bounds of admission control and client limits: flags (`--inflight-max`, ...),
//! `TANLI_*` variables, or an `[admission]` table in the TOML file, resolved into
//! [`AdmissionConfig`]. Field names end with their unit.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, clap::Args, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdmissionArgs {
    /// Requests in flight on this node (read, not yet answered) past which hot clients' new
    /// requests are refused with TRYAGAIN.
    #[arg(long, env = "TANLI_INFLIGHT_HIGH_WATERMARK")]
    pub inflight_high_watermark: Option<usize>,
    /// Requests in flight on this node past which every client's new requests are refused.
    #[arg(long, env = "TANLI_INFLIGHT_MAX")]
    pub inflight_max: Option<usize>,
    /// A client is hot when its recent request rate is more than this many times the mean rate
    /// of the other clients.
    #[arg(long, env = "TANLI_HOT_FACTOR")]
    pub hot_factor: Option<f64>,
    /// Requests per second the other clients must send together before a busy client can be
    /// hot: below it (a health check, a monitor, a pool's spare connections) nobody's requests
    /// wait behind it, so it is not refused for them. 0: any other active client counts.
    #[arg(long, env = "TANLI_BYSTANDER_RATE_MIN")]
    pub bystander_rate_min: Option<f64>,
    /// Half-life of the decaying request rate of each client.
    #[arg(long, env = "TANLI_RATE_HALF_LIFE_MS")]
    pub rate_half_life_ms: Option<u64>,
    /// How often rates, client memory and overload are evaluated.
    #[arg(long, env = "TANLI_ADMISSION_TICK_MS")]
    pub admission_tick_ms: Option<u64>,
    /// Overload (requests refused in every tick) lasting this long disconnects the hottest
    /// refused client; one more each further period.
    #[arg(long, env = "TANLI_SHED_AFTER_MS")]
    pub shed_after_ms: Option<u64>,
    /// The wait a TRYAGAIN for overload suggests (`retry in N ms`).
    #[arg(long, env = "TANLI_RETRY_HINT_MS")]
    pub retry_hint_ms: Option<u64>,
    /// Bytes buffered by all client connections (unparsed input + unsent replies) past which the
    /// client buffering the most is disconnected (Redis's maxmemory-clients).
    #[arg(long, env = "TANLI_CLIENTS_MEMORY_BYTES_MAX")]
    pub clients_memory_bytes_max: Option<usize>,
    /// Reply bytes one connection may have ready but unsent before it stops reading new
    /// requests (back-pressure on a client that reads its replies slowly).
    #[arg(long, env = "TANLI_REPLY_BUFFER_BYTES_MAX")]
    pub reply_buffer_bytes_max: Option<usize>,
    /// Unsent reply bytes of one connection past which, if the client is not reading, it is
    /// disconnected at once (Redis's client-output-buffer-limit hard limit).
    #[arg(long, env = "TANLI_OUTPUT_BUFFER_BYTES_MAX")]
    pub output_buffer_bytes_max: Option<usize>,
    /// A client that takes none of its unsent replies for this long is disconnected.
    #[arg(long, env = "TANLI_OUTPUT_STALL_MS")]
    pub output_stall_ms: Option<u64>,
    /// A connection with no request for this long, and no request in flight, is closed
    /// (Redis's `timeout`; 0: never), at the next admission tick.
    #[arg(long, env = "TANLI_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Entries a shard leader may have committed but not yet applied before it refuses new
    /// writes with TRYAGAIN.
    #[arg(long, env = "TANLI_APPLY_LAG_MAX")]
    pub apply_lag_max: Option<u64>,
}

/// Resolved admission bounds.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    pub inflight_high_watermark: usize,
    pub inflight_max: usize,
    pub hot_factor: f64,
    pub bystander_rate_min: f64,
    pub rate_half_life: Duration,
    pub tick: Duration,
    pub shed_after: Duration,
    pub retry_hint: Duration,
    pub clients_memory_bytes_max: usize,
    pub reply_buffer_bytes_max: usize,
    pub output_buffer_bytes_max: usize,
    pub output_stall: Duration,
    /// `None`: connections never time out.
    pub idle_timeout: Option<Duration>,
    pub apply_lag_max: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig::resolve(&AdmissionArgs::default(), &AdmissionArgs::default())
            .unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"))
    }
}

impl AdmissionConfig {
    /// Flags (`a`) over the file (`f`) over the defaults.
    pub fn resolve(a: &AdmissionArgs, f: &AdmissionArgs) -> anyhow::Result<AdmissionConfig> {
        macro_rules! get {
            ($field:ident, $default:expr) => {
                a.$field.or(f.$field).unwrap_or($default)
            };
        }
        let ms = Duration::from_millis;
        let c = AdmissionConfig {
            inflight_high_watermark: get!(inflight_high_watermark, 32),
            inflight_max: get!(inflight_max, 32_768),
            hot_factor: get!(hot_factor, 4.0),
            bystander_rate_min: get!(bystander_rate_min, 10.0),
            rate_half_life: ms(get!(rate_half_life_ms, 1_000)),
            tick: ms(get!(admission_tick_ms, 100)),
            shed_after: ms(get!(shed_after_ms, 2_000)),
            retry_hint: ms(get!(retry_hint_ms, 50)),
            clients_memory_bytes_max: get!(clients_memory_bytes_max, 2 << 30),
            reply_buffer_bytes_max: get!(reply_buffer_bytes_max, 16 << 20),
            output_buffer_bytes_max: get!(output_buffer_bytes_max, 1 << 30),
            output_stall: ms(get!(output_stall_ms, 60_000)),
            idle_timeout: Some(get!(idle_timeout_ms, 0)).filter(|&t| t > 0).map(ms),
            apply_lag_max: get!(apply_lag_max, 100_000),
        };
        anyhow::ensure!(
            c.inflight_high_watermark > 0 && c.inflight_high_watermark <= c.inflight_max,
            "inflight-high-watermark must be positive and at most inflight-max"
        );
        anyhow::ensure!(
            c.hot_factor.is_finite() && c.hot_factor >= 1.0,
            "hot-factor must be at least 1"
        );
        anyhow::ensure!(
            c.bystander_rate_min.is_finite() && c.bystander_rate_min >= 0.0,
            "bystander-rate-min must be a number of requests per second, at least 0"
        );
        anyhow::ensure!(
            !c.tick.is_zero() && c.rate_half_life >= c.tick && c.shed_after >= c.tick,
            "admission-tick-ms must be positive and at most rate-half-life-ms and shed-after-ms"
        );
        anyhow::ensure!(
            c.reply_buffer_bytes_max <= c.output_buffer_bytes_max
                && !c.output_stall.is_zero()
                && c.clients_memory_bytes_max > 0
                && c.apply_lag_max > 0,
            "reply-buffer-bytes-max must be at most output-buffer-bytes-max; \
             output-stall-ms, clients-memory-bytes-max and apply-lag-max must be positive"
        );
        Ok(c)
    }
}
