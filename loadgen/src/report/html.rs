//! One self-contained HTML page for a run: the summary, and SVG charts drawn with
//! plotters (latency by percentile on HdrHistogram's log scale, throughput and
//! errors over time, p50/p99 over time). No scripts, no external files.

use crate::result::RunResult;
use plotters::prelude::*;
use shared::stats::codec::decode_base64;
use std::fmt::Write as _;

const W: u32 = 860;
const H: u32 = 340;

/// The page's style, shared by every page: tables, the warning box, the
/// legends under the charts, wide text scrolled rather than cut.
const STYLE: &str = "body{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}\
code{background:#f3f3f3;padding:1px 4px;overflow-wrap:anywhere}pre{overflow-x:auto;background:#f8f8f8;padding:.5em}\
.warn{border:2px solid #d97706;background:#fff7e6;padding:.4em 1em;margin:1em 0}.warn h2{margin:.2em 0;font-size:1.1em}\
.note{border-left:4px solid #2563eb;background:#eef4ff;padding:.4em 1em}\
.legend{margin:.2em 0 1.2em 0;font-size:.9em}.legend span{display:inline-block;margin-right:1.4em}\
.legend i{display:inline-block;width:18px;height:4px;margin-right:6px;vertical-align:middle}\
svg{max-width:100%;height:auto}";

/// The page of one run (or a merge): the summary as tables, its warnings in a
/// box, a table per node for a merge, and the charts.
pub fn render(r: &RunResult) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = write!(
        s,
        "<p><code>{}</code><br>{} · {} CPUs ({}) · {} · {}</p>",
        escape(&m.command_line),
        escape(&m.kernel),
        m.nproc,
        escape(&m.cpu_model),
        escape(&m.engine.describe()),
        escape(&m.started_at)
    );
    let mut warned = r.warnings.clone();
    if r.partial {
        warned.insert(
            0,
            "PARTIAL: nodes or parts of them are missing; the figures cover only what is here"
                .into(),
        );
    }
    s.push_str(&warnings(&warned));
    let c = &r.counters;
    let na = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("n/a".to_string(), f);
    let mut head = vec![
        "requests/s",
        "completed",
        "sent",
        "errors: read",
        "write",
        "timeout",
        "invalid",
        "connect",
    ];
    let mut row = vec![
        format!("{:.2}", r.requests_per_sec),
        c.completed.to_string(),
        c.sent.to_string(),
        c.errors.read.to_string(),
        c.errors.write.to_string(),
        c.errors.timeout.to_string(),
        c.errors.invalid.to_string(),
        c.errors.connect.to_string(),
    ];
    // The TLS classes beside the socket ones, for https runs (and any result
    // that counted them): handshakes that failed, requests lost after one.
    if r.tls.is_some() || c.errors.tls + c.errors.tls_handshake > 0 {
        head.extend(["tls handshake", "tls"]);
        row.extend([c.errors.tls_handshake.to_string(), c.errors.tls.to_string()]);
    }
    head.extend(["non-2xx/3xx", "duration"]);
    row.extend([
        c.status.non_2xx_3xx().to_string(),
        format!("{:.2}s", r.duration_s),
    ]);
    s.push_str(&table(&head, &[row]));
    let l = &r.latency;
    let measured = l.count > 0;
    let time = |v: f64| crate::report::text::time_us(v);
    if let Some(t) = &r.tls {
        s.push_str(&tls_tables(t, &time));
    }
    s.push_str(&table(
        &["latency", "avg", "stdev", "max"],
        &[vec![
            "all responses".into(),
            na(measured.then_some(l.mean), &time),
            na(measured.then_some(l.stdev), &time),
            na(measured.then_some(l.max as f64), &time),
        ]],
    ));
    if !l.percentiles.is_empty() {
        let head: Vec<String> = l
            .percentiles
            .iter()
            .map(|p| format!("p{}", p.percentile))
            .collect();
        let head: Vec<&str> = std::iter::once("percentile")
            .chain(head.iter().map(String::as_str))
            .collect();
        let row: Vec<String> = std::iter::once("latency".to_string())
            .chain(l.percentiles.iter().map(|p| time(p.value_us as f64)))
            .collect();
        s.push_str(&table(&head, &[row]));
    }
    if let Some(rate) = &r.rate {
        let _ = write!(
            s,
            "<p class=\"note\"><b>Rate</b>: {}</p>",
            escape(&rate.verdict)
        );
    }
    if !r.nodes.is_empty() {
        let rows: Vec<Vec<String>> = r
            .nodes
            .iter()
            .map(|n| {
                vec![
                    format!("{} ({})", n.index, n.hostname),
                    format!("{:.2}", n.requests_per_sec),
                    n.sent.to_string(),
                    n.completed.to_string(),
                    n.errors.to_string(),
                    n.achieved_pct.map_or("n/a".into(), |a| format!("{a:.1}%")),
                    format!("{:.0} ms", n.late_ms),
                    n.clock.clone(),
                    format!("{:.2}us", n.generator_us_per_request),
                    if n.complete { "yes" } else { "truncated" }.into(),
                ]
            })
            .collect();
        let _ = write!(
            s,
            "<h2>Nodes</h2>{}",
            table(
                &[
                    "node (host)",
                    "requests/s",
                    "sent",
                    "completed",
                    "errors",
                    "sent of scheduled",
                    "launched after T0",
                    "clock",
                    "gen CPU/req",
                    "file complete",
                ],
                &rows
            )
        );
    }

    let mut curves = vec![("latency".to_string(), r.latency.histogram.clone())];
    if let Some(rate) = &r.rate {
        curves[0].0 = "corrected (from intended send)".into();
        curves.push((
            "uncorrected (from actual send)".into(),
            rate.uncorrected_latency.histogram.clone(),
        ));
    }
    let _ = write!(
        s,
        "<h2>Latency by percentile</h2>{}",
        percentile_chart(&curves)
    );
    if !r.timeseries.is_empty() {
        let _ = write!(s, "<h2>Throughput over time</h2>{}", throughput_chart(r));
        let _ = write!(s, "<h2>Errors over time</h2>{}", errors_chart(r));
        let _ = write!(s, "<h2>Latency over time</h2>{}", latency_time_chart(r));
    }
    page(&format!("ceiling: {}", r.config.url), &s)
}

