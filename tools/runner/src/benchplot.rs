//! `runner bench`'s outputs: the client-side benchmark table parsed from
//! the console (`userland/memtools/src/bench.rs` prints it as Markdown),
//! drawn as `target/bench.svg` (ours beside Linux per row, log-scale bars,
//! the goal marked) and written with the run's date, commit and QEMU
//! version to `target/bench.md`.

use std::fmt::Write as _;

/// One row of the client-side table.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    pub label: String,
    pub loops: u64,
    /// Guest instructions per operation, ours.
    pub ours: u64,
    /// Linux 6.1's figure (`None`: the row has no Linux counterpart).
    pub linux: Option<u64>,
    /// The goal as a ratio ours/Linux must not exceed, and whether it was met.
    pub goal: Option<(f64, bool)>,
}

/// The table rows in `log` (lines `| label | loops | ours | linux | ratio | goal |`).
pub fn parse_rows(log: &str) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    for line in log.lines() {
        let Some(at) = line.find("[bench] |") else {
            continue;
        };
        let cells: Vec<&str> = line[at + "[bench] |".len()..]
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() < 6 {
            continue;
        }
        let (Ok(loops), Ok(ours)) = (cells[1].parse(), cells[2].parse()) else {
            continue; // the header or the separator
        };
        let goal = cells[5].strip_prefix("<= ").and_then(|g| {
            let (ratio, verdict) = g.split_once("x ")?;
            Some((ratio.parse().ok()?, verdict == "MET"))
        });
        rows.push(BenchRow {
            label: cells[0].to_string(),
            loops,
            ours,
            linux: cells[3].parse().ok(),
            goal,
        });
    }
    rows
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG plot of `rows`: per row a bar for ours and one for Linux on a
/// log-10 axis, the goal (ratio x Linux) as a red tick on the row.
pub fn svg(rows: &[BenchRow], title: &str) -> String {
    let (label_w, plot_w, row_h, top) = (330.0, 520.0, 46.0, 70.0);
    let width = label_w + plot_w + 140.0;
    let height = top + row_h * rows.len() as f64 + 60.0;
    let values = rows
        .iter()
        .flat_map(|r| [Some(r.ours), r.linux].into_iter().flatten());
    let max = values.clone().max().unwrap_or(10).max(10) as f64;
    let min = values.min().unwrap_or(1).max(1) as f64;
    let (lo, hi) = (min.log10().floor().min(2.0), max.log10().ceil());
    let x = |v: f64| label_w + (v.max(1.0).log10() - lo) / (hi - lo) * plot_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="42">guest instructions per operation (log scale); <tspan fill="steelblue">ours</tspan>, <tspan fill="gray">Linux 6.1</tspan>, <tspan fill="crimson">goal</tspan></text>"#
    );
    let bottom = top + row_h * rows.len() as f64;
    for decade in lo as i32..=hi as i32 {
        let v = 10f64.powi(decade);
        let gx = x(v);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{}" text-anchor="middle" fill="#666">{}</text>"##,
            top - 8.0,
            bottom + 16.0,
            v as u64
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(s, r#"<g class="row">"#);
        let _ = writeln!(
            s,
            r#"<text class="label" x="10" y="{:.1}">{}</text>"#,
            y + 20.0,
            escape(&r.label)
        );
        let bar = |s: &mut String, class: &str, v: u64, dy: f64, fill: &str| {
            let w = x(v as f64) - label_w;
            let _ = writeln!(
                s,
                r#"<rect x="{label_w}" y="{:.1}" width="{w:.1}" height="14" fill="{fill}"/><text class="{class}" x="{:.1}" y="{:.1}">{v}</text>"#,
                y + dy,
                label_w + w + 4.0,
                y + dy + 11.0
            );
        };
        bar(&mut s, "ours", r.ours, 6.0, "steelblue");
        if let Some(l) = r.linux {
            bar(&mut s, "linux", l, 22.0, "gray");
        }
        if let (Some((g, met)), Some(l)) = (r.goal, r.linux) {
            let gx = x(g * l as f64);
            let verdict = if met { "MET" } else { "NOT MET" };
            let _ = writeln!(
                s,
                r#"<line x1="{gx:.1}" y1="{:.1}" x2="{gx:.1}" y2="{:.1}" stroke="crimson" stroke-width="2"/><text class="goal" x="{:.1}" y="{:.1}" fill="crimson">&lt;= {g:.2}x {verdict}</text>"#,
                y + 2.0,
                y + 40.0,
                label_w + plot_w + 20.0,
                y + 24.0
            );
        }
        let _ = writeln!(s, "</g>");
    }
    s.push_str("</svg>\n");
    s
}

