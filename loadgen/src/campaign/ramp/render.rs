//! The ramp's table as text, Markdown and CSV. Every figure comes from the report,
//! formatted the same way in each, so the three can be checked against the JSON.

use super::{Mode, RampReport, Step};
use crate::report::text::time_us;
use std::fmt::Write as _;

fn level_header(mode: Mode) -> &'static str {
    match mode {
        Mode::Connections => "connections",
        Mode::Rate | Mode::RateSearch => "asked req/s",
    }
}

/// The cells of one row, shared by the text and Markdown tables.
fn cells(r: &RampReport, st: &Step) -> Vec<String> {
    let mut v = vec![
        st.step.to_string(),
        st.level.to_string(),
        format!("{:.0}", st.requests_per_sec),
        st.errors.to_string(),
        format!("{:.2}%", st.error_pct),
        st.avg_us.map_or("n/a".into(), time_us),
        st.p50_us.map_or("n/a".into(), |v| time_us(v as f64)),
        st.p95_us.map_or("n/a".into(), |v| time_us(v as f64)),
        st.p99_us.map_or("n/a".into(), |v| time_us(v as f64)),
    ];
    if r.config.mode != Mode::Connections {
        v.push(st.achieved_pct.map_or("n/a".into(), |a| format!("{a:.1}%")));
    }
    if !r.config.server_pids.is_empty() {
        match &st.server {
            Some(u) => v.extend([
                format!("{:.1}%", u.avg_cpu_pct),
                format!("{:.1}%", u.peak_cpu_pct),
                format!("{:.1}", u.avg_rss_mib),
                format!("{:.1}", u.peak_rss_mib),
            ]),
            None => v.extend(vec!["n/a".to_string(); 4]),
        }
    }
    if r.config.mode == Mode::RateSearch {
        v.push(if st.failures.is_empty() {
            "pass".into()
        } else {
            format!("fail: {}", st.failures.join(", "))
        });
    }
    v
}

fn headers(r: &RampReport) -> Vec<&'static str> {
    let mut v = vec![
        "step",
        level_header(r.config.mode),
        "req/s",
        "errors",
        "error %",
        "avg",
        "p50",
        "p95",
        "p99",
    ];
    if r.config.mode != Mode::Connections {
        v.push("sent");
    }
    if !r.config.server_pids.is_empty() {
        v.extend(["srv CPU avg", "srv CPU peak", "srv MiB avg", "srv MiB peak"]);
    }
    if r.config.mode == Mode::RateSearch {
        v.push("result");
    }
    v
}

/// What the ramp varied, in words, for the header lines.
fn describe(r: &RampReport) -> String {
    let c = &r.config;
    let what = match c.mode {
        Mode::Connections => "concurrency ramp".to_string(),
        Mode::Rate => format!(
            "rate ramp over {} connections, latency corrected",
            c.connections.unwrap_or(0)
        ),
        Mode::RateSearch => format!(
            "rate search from {} to {} req/s over {} connections, latency corrected",
            c.search_from.unwrap_or(0),
            c.search_to.unwrap_or(0),
            c.connections.unwrap_or(0)
        ),
    };
    let slo = c
        .slo
        .as_ref()
        .map_or(String::new(), |s| format!(", SLO {}", s.text));
    let pids = if c.server_pids.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = c.server_pids.iter().map(i32::to_string).collect();
        let cpus = r
            .steps
            .iter()
            .find_map(|st| st.server.as_ref())
            .map_or(String::new(), |u| {
                format!(", the server may use {}", u.cpus_text())
            });
        format!(
            ", server PID {} and its child processes sampled every 200 ms (CPU in % of one CPU{cpus})",
            list.join("+")
        )
    };
    format!(
        "{what}, {} per step, error budget {}%{slo}{pids}",
        c.step_duration, c.max_errors_pct
    )
}

