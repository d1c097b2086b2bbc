//! The comparison as text, Markdown, CSV and HTML. Every figure is formatted once,
//! into the cells of [`summary_table`] and [`target_table`]; each format lays out
//! those same cells, so the summary and the details cannot disagree.

use super::{CompareReport, Level, TargetSummary};
use crate::campaign::stats::{self, times};
use crate::report::text::time_us;
use std::fmt::Write as _;

/// A table's header and rows, every cell already formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns padded to their widest cell, two spaces apart, right-aligned.
    fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.head.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.head[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let cols: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            cols.join("  ").trim_end().to_string() + "\n"
        };
        let mut s = line(&self.head);
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }

    fn markdown(&self) -> String {
        let mut s = format!(
            "| {} |\n|{}\n",
            self.head.join(" | "),
            "---|".repeat(self.head.len())
        );
        for r in &self.rows {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        s
    }

    fn html(&self) -> String {
        use crate::report::html::escape;
        let mut s = String::from("<table><tr>");
        for h in &self.head {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr>");
        for r in &self.rows {
            s.push_str("<tr>");
            for c in r {
                let _ = write!(s, "<td>{}</td>", escape(c));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
        s
    }
}

/// Whether any target's server was sampled (the CPU and memory columns).
fn sampled(r: &CompareReport) -> bool {
    r.targets.iter().any(|t| t.server_pid.is_some())
}

/// The cells each figure is shown as, in the summary and the details alike.
pub fn rps_cell(t: &TargetSummary) -> String {
    format!("{:.0}", t.median_rps)
}

pub fn error_cell(t: &TargetSummary) -> String {
    format!("{:.2}%", t.error_pct)
}

/// Each class that occurred, as a share of the attempts: "timeout 1.20%, 5xx 0.10%".
pub fn classes_cell(t: &TargetSummary) -> String {
    let v: Vec<String> = t
        .error_classes
        .nonzero()
        .into_iter()
        .map(|(c, n)| format!("{c} {:.2}%", 100.0 * n as f64 / t.attempts.max(1) as f64))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A latency, or n/a where no request completed (nothing was measured).
fn lat(us: Option<f64>) -> String {
    us.map_or_else(|| "n/a".into(), time_us)
}

fn server_cells(t: &TargetSummary) -> [String; 4] {
    match &t.server {
        Some(u) => [
            format!("{:.1}%", u.avg_cpu_pct),
            format!("{:.1}%", u.peak_cpu_pct),
            format!("{:.1}", u.avg_rss_mib),
            format!("{:.1}", u.peak_rss_mib),
        ],
        None => ["n/a".into(), "n/a".into(), "n/a".into(), "n/a".into()],
    }
}

fn winner_cell(l: &Level) -> String {
    l.winner.clone().unwrap_or_else(|| "none".into())
}

pub(super) fn ratio_text(t: &TargetSummary) -> String {
    if let Some(why) = &t.vs_baseline_na {
        return format!("n/a ({why})");
    }
    let Some(r) = t.vs_baseline else {
        return "baseline".into();
    };
    let Some(x) = r.ratio else {
        return "n/a (no throughput to compare)".into();
    };
    match (r.low, r.high, r.within_noise) {
        (Some(lo), Some(hi), Some(true)) => format!("{x:.3}x [{lo:.3}, {hi:.3}]: within noise"),
        // The interval in the same direction as the words.
        (Some(lo), Some(hi), _) if x >= 1.0 => format!("{} [{lo:.2}, {hi:.2}]", times(x)),
        (Some(lo), Some(hi), _) => format!("{} [{:.2}, {:.2}]", times(x), 1.0 / hi, 1.0 / lo),
        _ => format!("{}: no noise estimate ({} round)", times(x), r.rounds),
    }
}

/// One row per level, a column group per target (requests/s, error %, mean, p95,
/// p99, and the server's CPU average and memory average and peak when sampled),
/// and the winner.
pub fn summary_table(r: &CompareReport) -> Table {
    let server = sampled(r);
    let mut head = vec!["Connections".to_string()];
    for t in &r.targets {
        let n = &t.name;
        head.extend([
            format!("{n} req/s"),
            format!("{n} err %"),
            format!("{n} mean"),
            format!("{n} p95"),
            format!("{n} p99"),
        ]);
        if server {
            head.extend([
                format!("{n} CPU avg"),
                format!("{n} MiB avg"),
                format!("{n} MiB peak"),
            ]);
        }
    }
    head.push("Winner".into());
    let rows = r
        .levels
        .iter()
        .map(|l| {
            let mut row = vec![l.connections.to_string()];
            for t in &l.targets {
                row.extend([
                    rps_cell(t),
                    error_cell(t),
                    lat(t.mean_us),
                    lat(t.p95_us.map(|v| v as f64)),
                    lat(t.p99_us.map(|v| v as f64)),
                ]);
                if server {
                    let [cpu, _, mib, mib_peak] = server_cells(t);
                    row.extend([cpu, mib, mib_peak]);
                }
            }
            row.push(winner_cell(l));
            row
        })
        .collect();
    Table { head, rows }
}

/// The summary's cells with a row per level and target, for a terminal: the same
/// cells as [`summary_table`], regrouped (its column groups side by side are too
/// wide for one).
pub fn summary_long(r: &CompareReport) -> Table {
    let wide = summary_table(r);
    let n = r.targets.len();
    let group = (wide.head.len() - 2) / n.max(1);
    let mut head = vec!["Connections".to_string(), "target".to_string()];
    // "NAME req/s" -> "req/s".
    let first = &r.targets[0].name;
    head.extend(
        wide.head[1..1 + group]
            .iter()
            .map(|h| h[first.len() + 1..].to_string()),
    );
    head.push("winner".into());
    let mut rows = Vec::new();
    for row in &wide.rows {
        let winner = row.last().cloned().unwrap_or_default();
        for (i, t) in r.targets.iter().enumerate() {
            let mut v = vec![
                if i == 0 {
                    row[0].clone()
                } else {
                    String::new()
                },
                t.name.clone(),
            ];
            v.extend(row[1 + i * group..1 + (i + 1) * group].iter().cloned());
            v.push(if winner == t.name {
                "yes".into()
            } else {
                "no".into()
            });
            rows.push(v);
        }
    }
    Table { head, rows }
}

/// Target `i` at every level: a row per level with every figure.
pub fn target_table(r: &CompareReport, i: usize) -> Table {
    let server = sampled(r);
    let mut head: Vec<String> = [
        "Connections",
        "req/s",
        "min",
        "max",
        "mean ± 95%",
        "err %",
        "errors by class",
        "mean",
        "p50",
        "p95",
        "p99",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    if server {
        head.extend(["CPU avg", "CPU peak", "MiB avg", "MiB peak"].map(String::from));
    }
    head.extend([
        format!("vs {}", r.baseline),
        "limits".into(),
        "winner".into(),
    ]);
    let rows = r
        .levels
        .iter()
        .map(|l| {
            let t = &l.targets[i];
            let mut row = vec![
                l.connections.to_string(),
                rps_cell(t),
                format!("{:.0}", t.min_rps),
                format!("{:.0}", t.max_rps),
                stats::mean_text(Some(t.mean_rps), t.ci95_rps),
                error_cell(t),
                classes_cell(t),
                lat(t.mean_us),
                lat(t.p50_us.map(|v| v as f64)),
                lat(t.p95_us.map(|v| v as f64)),
                lat(t.p99_us.map(|v| v as f64)),
            ];
            if server {
                row.extend(server_cells(t));
            }
            row.push(ratio_text(t));
            row.push(if t.failures.is_empty() {
                "met".into()
            } else {
                t.failures.join("; ")
            });
            row.push(if l.winner.as_deref() == Some(&t.name) {
                "yes".into()
            } else {
                "no".into()
            });
            row
        })
        .collect();
    Table { head, rows }
}

/// "1 connection", "40 connections".
fn conns(n: usize) -> String {
    if n == 1 {
        "1 connection".into()
    } else {
        format!("{n} connections")
    }
}

/// "NAME: breaking point at 40 connections (why)" / "NAME: no breaking point up to 40 connections".
fn breaking_lines(r: &CompareReport) -> Vec<String> {
    let last = r.levels.last().map_or(0, |l| l.connections);
    r.targets
        .iter()
        .map(|t| match &t.breaking_point {
            Some(b) => format!(
                "{}: breaking point at {} ({})",
                t.name,
                conns(b.connections),
                b.reasons.join(", ")
            ),
            None => format!("{}: no breaking point up to {}", t.name, conns(last)),
        })
        .collect()
}

/// What was sampled of target `i`'s server, for its section's header.
fn server_line(r: &CompareReport, i: usize) -> String {
    let t = &r.targets[i];
    let Some(pid) = t.server_pid else {
        return "server not sampled (no --server-pid)".into();
    };
    let usage = r.levels.iter().find_map(|l| l.targets[i].server.as_ref());
    let mut s = format!(
        "server PID {pid} and its child processes, sampled every {} ms; CPU in % of one CPU",
        r.sample_every_ms
    );
    if let Some(u) = usage {
        let _ = write!(
            s,
            ", the server may use {}; up to {} processes",
            u.cpus_text(),
            r.levels
                .iter()
                .filter_map(|l| l.targets[i].server.as_ref())
                .map(|u| u.processes)
                .max()
                .unwrap_or(0)
        );
    }
    s
}

fn commands(r: &CompareReport) -> Vec<String> {
    r.levels
        .iter()
        .flat_map(|l| l.targets.iter())
        .filter_map(|t| t.runs.first().map(|run| run.meta.command_line.clone()))
        .fold(Vec::new(), |mut v, c| {
            if !v.contains(&c) {
                v.push(c);
            }
            v
        })
}

const NOTES: &str = "Requests/s is the median of the rounds (mean ± the 95% interval of the mean in the details); error % counts request errors, connect and TLS handshake errors and responses outside 2xx/3xx against requests sent plus connect and TLS handshake errors; latency is the median of the rounds' own figures; MiB is the resident memory (RSS) summed over the server's processes.";

pub fn render_text(r: &CompareReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(
        s,
        "ceiling compare: {}, interleaved; {} ({} CPUs, {}), {}",
        super::super::rounds(r.repeats),
        m.kernel,
        m.nproc,
        m.cpu_model,
        m.engine.describe()
    );
    let _ = writeln!(s, "\nSummary");
    s.push_str(&summary_long(r).text());
    let _ = writeln!(s, "{}", r.rule);
    for l in &r.levels {
        let _ = writeln!(s, "  {}: {}", conns(l.connections), l.verdict);
    }
    for line in breaking_lines(r) {
        let _ = writeln!(s, "{line}");
    }
    for (i, t) in r.targets.iter().enumerate() {
        let _ = writeln!(s, "\n{} {}: {}", t.name, t.url, server_line(r, i));
        s.push_str(&target_table(r, i).text());
    }
    if r.interrupted {
        let _ = writeln!(s, "\ninterrupted: the levels measured so far");
    }
    let _ = writeln!(s, "\n{NOTES}\ncommands:");
    for c in commands(r) {
        let _ = writeln!(s, "  {c}");
    }
    s
}

/// The summary table, the rule and the verdicts, the breaking points, then a
/// section per target with its levels.
pub fn render_markdown(r: &CompareReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# Comparison\n");
    let _ = writeln!(
        s,
        "{} · {} CPUs ({}) · {} · {}, interleaved · {}\n",
        m.kernel,
        m.nproc,
        m.cpu_model,
        m.engine.describe(),
        super::super::rounds(r.repeats),
        m.started_at
    );
    let _ = writeln!(s, "## Summary\n\n{}", summary_table(r).markdown());
    let _ = writeln!(s, "{}\n", r.rule);
    for l in &r.levels {
        let _ = writeln!(s, "- {}: {}", conns(l.connections), l.verdict);
    }
    s.push('\n');
    for line in breaking_lines(r) {
        let _ = writeln!(s, "- {line}");
    }
    for (i, t) in r.targets.iter().enumerate() {
        let _ = write!(
            s,
            "\n## {}\n\n{} · {}\n\n{}",
            t.name,
            t.url,
            server_line(r, i),
            target_table(r, i).markdown()
        );
    }
    if r.interrupted {
        let _ = writeln!(s, "\n**Interrupted: the levels measured so far.**");
    }
    let _ = writeln!(s, "\n{NOTES}\n\nCommands:\n");
    for c in commands(r) {
        let _ = writeln!(s, "- `{c}`");
    }
    s
}

/// One row per level and target, in plain units (µs, %, MiB) for spreadsheets.
pub fn render_csv(r: &CompareReport) -> String {
    let mut s = String::from(
        "connections,target,url,rounds,median_rps,min_rps,max_rps,mean_rps,ci95_rps,errors,attempts,error_pct,connect,tls_handshake,read,write,timeout,invalid,tls,status_4xx,status_5xx,status_other,mean_us,p50_us,p95_us,p99_us,server_cpu_avg_pct,server_cpu_peak_pct,server_cpus,server_rss_avg_mib,server_rss_peak_mib,passed,winner\n",
    );
    let opt = |v: Option<String>| v.unwrap_or_default();
    for l in &r.levels {
        for t in &l.targets {
            let u = t.server.as_ref();
            let e = &t.error_classes;
            let _ = writeln!(
                s,
                "{},{},{},{},{:.2},{:.2},{:.2},{:.2},{},{},{},{:.4},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                l.connections,
                t.name,
                t.url,
                t.rps.len(),
                t.median_rps,
                t.min_rps,
                t.max_rps,
                t.mean_rps,
                opt(t.ci95_rps.map(|c| format!("{c:.2}"))),
                t.errors,
                t.attempts,
                t.error_pct,
                e.connect,
                e.tls_handshake,
                e.read,
                e.write,
                e.timeout,
                e.invalid,
                e.tls,
                e.status_4xx,
                e.status_5xx,
                e.status_other,
                opt(t.mean_us.map(|v| format!("{v:.2}"))),
                opt(t.p50_us.map(|v| v.to_string())),
                opt(t.p95_us.map(|v| v.to_string())),
                opt(t.p99_us.map(|v| v.to_string())),
                opt(u.map(|u| format!("{:.2}", u.avg_cpu_pct))),
                opt(u.map(|u| format!("{:.2}", u.peak_cpu_pct))),
                opt(u.map(|u| format!("{}", u.cpus))),
                opt(u.map(|u| format!("{:.2}", u.avg_rss_mib))),
                opt(u.map(|u| format!("{:.2}", u.peak_rss_mib))),
                t.failures.is_empty(),
                l.winner.as_deref() == Some(&t.name)
            );
        }
    }
    s
}

/// The same tables as HTML, then charts against the connections: requests/s,
/// p99, and the servers' CPU and memory when sampled.
pub fn render_html(r: &CompareReport) -> String {
    use crate::report::html::{escape, page, xy_chart};
    let series = |f: &dyn Fn(&TargetSummary) -> Option<f64>| -> Vec<(String, Vec<(f64, f64)>)> {
        r.targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let pts = r
                    .levels
                    .iter()
                    .filter_map(|l| f(&l.targets[i]).map(|y| (l.connections as f64, y)))
                    .collect();
                (t.name.clone(), pts)
            })
            .collect()
    };
    let m = &r.meta;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{} · {} CPUs ({}) · {} · {}, interleaved · {}</p><h2>Summary</h2>{}<p>{}</p><ul>",
        escape(&m.kernel),
        m.nproc,
        escape(&m.cpu_model),
        escape(&m.engine.describe()),
        super::super::rounds(r.repeats),
        escape(&m.started_at),
        summary_table(r).html(),
        escape(&r.rule)
    );
    for l in &r.levels {
        let _ = write!(
            body,
            "<li>{}: {}</li>",
            conns(l.connections),
            escape(&l.verdict)
        );
    }
    for line in breaking_lines(r) {
        let _ = write!(body, "<li>{}</li>", escape(&line));
    }
    body.push_str("</ul>");
    for (i, t) in r.targets.iter().enumerate() {
        let _ = write!(
            body,
            "<h2>{}</h2><p>{} · {}</p>{}",
            escape(&t.name),
            escape(&t.url),
            escape(&server_line(r, i)),
            target_table(r, i).html()
        );
    }
    let _ = write!(
        body,
        "<h2>Requests/s (median of the rounds)</h2>{}<h2>p99 latency (ms)</h2>{}",
        xy_chart(
            "connections",
            "requests/s",
            &series(&|t| Some(t.median_rps))
        ),
        xy_chart(
            "connections",
            "p99 (ms)",
            &series(&|t| t.p99_us.map(|v| v as f64 / 1000.0))
        )
    );
    if sampled(r) {
        let _ = write!(
            body,
            "<h2>Server CPU (average, % of one CPU)</h2>{}<h2>Server memory (average RSS, MiB)</h2>{}",
            xy_chart(
                "connections",
                "CPU %",
                &series(&|t| t.server.as_ref().map(|u| u.avg_cpu_pct))
            ),
            xy_chart(
                "connections",
                "MiB",
                &series(&|t| t.server.as_ref().map(|u| u.avg_rss_mib))
            )
        );
    }
    let _ = write!(body, "<p>{}</p>", escape(NOTES));
    page("ceiling compare", &body)
}