/// An https run's TLS table (what was negotiated, handshakes, their rate and
/// time) and, when any failed, its failures by cause (cells are escaped by
/// [`table`]).
fn tls_tables(t: &crate::result::TlsReport, time: &dyn Fn(f64) -> String) -> String {
    let h = &t.handshake_latency;
    let timed = |p: Option<u64>| p.map_or("n/a".to_string(), |v| time(v as f64));
    let done = h.count > 0;
    let n = t.negotiated.as_ref();
    let mut s = table(
        &[
            "TLS",
            "cipher suite",
            "ALPN",
            "handshakes",
            "resumed",
            "resumption",
            "handshakes/s",
            "handshake p50",
            "p99",
            "max",
        ],
        &[vec![
            n.map_or("no handshake completed".into(), |n| n.version.clone()),
            n.map_or("n/a".into(), |n| n.cipher_suite.clone()),
            n.map_or("n/a".into(), |n| {
                n.alpn.clone().unwrap_or_else(|| "none".into())
            }),
            t.handshakes.to_string(),
            t.resumed.to_string(),
            if t.resume { "on" } else { "off" }.into(),
            format!("{:.2}", t.handshakes_per_sec),
            timed(done.then(|| h.at(50.0))),
            timed(done.then(|| h.at(99.0))),
            timed(done.then_some(h.max)),
        ]],
    );
    if !t.failures.is_empty() {
        let rows: Vec<Vec<String>> = t
            .failures
            .iter()
            .map(|(cause, n)| vec![cause.clone(), n.to_string()])
            .collect();
        s.push_str(&table(&["TLS failure", "count"], &rows));
    }
    s
}