/// The table as text: a header line with the machine facts, the rows, the
/// conclusion, and each step's exact command.
pub fn render_text(r: &RampReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(
        s,
        "ceiling ramp {}: {}; {} ({} CPUs, {}), {}",
        r.config.url,
        describe(r),
        m.kernel,
        m.nproc,
        m.cpu_model,
        m.engine.describe()
    );
    let head = headers(r);
    let rows: Vec<Vec<String>> = r.steps.iter().map(|st| cells(r, st)).collect();
    // Each column as wide as its widest cell; the last (a search's result) is left as is.
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cols: &[String]| {
        let mut out = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            if r.config.mode == Mode::RateSearch && i + 1 == cols.len() {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:>w$}", w = widths[i]);
            }
        }
        out.trim_end().to_string()
    };
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    let _ = writeln!(s, "{}", line(&head));
    for row in &rows {
        let _ = writeln!(s, "{}", line(row));
    }
    let _ = writeln!(s, "{}", r.summary);
    let _ = writeln!(s, "commands:");
    for st in &r.steps {
        let _ = writeln!(s, "  {}: {}{}", st.step, st.command, cut_short(st));
    }
    s
}

/// After a step's command: how long it really ran when Ctrl-C cut it short
/// (its `-d` is what was asked, not what ran); empty otherwise.
fn cut_short(st: &Step) -> String {
    if st.result.interrupted {
        format!(" (interrupted after {:.2}s)", st.result.duration_s)
    } else {
        String::new()
    }
}

