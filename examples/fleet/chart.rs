//! One PNG per scenario, drawn by `plotters` from the simulation's own numbers: KMS requests per
//! second against the quota (top), and the share of pods on the current key / serving a stale
//! key (bottom). Text is rendered with `ab_glyph` from the DejaVu Sans file committed beside
//! this example (`font/`, Bitstream Vera licence), so no system font library is needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::sim::Report;

static FONT: Once = Once::new();

fn register() {
    FONT.call_once(|| {
        register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("font/DejaVuSans.ttf"),
        )
        .map_err(|_| "invalid font")
        .expect("DejaVu Sans parses");
    });
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws `report` into `path`.
pub fn draw(path: &Path, report: &Report) -> DrawResult {
    register();
    let (from, to) = report.focus;
    let seconds = &report.seconds[from..to.max(from + 1).min(report.seconds.len())];
    let span = seconds.len();
    // Points: one per second up to 2 h shown, else one per minute (the busiest second in it).
    let bucket = if span > 2 * 3600 { 60 } else { 1 };
    let (unit, unit_name) = if span > 3 * 3600 {
        (3600.0, "hours")
    } else if span > 1200 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    };
    let origin = report.origin.0 as f64;
    let x_min = (from as f64 - origin) / unit;
    let x_max = ((from + span) as f64 - origin) / unit;
    let x = |i: usize| ((from + i * bucket) as f64 - origin) / unit;
    let x_desc = format!("{unit_name} after {}", report.origin.1);
    let series = |f: &dyn Fn(&[crate::sim::Second]) -> f64| -> Vec<(f64, f64)> {
        seconds
            .chunks(bucket)
            .enumerate()
            .map(|(i, c)| (x(i), f(c)))
            .collect()
    };
    let pods = report.pods.max(1) as f64;
    let peak = series(&|c| c.iter().map(|s| s.requests).max().unwrap_or(0) as f64);
    let throttled = series(&|c| c.iter().map(|s| s.throttled).max().unwrap_or(0) as f64);
    let on_current = series(&|c| c.last().map_or(0.0, |s| s.on_current as f64 / pods));
    let stale = series(&|c| c.last().map_or(0.0, |s| s.stale as f64 / pods));

    let root = BitMapBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(470);
    let quota = report.quota_qps as f64;
    let y_max = (peak.iter().map(|p| p.1).fold(0.0, f64::max).max(quota) * 1.1).max(1.0);
    let per = if bucket == 1 {
        "per second"
    } else {
        "busiest second of each minute"
    };
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "{} — {} pods: KMS requests ({per})",
                report.name, report.pods
            ),
            ("sans-serif", 24),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc.as_str())
        .y_desc("requests / s")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    chart
        .draw_series(LineSeries::new(peak, &BLUE))?
        .label("requests / s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(throttled, &RGBColor(230, 120, 0)))?
        .label("throttled / s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(230, 120, 0)));
    chart
        .draw_series(LineSeries::new(
            vec![(x_min, quota), (x_max, quota)],
            RED.stroke_width(2),
        ))?
        .label(format!("quota {} / s", report.quota_qps))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    let mut chart = ChartBuilder::on(&bottom)
        .caption("share of pods", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, 0f64..1.05f64)?;
    chart
        .configure_mesh()
        .x_desc(x_desc.as_str())
        .y_desc("fraction of pods")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let green = RGBColor(0, 150, 60);
    chart
        .draw_series(LineSeries::new(on_current, green.stroke_width(2)))?
        .label("on the current key")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(stale, MAGENTA.stroke_width(2)))?
        .label("last KMS answer was an error")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
