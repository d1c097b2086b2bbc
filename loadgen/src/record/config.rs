//! The configuration a result carries, so renderers and `merge` need no Plan:
//! from the Plan a run ran, or from a plan file's load (a merge).

use crate::load::Load;
use crate::plan::Plan;
use crate::result::{AskedRate, Config};

/// What a run's result says about its configuration (this process's share of
/// it, for a node of a distributed run).
pub fn of_plan(plan: &Plan) -> Config {
    Config {
        url: plan.targets[0].url.clone(),
        urls: plan.targets.iter().map(|t| t.url.clone()).collect(),
        method: plan.method.clone(),
        threads: plan.threads(),
        connections: plan.connections,
        duration_s: plan.duration.map(|d| d.as_secs_f64()),
        requests: plan.requests,
        pipeline: plan.pipeline,
        pipeline_mode: plan.pipeline_mode,
        source_ips: plan.source_ips.clone(),
        timeout_ms: plan.timeout.as_millis() as u64,
        addr: Some(plan.addr),
        rate: plan.pacing.as_ref().map(|p| AskedRate {
            requests_per_sec: p.rate,
            arrivals: p.arrivals,
            seed: p.seed,
        }),
        latency: plan.latency,
        u_latency: plan.u_latency,
        script: plan.load.script.as_ref().map(|s| s.name.clone()),
        requests_file: plan.load.requests_file.as_ref().map(|r| r.name.clone()),
        tls: plan.tls.as_ref().map(|_| plan.load.tls.clone()),
    }
}

/// A merged run's configuration: the plan file's load (every node together),
/// on `threads` threads in all, with the merge's own display flags. No address:
/// each node resolved its own.
pub fn of_load(load: &Load, threads: usize, latency: bool, u_latency: bool) -> Config {
    let urls: Vec<String> = load.urls.iter().map(|u| crate::redact::url(u)).collect();
    Config {
        url: urls.first().cloned().unwrap_or_default(),
        urls,
        method: load.method.clone(),
        threads,
        connections: load.connections,
        duration_s: load.duration.map(|d| d.as_secs_f64()),
        requests: load.requests,
        pipeline: load.pipeline,
        pipeline_mode: load.pipeline_mode,
        source_ips: Vec::new(),
        timeout_ms: load.timeout.as_millis() as u64,
        addr: None,
        rate: load.rate.map(|r| AskedRate {
            requests_per_sec: r,
            arrivals: load.arrivals,
            seed: load.seed,
        }),
        latency,
        u_latency,
        script: load.script.as_ref().map(|s| s.name.clone()),
        requests_file: load.requests_file.as_ref().map(|r| r.name.clone()),
        tls: load
            .urls
            .first()
            .filter(|u| u.starts_with("https://"))
            .map(|_| load.tls.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::of_load;

    /// A merge's configuration masks what a plan file carries, by the one
    /// rule of `redact::url`.
    #[test]
    fn a_merge_masks_the_urls_of_its_plan() {
        let load = crate::load::Load {
            urls: vec![
                "http://user:pw@127.0.0.1:80/auth".into(),
                "http://tok@127.0.0.1:80/".into(),
                "http://127.0.0.1:80/a@b".into(),
            ],
            ..crate::distributed::tests::load()
        };
        let c = of_load(&load, 1, false, false);
        assert_eq!(
            c.urls,
            [
                "http://user:***@127.0.0.1:80/auth",
                "http://***@127.0.0.1:80/",
                "http://127.0.0.1:80/a@b"
            ]
        );
        assert_eq!(c.url, c.urls[0]);
    }
}