/// The table as Markdown, laid out like the published ramp reports.
pub fn render_markdown(r: &RampReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# Ramp: {}\n", r.config.url);
    let _ = writeln!(
        s,
        "{} · {} CPUs ({}) · {} · {} · {}\n",
        m.kernel,
        m.nproc,
        m.cpu_model,
        m.engine.describe(),
        describe(r),
        m.started_at
    );
    let head = headers(r);
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for st in &r.steps {
        let _ = writeln!(s, "| {} |", cells(r, st).join(" | "));
    }
    let _ = writeln!(s, "\n**{}**\n", r.summary);
    let _ = writeln!(
        s,
        "Error % counts request errors, connect and TLS handshake errors and responses outside 2xx/3xx against requests sent plus connect and TLS handshake errors.\n"
    );
    let _ = writeln!(s, "Commands:\n");
    for st in &r.steps {
        let _ = writeln!(s, "{}. `{}`{}", st.step, st.command, cut_short(st));
    }
    s
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One header row and one row per step, in plain units (µs, %, MiB) for spreadsheets.
pub fn render_csv(r: &RampReport) -> String {
    let mut s = String::from(
        "step,mode,level,connections,threads,requests_per_sec,errors,error_pct,avg_us,p50_us,p95_us,p99_us,slo_value_us,achieved_pct,server_cpu_avg_pct,server_cpu_peak_pct,server_rss_avg_mib,server_rss_peak_mib,passed,command\n",
    );
    let opt = |v: Option<String>| v.unwrap_or_default();
    for st in &r.steps {
        let u = st.server.as_ref();
        let mode = match r.config.mode {
            Mode::Connections => "connections",
            Mode::Rate => "rate",
            Mode::RateSearch => "rate_search",
        };
        let _ = writeln!(
            s,
            "{},{mode},{},{},{},{:.2},{},{:.4},{},{},{},{},{},{},{},{},{},{},{},{}",
            st.step,
            st.level,
            st.connections,
            st.threads,
            st.requests_per_sec,
            st.errors,
            st.error_pct,
            opt(st.avg_us.map(|v| format!("{v:.2}"))),
            opt(st.p50_us.map(|v| v.to_string())),
            opt(st.p95_us.map(|v| v.to_string())),
            opt(st.p99_us.map(|v| v.to_string())),
            opt(st.slo_value_us.map(|v| v.to_string())),
            opt(st.achieved_pct.map(|a| format!("{a:.2}"))),
            opt(u.map(|u| format!("{:.2}", u.avg_cpu_pct))),
            opt(u.map(|u| format!("{:.2}", u.peak_cpu_pct))),
            opt(u.map(|u| format!("{:.2}", u.avg_rss_mib))),
            opt(u.map(|u| format!("{:.2}", u.peak_rss_mib))),
            st.failures.is_empty(),
            field(&st.command)
        );
    }
    s
}

/// The page: the summary, the steps as an HTML table, and charts against the
/// level: requests/s, latency (p50, p95, p99; log axis when the tail is wide),
/// error %, and the servers' CPU when sampled. Points are in level order (a
/// rate search's probes as well, whatever order they ran in); a search marks
/// its SLO limit and the capacity it found.
pub fn render_html(r: &RampReport) -> String {
    use crate::report::html::{
        escape, page, table, warnings, xy_chart, xy_chart_with, Mark, YScale,
    };
    let x = level_header(r.config.mode);
    let pts = |f: &dyn Fn(&Step) -> f64| -> Vec<(f64, f64)> {
        r.steps.iter().map(|st| (st.level as f64, f(st))).collect()
    };
    // Latency points of the steps that measured one (nothing completed: no point).
    let lat = |f: &dyn Fn(&Step) -> Option<u64>| -> Vec<(f64, f64)> {
        r.steps
            .iter()
            .filter_map(|st| Some((st.level as f64, f(st)? as f64 / 1000.0)))
            .collect()
    };
    let mut body = String::new();
    let _ = write!(body, "<p>{}</p>", escape(&describe(r)));
    let _ = write!(body, "<p class=\"note\">{}</p>", escape(&r.summary));
    if r.interrupted {
        body.push_str(&warnings(&[
            "Ctrl-C ended the ramp early: the steps below are the ones that ran".into(),
        ]));
    }
    let rows: Vec<Vec<String>> = r.steps.iter().map(|st| cells(r, st)).collect();
    body.push_str(&table(&headers(r), &rows));
    let capacity = r
        .capacity
        .as_ref()
        .and_then(|c| c.rate)
        .filter(|_| r.config.mode == Mode::RateSearch)
        .map(|rate| Mark::X(format!("capacity found: {rate} req/s"), rate as f64));
    let _ = write!(
        body,
        "<h2>Throughput</h2>{}",
        xy_chart_with(
            x,
            "requests/s",
            &[("requests/s".into(), pts(&|s| s.requests_per_sec))],
            YScale::Linear,
            capacity.as_slice(),
        )
    );
    let mut marks: Vec<Mark> = Vec::new();
    let mut latency = vec![
        ("p50".to_string(), lat(&|s| s.p50_us)),
        ("p95".to_string(), lat(&|s| s.p95_us)),
        ("p99".to_string(), lat(&|s| s.p99_us)),
    ];
    if let Some(slo) = &r.config.slo {
        marks.push(Mark::Y(
            format!("SLO: {}", slo.text),
            slo.limit_us as f64 / 1000.0,
        ));
        // The SLO's own percentile, when it is not one drawn already.
        if ![50.0, 95.0, 99.0].contains(&slo.percentile) {
            latency.push((
                format!("p{}", slo.percentile),
                r.steps
                    .iter()
                    .filter_map(|st| Some((st.level as f64, st.slo_value_us? as f64 / 1000.0)))
                    .collect(),
            ));
        }
    }
    marks.extend(capacity);
    let _ = write!(
        body,
        "<h2>Latency</h2>{}",
        xy_chart_with(x, "latency (ms)", &latency, YScale::LogWhenWide, &marks)
    );
    if r.steps.iter().all(|s| s.errors == 0) {
        body.push_str("<h2>Errors</h2><p>No errors at any level.</p>");
    } else {
        let _ = write!(
            body,
            "<h2>Errors</h2>{}",
            xy_chart(x, "error %", &[("error %".into(), pts(&|s| s.error_pct))])
        );
    }
    if r.steps.iter().any(|s| s.server.is_some()) {
        let cpu = |f: &dyn Fn(&super::ServerUsage) -> f64| {
            r.steps
                .iter()
                .filter_map(|st| st.server.as_ref().map(|u| (st.level as f64, f(u))))
                .collect::<Vec<_>>()
        };
        let _ = write!(
            body,
            "<h2>Server CPU</h2>{}",
            xy_chart(
                x,
                "CPU % of one core",
                &[
                    ("average".into(), cpu(&|u| u.avg_cpu_pct)),
                    ("peak".into(), cpu(&|u| u.peak_cpu_pct)),
                ]
            )
        );
    }
    page("ceiling ramp", &body)
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(field("ceiling -c 2 http://h/"), "ceiling -c 2 http://h/");
        assert_eq!(field("-H a,b"), "\"-H a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