/// A page around `body` (the campaigns' reports use it too): one file, no
/// script, no external resource.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\
         <h1>{t}</h1>{body}</body></html>\n",
        t = escape(title)
    )
}

/// An HTML table: `head` as its header row, each of `rows` a row of cells
/// (text, escaped here).
pub fn table<S: AsRef<str>>(head: &[S], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", escape(h.as_ref()));
    }
    t.push_str("</tr>");
    for row in rows {
        t.push_str("<tr>");
        for c in row {
            let _ = write!(t, "<td>{}</td>", escape(c));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

/// The warnings in a visible box (nothing when there are none).
pub fn warnings(list: &[String]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut w = String::from("<div class=\"warn\"><h2>Warnings</h2><ul>");
    for item in list {
        let _ = write!(w, "<li>{}</li>", escape(item));
    }
    w.push_str("</ul></div>");
    w
}

/// A mark drawn across a chart: a horizontal line at `y` (a threshold: an SLO)
/// or a vertical line at `x` (a finding: a capacity), named in the legend.
#[derive(Debug, Clone)]
pub enum Mark {
    Y(String, f64),
    X(String, f64),
}

/// How an [`xy_chart_with`] draws its y axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YScale {
    Linear,
    /// Log10 when the positive values span two orders of magnitude or more
    /// (a latency tail far above the rest), else linear.
    LogWhenWide,
}

/// A line-and-point chart of several series against a numeric x (levels,
/// connections, rates), each series drawn in x order, on a linear y axis.
pub fn xy_chart(x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    xy_chart_with(x_desc, y_desc, series, YScale::Linear, &[])
}

/// [`xy_chart`] with a y scale and marks (an SLO line, a capacity marker).
/// Points are drawn in x order, whatever order they ran in. When no series
/// has two distinct x values (a campaign of one level), there is no line to
/// draw: the values are a bar chart, one bar per series.
pub fn xy_chart_with(
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    scale: YScale,
    marks: &[Mark],
) -> String {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .cloned()
        .collect();
    for (_, p) in &mut series {
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    if series.is_empty() {
        return svg_fallback();
    }
    let single = series.iter().all(|(_, p)| p.iter().all(|q| q.0 == p[0].0));
    if single {
        let bars: Vec<(String, f64)> = series
            .iter()
            .map(|(name, p)| (format!("{name} at {}", number(p[0].0)), p[0].1))
            .collect();
        return bar_chart(y_desc, &bars);
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    for m in marks {
        if let Mark::X(_, x) = m {
            lo = lo.min(*x);
            hi = hi.max(*x);
        }
    }
    let pad = (hi - lo) * 0.05;
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .chain(marks.iter().filter_map(|m| match m {
            Mark::Y(_, y) => Some(*y),
            Mark::X(..) => None,
        }))
        .collect();
    let axis = YAxis::new(&ys, scale);
    let integral_x = series
        .iter()
        .all(|(_, p)| p.iter().all(|q| q.0.fract() == 0.0));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(44)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d((lo - pad)..(hi + pad), axis.range())
        else {
            return svg_fallback();
        };
        let x_fmt = |x: &f64| {
            if integral_x {
                number(x.round())
            } else {
                format!("{x:.2}")
            }
        };
        let y_fmt = |y: &f64| axis.label(*y);
        let y_desc = if axis.log {
            format!("{y_desc}, log scale")
        } else {
            y_desc.to_string()
        };
        let _ = chart
            .configure_mesh()
            // Only the labelled grid lines: the minor ones crowd the data.
            .light_line_style(TRANSPARENT)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(8)
            .y_labels(axis.labels())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw();
        let placed: Vec<(String, Vec<(f64, f64)>)> = series
            .iter()
            .map(|(n, p)| {
                (
                    n.clone(),
                    p.iter().map(|&(x, y)| (x, axis.place(y))).collect(),
                )
            })
            .collect();
        draw_lines(&mut chart, &placed, true);
        for m in marks {
            let color = mark_color(m);
            let line = match m {
                Mark::Y(_, y) => vec![(lo - pad, axis.place(*y)), (hi + pad, axis.place(*y))],
                Mark::X(_, x) => vec![(*x, axis.range().start), (*x, axis.range().end)],
            };
            let _ = chart.draw_series(DashedLineSeries::new(line, 8, 5, color.stroke_width(2)));
        }
        let _ = root.present();
    }
    let mut names: Vec<(String, RGBAColor)> = series
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.clone(), series_color(i)))
        .collect();
    names.extend(marks.iter().map(|m| {
        let name = match m {
            Mark::Y(n, _) | Mark::X(n, _) => n.clone(),
        };
        (name, mark_color(m))
    }));
    svg + &legend(&names)
}

