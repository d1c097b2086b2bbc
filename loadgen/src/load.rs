//! The load a run applies, as plain serialisable data: what a plan file carries to
//! every node and what a result records. It sits below `plan` (the validated run),
//! `distributed` (plan files) and the record of a run, so none of them has to
//! import another for these types. Campaigns change its typed fields
//! (connections, rate, duration) from step to step.

use std::time::Duration;

/// How intended send times are spaced under `-R`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced, interleaved across connections (wrk2's schedule).
    Constant,
    /// Exponential gaps at the same mean rate, from a fixed seed.
    Poisson,
}

/// How `-p N` keeps requests in flight on a connection.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum PipelineMode {
    /// N in flight at all times: each response frees a slot that is refilled.
    #[default]
    Refill,
    /// wrk's pipeline.lua: send N, wait for all N, send N again.
    Batch,
}

impl PipelineMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Refill => "refill",
            Self::Batch => "batch",
        }
    }
}

/// The load half of a run's options: what a plan file carries to every node, and
/// all a merge needs to describe the run again. What the machine running it
/// decides (CPUs, engine, outputs) is not here. Campaigns change its typed fields
/// (connections, rate, duration) from step to step. Durations are `Duration` in
/// memory and milliseconds only in the file (`duration_ms`, `timeout_ms`: whole
/// ms as an integer, else a fraction that reads back to the nanosecond).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Load {
    /// As given, credentials included (a run's [`Plan::load`] holds them masked).
    pub urls: Vec<String>,
    /// Upper-cased token.
    pub method: String,
    /// "Name: value", as given.
    pub headers: Vec<String>,
    /// Request body; base64 in the file.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
    /// Total connections (of every node together).
    pub connections: usize,
    /// Threads of each node (None: one per CPU it may use, at most its connections).
    pub threads: Option<usize>,
    /// Run length (None: until -n requests are done).
    #[serde(rename = "duration_ms", with = "millis::option")]
    pub duration: Option<Duration>,
    /// Total requests under -n (of every node together).
    pub requests: Option<u64>,
    /// Requests in flight per connection.
    pub pipeline: usize,
    #[serde(default)]
    pub pipeline_mode: PipelineMode,
    /// A request unanswered this long is a timeout.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Total rate under -R, requests/s (of every node together).
    pub rate: Option<f64>,
    pub arrivals: Arrivals,
    pub seed: u64,
    /// `-s FILE [-- ARGS]`: the script's text travels, not its path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<crate::script::source::ScriptSource>,
    /// `--requests-file FILE`: the requests, read and checked, with what their
    /// substitutions need (the files' lines), so a node reads no file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_file: Option<crate::requests_file::source::RequestsSource>,
    /// The certificate flags for `https://` URLs (`-k`, `--cacert`,
    /// `--cert/--key`, `--tls-resume`): paths, never key material.
    #[serde(default)]
    pub tls: crate::tls::ClientTlsOptions,
}

impl Load {
    /// The same load with every credential masked (URL passwords, Authorization
    /// values): what results, node files and reports may hold.
    pub fn redacted(&self) -> Load {
        Load {
            urls: self.urls.iter().map(|u| crate::redact::url(u)).collect(),
            headers: self
                .headers
                .iter()
                .map(|h| crate::redact::header(h))
                .collect(),
            // A script's text may hold keys: results keep its name only.
            script: self
                .script
                .as_ref()
                .map(|s| crate::script::source::ScriptSource {
                    name: s.name.clone(),
                    text: String::new(),
                    args: Vec::new(),
                }),
            requests_file: self.requests_file.as_ref().map(|r| r.redacted()),
            ..self.clone()
        }
    }
}

/// A `Duration` as milliseconds in a file: whole ones as an integer, else a
/// fraction (exact to the nanosecond up to [`crate::plan::limits::MAX_RUN`]).
mod millis {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos().is_multiple_of(1_000_000) {
            (d.as_millis() as u64).serialize(s)
        } else {
            (d.as_nanos() as f64 / 1e6).serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(serde::de::Error::custom(format!(
                "{ms} is not a duration in ms"
            )));
        }
        let ns = (ms * 1e6).round();
        if ns >= u64::MAX as f64 {
            return Err(serde::de::Error::custom(format!("{ms} ms is too long")));
        }
        Ok(Duration::from_nanos(ns as u64))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Duration);
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

/// Bytes as standard base64 in a file.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back_from_the_file_to_the_nanosecond() {
        let mut load = crate::distributed::tests::load();
        for (d, t) in [
            (
                Some(Duration::from_millis(10_500)),
                Duration::from_micros(12_345),
            ),
            (
                Some(Duration::new(2_591_999, 999_999_999)),
                Duration::from_nanos(10_000_001),
            ),
            (None, Duration::from_secs(3600)),
        ] {
            load.duration = d;
            load.timeout = t;
            let text = serde_json::to_string(&load).unwrap();
            let back: Load = serde_json::from_str(&text).unwrap();
            assert_eq!(back, load, "{text}");
        }
        // Whole milliseconds stay integers, as plan files always had them.
        load.duration = Some(Duration::from_secs(10));
        let text = serde_json::to_string(&load).unwrap();
        assert!(text.contains("\"duration_ms\":10000,"), "{text}");
    }
}