/// (label, ours, Linux) of each row drawn in `svg` (what a reader of the
/// picture sees), for the parse-back test.
#[cfg(test)]
pub fn parse_svg(svg: &str) -> Vec<(String, u64, Option<u64>)> {
    let text = |class: &str, group: &str| -> Option<String> {
        let open = format!(r#"class="{class}""#);
        let at = group.find(&open)?;
        let rest = &group[at..];
        let start = rest.find('>')? + 1;
        let end = rest[start..].find("</text>")? + start;
        Some(rest[start..end].to_string())
    };
    svg.split(r#"<g class="row">"#)
        .skip(1)
        .filter_map(|g| {
            let label = text("label", g)?
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            let ours = text("ours", g)?.parse().ok()?;
            let linux = text("linux", g).and_then(|v| v.parse().ok());
            Some((label, ours, linux))
        })
        .collect()
}

/// `target/bench.md`: the date, commit and QEMU version, then the table
/// and the benchmark's own lines as printed.
pub fn markdown(log: &str, date: &str, commit: &str, qemu: &str) -> String {
    let mut s = String::from("# Memory-server client benchmark\n\n");
    let _ = writeln!(s, "- date: {date}");
    let _ = writeln!(s, "- commit: {commit}");
    let _ = writeln!(s, "- QEMU: {qemu}\n");
    let mut notes = Vec::new();
    for line in log.lines() {
        if let Some(at) = line.find("[bench] ") {
            let text = &line[at + "[bench] ".len()..];
            if text.starts_with('|') {
                let _ = writeln!(s, "{text}");
            } else {
                notes.push(text.to_string());
            }
        }
    }
    s.push('\n');
    for n in notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}

/// Today's date and time in UTC (`YYYY-MM-DD HH:MM UTC`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A captured `system=bench` console (vexpress-a9, -icount shift=0).
    const LOG: &str = "\
[    0.002915] INFO  [bench] | operation                                        | loops |     ours | Linux 6.1 | ours/Linux | goal             |
[    0.002928] INFO  [bench] |--------------------------------------------------|-------|----------|-----------|------------|------------------|
[    0.007093] INFO  [bench] | ping (request round trip, no work)               |  5000 |      828 |         - |          - | -                |
[    0.030464] INFO  [bench] | vmalloc+vfree, 1 page                            |  5000 |     4656 |      4050 |      1.15x | <= 0.75x NOT MET |
[    0.058918] INFO  [bench] | vmalloc+vfree, 4 pages                           |  5000 |     5668 |      6979 |      0.81x | -                |
[    0.098937] INFO  [bench] | vmalloc+vfree, 16 pages                          |  5000 |     7973 |     19150 |      0.42x | <= 0.40x NOT MET |
[    0.134007] INFO  [bench] | vmalloc+vfree, 64 pages                          |  2000 |    17382 |     67843 |      0.26x | <= 0.30x MET     |
[    0.171734] INFO  [bench] | vmalloc+vfree, random 1-100 pages                |  2000 |    18695 |     53880 |      0.35x | -                |
[    0.224637] INFO  [bench] | vmalloc+vfree, 1 page, 5,000 live                |  5000 |     5164 |      4485 |      1.15x | -                |
[    0.361869] INFO  [bench] | vmalloc+vfree, 1 page, into holes (8,192 live)   |  5000 |     6761 |      4830 |      1.40x | -                |
[    0.410128] INFO  [bench] | vmalloc+vfree, 1 page, 16-page alignment         |  5000 |     9630 |      6361 |      1.51x | -                |
[    0.434551] INFO  [bench] | ioremap+iounmap, 1 page                          |  5000 |     4867 |      2476 |      1.97x | -                |
[    0.434556] INFO  [bench] bench: 1 of 3 goals met
";

    #[test]
    fn the_table_is_parsed_with_goals() {
        let rows = parse_rows(LOG);
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0].linux, None);
        assert_eq!(
            rows[1],
            BenchRow {
                label: "vmalloc+vfree, 1 page".into(),
                loops: 5000,
                ours: 4656,
                linux: Some(4050),
                goal: Some((0.75, false)),
            }
        );
        assert_eq!(rows[4].goal, Some((0.30, true)));
    }

    #[test]
    fn every_row_is_read_back_from_the_svg_with_its_values() {
        let rows = parse_rows(LOG);
        let picture = svg(&rows, "client-side cost");
        let back = parse_svg(&picture);
        let want: Vec<(String, u64, Option<u64>)> = rows
            .iter()
            .map(|r| (r.label.clone(), r.ours, r.linux))
            .collect();
        assert_eq!(back, want);
        assert_eq!(picture.matches("stroke=\"crimson\"").count(), 3, "3 goals");
        assert_eq!(picture.matches("NOT MET").count(), 2);
        // Log scale: 10x the value is one decade further, not 10x the width.
        let widths: Vec<f64> = picture
            .split("<rect x=\"330\"")
            .skip(1)
            .filter_map(|r| r.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(widths.len(), 19, "10 ours + 9 Linux bars");
        assert!(widths[0] > 0.0 && widths.iter().all(|w| *w < 520.1));
    }

    #[test]
    fn the_markdown_has_the_provenance_and_the_table() {
        let md = markdown(
            LOG,
            "2026-12-08 03:00 UTC",
            "abc1234",
            "QEMU emulator version 9",
        );
        assert!(md.contains("- date: 2026-12-08 03:00 UTC\n- commit: abc1234\n- QEMU: QEMU"));
        assert_eq!(md.lines().filter(|l| l.starts_with('|')).count(), 12);
        assert!(md.contains("- bench: 1 of 3 goals met"));
        assert!(utc_now().ends_with(" UTC") && utc_now().len() == 20);
    }
}