/// A number with thousands grouped by thin spaces when it is large: `20 000`.
fn number(x: f64) -> String {
    if x.fract() != 0.0 {
        return format!("{x}");
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 && digits.len() > 4 {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    if x < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A y axis: its range, where a value sits on it and how its ticks read.
/// Linear from 0 with ticks at a round step (an all-zero series gets 0..1, not
/// six ticks reading `0.00`), or log10 when asked and the values are wide.
struct YAxis {
    log: bool,
    top: f64,
    bottom: f64,
    step: f64,
}

impl YAxis {
    fn new(ys: &[f64], scale: YScale) -> Self {
        let max = ys.iter().copied().fold(0.0, f64::max);
        let min_pos = ys
            .iter()
            .copied()
            .filter(|&y| y > 0.0)
            .fold(f64::INFINITY, f64::min);
        if scale == YScale::LogWhenWide && min_pos.is_finite() && max / min_pos >= 100.0 {
            return Self {
                log: true,
                bottom: min_pos.log10().floor(),
                top: max.log10().ceil(),
                step: 1.0,
            };
        }
        let max = if max > 0.0 { max } else { 1.0 };
        // A round step (1, 2 or 5 times a power of ten) giving about five ticks.
        let raw = max / 5.0;
        let p = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * p)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * p);
        let top = (max / step).ceil() * step;
        Self {
            log: false,
            top: if top < max * 1.05 { top + step } else { top },
            bottom: 0.0,
            step,
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.bottom..self.top
    }

    /// Where `y` is drawn (its log10 on a log axis; a zero at the bottom).
    fn place(&self, y: f64) -> f64 {
        if self.log {
            if y > 0.0 {
                y.log10().max(self.bottom)
            } else {
                self.bottom
            }
        } else {
            y
        }
    }

    fn labels(&self) -> usize {
        ((self.top - self.bottom) / self.step).round() as usize + 1
    }

    fn label(&self, y: f64) -> String {
        if self.log {
            let v = 10f64.powf(y);
            return if v >= 1.0 {
                number(v.round())
            } else {
                format!("{v}")
            };
        }
        let decimals = if self.step >= 1.0 {
            0
        } else {
            (-self.step.log10()).ceil() as usize
        };
        if decimals == 0 {
            number(y.round())
        } else {
            format!("{y:.decimals$}")
        }
    }
}

/// A bar chart: one bar per label, with the value above it.
pub fn bar_chart(y_desc: &str, bars: &[(String, f64)]) -> String {
    if bars.is_empty() {
        return svg_fallback();
    }
    let ys: Vec<f64> = bars.iter().map(|b| b.1).collect();
    let axis = YAxis::new(&ys, YScale::Linear);
    let n = bars.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(44)
            .x_label_area_size(40)
            .y_label_area_size(80)
            // A segmented range 0..k holds k+1 segments.
            .build_cartesian_2d((0..(n - 1).max(1)).into_segmented(), axis.range())
        else {
            return svg_fallback();
        };
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                bars.get(*i).map_or(String::new(), |b| b.0.clone())
            }
            SegmentValue::Last => String::new(),
        };
        let y_fmt = |y: &f64| axis.label(*y);
        let _ = chart
            .configure_mesh()
            // Only the labelled grid lines: the minor ones crowd the data.
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label)
            .y_desc(y_desc)
            .y_labels(axis.labels())
            .y_label_formatter(&y_fmt)
            .draw();
        for (i, (_, v)) in bars.iter().enumerate() {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                series_color(i).filled(),
            );
            bar.set_margin(0, 0, 24, 24);
            let _ = chart.draw_series(std::iter::once(bar));
            let _ = chart.draw_series(std::iter::once(Text::new(
                if *v >= 100.0 {
                    number(v.round())
                } else {
                    format!("{v:.2}")
                },
                (SegmentValue::CenterOf(i), *v + axis.top * 0.04),
                ("sans-serif", 14).into_font(),
            )));
        }
        let _ = root.present();
    }
    svg
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The colour of series `i`, the same in the chart and its legend.
fn series_color(i: usize) -> RGBAColor {
    Palette99::pick(i).to_rgba()
}

