//! One self-contained HTML page for a run: the summary, and SVG charts drawn with
//! plotters (latency by percentile on HdrHistogram's log scale, throughput and
//! errors over time, p50/p99 over time). No scripts, no external files.

use crate::result::RunResult;
use plotters::prelude::*;
use shared::stats::codec::decode_base64;
use std::fmt::Write as _;

const W: u32 = 860;
const H: u32 = 340;

/// The page.
pub fn render(r: &RunResult) -> String {
    let mut s = String::new();
    let title = format!("ceiling: {}", r.config.url);
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f3f3f3}}code{{background:#f3f3f3;padding:1px 4px}}</style></head><body>",
        escape(&title)
    );
    let _ = write!(s, "<h1>{}</h1>", escape(&title));
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
    let c = &r.counters;
    let _ = write!(
        s,
        "<table><tr><th>requests/s</th><th>completed</th><th>sent</th><th>errors (read/write/timeout/invalid/connect)</th><th>non-2xx/3xx</th><th>duration</th></tr>\
         <tr><td>{:.2}</td><td>{}</td><td>{}</td><td>{}/{}/{}/{}/{}</td><td>{}</td><td>{:.2}s</td></tr></table>",
        r.requests_per_sec,
        c.completed,
        c.sent,
        c.errors.read,
        c.errors.write,
        c.errors.timeout,
        c.errors.invalid,
        c.errors.connect,
        c.status.non_2xx_3xx(),
        r.duration_s
    );
    let _ = write!(s, "<table><tr>");
    for p in &r.latency.percentiles {
        let _ = write!(s, "<th>p{}</th>", p.percentile);
    }
    let _ = write!(s, "</tr><tr>");
    for p in &r.latency.percentiles {
        let _ = write!(
            s,
            "<td>{}</td>",
            crate::report::text::time_us(p.value_us as f64)
        );
    }
    let _ = write!(s, "</tr></table>");
    if let Some(rate) = &r.rate {
        let _ = write!(s, "<p><b>Rate</b>: {}</p>", escape(&rate.verdict));
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
        let _ = write!(
            s,
            "<h2>Throughput and errors over time</h2>{}",
            throughput_chart(r)
        );
        let _ = write!(s, "<h2>Latency over time</h2>{}", latency_time_chart(r));
    }
    s.push_str("</body></html>\n");
    s
}

/// A page around `body` (the campaigns' reports use it too).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f3f3f3}}code{{background:#f3f3f3;padding:1px 4px}}</style></head><body>\
         <h1>{t}</h1>{body}</body></html>\n",
        t = escape(title)
    )
}

/// A line-and-point chart of several series against a numeric x (levels,
/// connections, rates). `log_x` draws x on a log10 axis when the levels span
/// orders of magnitude.
pub fn xy_chart(x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in xs {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if !lo.is_finite() {
        return svg_fallback();
    }
    let pad = ((hi - lo) * 0.05).max(0.5);
    let max_y = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(0.001, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(44)
            .x_label_area_size(34)
            .y_label_area_size(70)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0f64..max_y * 1.1)
        else {
            return svg_fallback();
        };
        let integral_x = series
            .iter()
            .all(|(_, p)| p.iter().all(|q| q.0.fract() == 0.0));
        let x_fmt = |x: &f64| {
            if integral_x {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        };
        let y_fmt = |y: &f64| {
            if max_y >= 100.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.2}")
            }
        };
        let _ = chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw();
        draw_lines(&mut chart, series, true);
        let _ = root.present();
    }
    svg
}

/// A bar chart: one bar per label (the compare chart), with the value above it.
pub fn bar_chart(y_desc: &str, bars: &[(String, f64)]) -> String {
    if bars.is_empty() {
        return svg_fallback();
    }
    let max_y = bars.iter().map(|b| b.1).fold(0.001, f64::max);
    let n = bars.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(44)
            .x_label_area_size(34)
            .y_label_area_size(70)
            // A segmented range 0..k holds k+1 segments.
            .build_cartesian_2d((0..(n - 1).max(1)).into_segmented(), 0f64..max_y * 1.15)
        else {
            return svg_fallback();
        };
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                bars.get(*i).map_or(String::new(), |b| b.0.clone())
            }
            SegmentValue::Last => String::new(),
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label)
            .y_desc(y_desc)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .draw();
        for (i, (_, v)) in bars.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                color.filled(),
            );
            bar.set_margin(0, 0, 24, 24);
            let _ = chart.draw_series(std::iter::once(bar));
            let _ = chart.draw_series(std::iter::once(Text::new(
                format!("{v:.0}"),
                (SegmentValue::CenterOf(i), *v * 1.02 + max_y * 0.03),
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

/// Draws each series as a coloured line (with its points when `dots`) and the legend.
fn draw_lines<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    series: &[(String, Vec<(f64, f64)>)],
    dots: bool,
) {
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        if dots {
            let _ = chart.draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            );
        }
        if let Ok(a) = chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        )) {
            a.label(name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
    }
    let _ = chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw();
}

/// Escapes text for HTML.
pub fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// x = log10(1 / (1 - q)): 0 is p0, 1 is p90, 2 is p99, 3 is p99.9 ...
fn percentile_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = (x.round() as i32 - 2).max(0) as usize;
    format!("{q:.digits$}%")
}

/// Latency (ms) against percentile on HdrHistogram's log scale.
pub fn percentile_chart(curves: &[(String, String)]) -> String {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut max_x: f64 = 2.0;
    let mut max_y: f64 = 0.001;
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
            let y = v.value_iterated_to() as f64 / 1000.0;
            max_x = max_x.max(x);
            max_y = max_y.max(y);
            points.push((x, y));
        }
        series.push((name.clone(), points));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut chart) = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(44)
            .x_label_area_size(34)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x.ceil(), 0f64..max_y * 1.05)
        else {
            return svg_fallback();
        };
        let _ = chart
            .configure_mesh()
            .x_labels(max_x.ceil() as usize + 1)
            .x_label_formatter(&percentile_label)
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .draw();
        draw_lines(&mut chart, &series, false);
        let _ = root.present();
    }
    svg
}

/// Requests/s and errors/s per second of the run (each point at mid-second).
fn throughput_chart(r: &RunResult) -> String {
    let at = |p: &crate::result::TimePoint| p.second as f64 + p.length_s / 2.0;
    let per_sec = |p: &crate::result::TimePoint, n: f64| n / p.length_s.max(1e-9);
    xy_chart(
        "second",
        "per second",
        &[
            (
                "requests/s".into(),
                r.timeseries
                    .iter()
                    .map(|p| (at(p), p.requests_per_sec))
                    .collect(),
            ),
            (
                "errors/s".into(),
                r.timeseries
                    .iter()
                    .map(|p| (at(p), per_sec(p, p.errors as f64)))
                    .collect(),
            ),
        ],
    )
}

/// p50 and p99 of each second's completions.
fn latency_time_chart(r: &RunResult) -> String {
    let at = |p: &crate::result::TimePoint| p.second as f64 + p.length_s / 2.0;
    let ms = |us: u64| us as f64 / 1000.0;
    xy_chart(
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
    )
}

fn svg_fallback() -> String {
    "<p>(chart unavailable)</p>".into()
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
}