/// The colour of a mark, by kind: a limit (a y line) black, a finding (an x
/// line) purple; neither is a series colour.
fn mark_color(m: &Mark) -> RGBAColor {
    match m {
        Mark::Y(..) => RGBColor(0x22, 0x22, 0x22).to_rgba(),
        Mark::X(..) => RGBColor(0x7b, 0x1f, 0xa2).to_rgba(),
    }
}

/// The legend, under the chart: never over the data.
fn legend(names: &[(String, RGBAColor)]) -> String {
    if names.len() < 2 {
        return String::new();
    }
    let mut l = String::from("<div class=\"legend\">");
    for (name, c) in names {
        let _ = write!(
            l,
            "<span><i style=\"background:#{:02x}{:02x}{:02x}\"></i>{}</span>",
            c.0,
            c.1,
            c.2,
            escape(name)
        );
    }
    l.push_str("</div>");
    l
}

/// Draws each series as a coloured line (with its points when `dots`).
fn draw_lines<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    series: &[(String, Vec<(f64, f64)>)],
    dots: bool,
) {
    for (i, (_, points)) in series.iter().enumerate() {
        let color = series_color(i);
        if dots {
            let _ = chart.draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            );
        }
        let _ = chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ));
    }
}

/// Escapes text for HTML.
pub fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// x = log10(1 / (1 - q)): 0 is p0, 1 is p90, 2 is p99, 3 is p99.9 ...
fn percentile_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = (x.round() as i32 - 2).max(0) as usize;
    format!("{q:.digits$}%")
}

/// Latency against percentile on HdrHistogram's log scale; the latency axis
/// is log10 too when the curves span two orders of magnitude (a slow target
/// beside the ceiling's rows), so no curve lies flat at 0.
pub fn percentile_chart(curves: &[(String, String)]) -> String {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut max_x: f64 = 2.0;
    for (name, encoded) in curves {
        let Ok(h) = decode_base64(encoded) else {
            continue;
        };
        if h.is_empty() {
            continue;
        }
        let mut points = Vec::new();
        for v in h.iter_quantiles(5) {
            let q = v.quantile_iterated_to();
            if q >= 1.0 {
                break;
            }
            let x = (1.0 / (1.0 - q)).log10();
            // µs: the axis labels it in wrk's units.
            let y = v.value_iterated_to() as f64;
            max_x = max_x.max(x);
            points.push((x, y));
        }
        series.push((name.clone(), points));
    }
    if series.is_empty() {
        return svg_fallback();
    }
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .collect();
    let axis = YAxis::new(&ys, YScale::LogWhenWide);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(44)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..max_x.ceil(), axis.range())
        else {
            return svg_fallback();
        };
        let y_fmt = |y: &f64| {
            let us = if axis.log { 10f64.powf(*y) } else { *y };
            crate::report::text::time_us(us)
        };
        let _ = chart
            .configure_mesh()
            // Only the labelled grid lines: the minor ones crowd the data.
            .light_line_style(TRANSPARENT)
            .x_labels(max_x.ceil() as usize + 1)
            .x_label_formatter(&percentile_label)
            .x_desc("percentile")
            .y_desc(if axis.log {
                "latency (log scale)"
            } else {
                "latency"
            })
            .y_labels(axis.labels())
            .y_label_formatter(&y_fmt)
            .draw();
        let placed: Vec<(String, Vec<(f64, f64)>)> = series
            .iter()
            .map(|(n, p)| {
                (
                    n.clone(),
                    p.iter().map(|&(x, y)| (x, axis.place(y))).collect(),
                )
            })
            .collect();
        draw_lines(&mut chart, &placed, false);
        let _ = root.present();
    }
    let names: Vec<(String, RGBAColor)> = series
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.clone(), series_color(i)))
        .collect();
    svg + &legend(&names)
}

/// Each point at mid-second.
fn at(p: &crate::result::TimePoint) -> f64 {
    p.second as f64 + p.length_s / 2.0
}

/// Requests/s per second of the run.
fn throughput_chart(r: &RunResult) -> String {
    xy_chart(
        "second",
        "requests/s",
        &[(
            "requests/s".into(),
            r.timeseries
                .iter()
                .map(|p| (at(p), p.requests_per_sec))
                .collect(),
        )],
    )
}

/// Errors/s per second of the run: its own chart, so a few errors are not
/// drawn flat under 50 000 requests/s (and none read as one tick at 0).
fn errors_chart(r: &RunResult) -> String {
    let per_sec = |p: &crate::result::TimePoint| p.errors as f64 / p.length_s.max(1e-9);
    if r.timeseries.iter().all(|p| p.errors == 0) {
        return "<p>No errors in any second.</p>".into();
    }
    xy_chart(
        "second",
        "errors/s",
        &[(
            "errors/s".into(),
            r.timeseries.iter().map(|p| (at(p), per_sec(p))).collect(),
        )],
    )
}

/// p50 and p99 of each second's completions (ms).
fn latency_time_chart(r: &RunResult) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    xy_chart_with(
        "second",
        "latency (ms)",
        &[
            (
                "p50".into(),
                // A second that completed nothing has no latency: no point.
                r.timeseries
                    .iter()
                    .filter_map(|p| Some((at(p), ms(p.p50_us?))))
                    .collect(),
            ),
            (
                "p99".into(),
                r.timeseries
                    .iter()
                    .filter_map(|p| Some((at(p), ms(p.p99_us?))))
                    .collect(),
            ),
        ],
        YScale::LogWhenWide,
        &[],
    )
}

fn svg_fallback() -> String {
    "<p>(chart unavailable)</p>".into()
}

/// What every page must be, checked by each page kind's test: one
/// self-contained file (no script, nothing fetched), tables as `<table>` (no
/// text dump in `<pre>`), no axis of repeated `0.00` ticks.
#[cfg(test)]
pub(crate) fn assert_page(html: &str) {
    assert!(
        html.starts_with("<!doctype html>"),
        "{}",
        &html[..80.min(html.len())]
    );
    assert!(html.trim_end().ends_with("</html>"));
    assert!(!html.contains("<script"), "no JavaScript");
    for fetched in ["src=\"http", "href=\"http", "<link", "@import"] {
        assert!(!html.contains(fetched), "fetches {fetched}");
    }
    assert!(html.contains("<table>"), "tables are HTML tables");
    assert!(!html.contains("<pre>"), "no text dump");
    assert!(html.matches(">0.00<").count() <= 1, "repeated 0.00 ticks");
}

/// Where each series' line runs, as its x values in drawing order (the SVG's
/// polylines, in series order).
#[cfg(test)]
pub(crate) fn polylines(html: &str) -> Vec<Vec<f64>> {
    html.split("<polyline")
        .skip(1)
        // The series' lines: 2 px wide, not a mark's dashes (black, purple).
        .filter(|p| {
            let tag = p.split('>').next().unwrap_or("");
            tag.contains("stroke-width=\"2\"")
                && !["#222222", "#7B1FA2"]
                    .iter()
                    .any(|c| tag.to_uppercase().contains(c))
        })
        .map(|p| {
            let points = p
                .split("points=\"")
                .nth(1)
                .unwrap_or("")
                .split('"')
                .next()
                .unwrap_or("");
            points
                .split_whitespace()
                .filter_map(|xy| xy.split(',').next()?.parse().ok())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_follow_the_log_scale() {
        assert_eq!(percentile_label(&0.0), "0%");
        assert_eq!(percentile_label(&1.0), "90%");
        assert_eq!(percentile_label(&2.0), "99%");
        assert_eq!(percentile_label(&3.0), "99.9%");
        assert_eq!(percentile_label(&4.0), "99.99%");
    }

    #[test]
    fn percentile_chart_is_svg_with_the_series() {
        let mut h = shared::stats::new_histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let svg = percentile_chart(&[("latency".into(), shared::stats::codec::encode_base64(&h))]);
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        assert!(svg.contains("99.9%"));
    }

    fn histogram(values: impl Iterator<Item = u64>) -> String {
        let mut h = shared::stats::new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        shared::stats::codec::encode_base64(&h)
    }

    #[test]
    fn wide_tails_get_a_log_latency_axis_and_close_ones_a_linear_one() {
        // A ceiling row around 300 us beside a target whose tail reaches 1.67 s.
        let fast = histogram(200..400);
        let slow = histogram((0..1000).map(|i| if i < 990 { 5_000 } else { 1_670_000 }));
        let wide = percentile_chart(&[("plaintext".into(), fast.clone()), ("mine".into(), slow)]);
        assert!(wide.contains("latency (log scale)"), "log axis");
        assert!(wide.contains(">1.00ms<") || wide.contains(">1ms<") || wide.contains("1.00ms"));
        let close = percentile_chart(&[
            ("a".into(), fast.clone()),
            ("b".into(), histogram(250..450)),
        ]);
        assert!(!close.contains("log scale"));
        // The legend is HTML under the chart, naming both curves.
        assert!(wide.contains("class=\"legend\""));
        assert!(wide.contains(">plaintext</span>") && wide.contains(">mine</span>"));
    }

    #[test]
    fn points_are_drawn_in_x_order_and_one_level_is_bars() {
        // Probes in the order a search ran them.
        let svg = xy_chart(
            "rate",
            "requests/s",
            &[(
                "probes".into(),
                vec![(1000.0, 1.0), (4000.0, 4.0), (2000.0, 2.0), (3000.0, 3.0)],
            )],
        );
        let lines = polylines(&svg);
        assert_eq!(lines.len(), 1, "{svg}");
        assert!(lines[0].windows(2).all(|w| w[0] < w[1]), "{:?}", lines[0]);
        // One level: no line with one point, one bar per series.
        let one = xy_chart(
            "connections",
            "requests/s",
            &[
                ("a".into(), vec![(64.0, 100.0)]),
                ("b".into(), vec![(64.0, 120.0)]),
            ],
        );
        assert!(polylines(&one).is_empty(), "{one}");
        assert!(one.contains("<rect"));
        assert!(one.contains("a at 64") && one.contains("b at 64"));
    }

    #[test]
    fn an_all_zero_axis_has_no_repeated_ticks() {
        let svg = xy_chart(
            "second",
            "errors/s",
            &[("errors/s".into(), vec![(0.5, 0.0), (1.5, 0.0), (2.5, 0.0)])],
        );
        assert!(svg.matches(">0.00<").count() == 0, "{svg}");
        let labels: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .filter(|t| !t.is_empty())
            .collect();
        let mut seen = std::collections::HashSet::new();
        let repeated: Vec<&&str> = labels.iter().filter(|l| !seen.insert(**l)).collect();
        assert!(repeated.is_empty(), "{labels:?}");
    }

    #[test]
    fn marks_are_drawn_and_named() {
        let svg = xy_chart_with(
            "asked req/s",
            "latency (ms)",
            &[(
                "p99".into(),
                vec![(1000.0, 2.0), (2000.0, 8.0), (3000.0, 80.0)],
            )],
            YScale::LogWhenWide,
            &[
                Mark::Y("SLO: p99<50ms".into(), 50.0),
                Mark::X("capacity found: 2000 req/s".into(), 2000.0),
            ],
        );
        assert!(svg.contains("SLO: p99&lt;50ms"), "{svg}");
        assert!(svg.contains("capacity found: 2000 req/s"));
        assert!(
            svg.contains("stroke-dasharray")
                || svg.matches("<polyline").count() + svg.matches("<path").count() >= 3
        );
    }

    #[test]
    fn a_run_page_has_tables_warnings_and_nodes() {
        let mut r = crate::campaign::fixture::result(50_000.0, 300, 900, 3);
        r.warnings = vec!["the kernel reports the clock of node 1 (b) unsynchronized".into()];
        let page = render(&r);
        assert_page(&page);
        assert!(page.contains("class=\"warn\""));
        assert!(page.contains("unsynchronized"));
        assert!(
            !page.contains("<h2>Nodes</h2>"),
            "one machine: no node table"
        );
        // A merged run: its nodes in a table.
        r.nodes = (0..2)
            .map(|i| crate::result::NodeSummary {
                index: i,
                hostname: format!("gen{i}"),
                sent: 500,
                completed: 499,
                errors: 1,
                requests_per_sec: 25_000.0,
                achieved_pct: Some(99.5),
                late_ms: 0.0,
                clock: "synchronized".into(),
                generator_us_per_request: 4.5,
                complete: true,
            })
            .collect();
        r.partial = true;
        let page = render(&r);
        assert_page(&page);
        assert!(page.contains("<h2>Nodes</h2>"));
        assert!(page.contains("<td>1 (gen1)</td>"));
        assert!(page.contains("PARTIAL"));
    }

    #[test]
    fn an_https_run_page_has_the_tls_columns_and_table() {
        let mut r = crate::campaign::fixture::result(50_000.0, 300, 900, 3);
        let plain = render(&r);
        assert!(!plain.contains("tls handshake") && !plain.contains("<th>TLS</th>"));
        let mut t = crate::campaign::fixture::tls(640, 600, 10.0);
        t.failures.insert("alert <HandshakeFailure>".into(), 2);
        r.tls = Some(t);
        r.counters.errors.tls_handshake = 2;
        r.counters.errors.tls = 1;
        let page = render(&r);
        assert_page(&page);
        assert!(
            page.contains("<th>connect</th><th>tls handshake</th><th>tls</th><th>non-2xx/3xx</th>"),
            "{page}"
        );
        assert!(page.contains("<td>2</td><td>1</td>"), "{page}");
        assert!(page.contains("<td>TLSv1_3</td><td>TLS13_AES_256_GCM_SHA384</td><td>http/1.1</td><td>640</td><td>600</td><td>on</td><td>64.00</td>"), "{page}");
        // Causes are escaped like every cell.
        assert!(
            page.contains("<td>alert &lt;HandshakeFailure&gt;</td><td>2</td>"),
            "{page}"
        );
    }
}
