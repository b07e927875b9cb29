//! The picture of the vmalloc window (`runner map`): parses the guest's
//! window-map dumps (doc/observability.md, format 4) and draws each
//! snapshot as a strip of the whole window: busy areas coloured by owner,
//! their guard pages, free ranges, lazily freed ranges, the largest free
//! range outlined, with a per-owner legend.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a range of the window holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeKind {
    /// An area of `owner` (`vmalloc`, `ioremap`, `vmap`, `dma`).
    Busy {
        owner: u32,
        kind: String,
    },
    /// Freed, waiting for the lazy purge.
    Lazy,
    Free,
}

/// One `window-map: busy|lazy|free START END ...` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    /// Exclusive; a busy range's guard page (if any) starts here.
    pub end: u64,
    pub kind: RangeKind,
}

/// One dump, `window-map: begin LABEL` to `window-map: end LABEL ...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub label: String,
    pub ranges: Vec<Range>,
    /// The vmallocinfo lines printed inside the dump (the same snapshot).
    pub vmallocinfo: usize,
    /// The end line's counts: busy, lazy, free, largest free bytes.
    pub counts: (usize, usize, usize, u64),
    /// Whether the guest saw one consistent snapshot (no `consistent=no`).
    pub consistent: bool,
}

impl Snapshot {
    fn count(&self, f: impl Fn(&RangeKind) -> bool) -> usize {
        self.ranges.iter().filter(|r| f(&r.kind)).count()
    }

    /// Busy ranges.
    pub fn busy(&self) -> usize {
        self.count(|k| matches!(k, RangeKind::Busy { .. }))
    }

    /// Whether a busy range ending at `end` has a guard page: the page at
    /// `end` belongs to no range.
    fn guarded(&self, end: u64) -> bool {
        !self.ranges.iter().any(|r| r.start <= end && end < r.end)
            && self.ranges.iter().any(|r| r.start >= end + PAGE)
    }

    /// The largest free range.
    fn largest_free(&self) -> Option<&Range> {
        self.ranges
            .iter()
            .filter(|r| r.kind == RangeKind::Free)
            .max_by_key(|r| r.end - r.start)
    }
}

const PAGE: u64 = 4096;

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// Every complete dump in a console log.
pub fn parse(log: &str) -> Result<Vec<Snapshot>, String> {
    let mut out = Vec::new();
    let mut open: Option<Snapshot> = None;
    for line in log.lines() {
        let Some(at) = line.find("window-map: ") else {
            if let Some(s) = open.as_mut() {
                if is_vmallocinfo(line) {
                    s.vmallocinfo += 1;
                }
            }
            continue;
        };
        let words: Vec<&str> = line[at + "window-map: ".len()..]
            .split_whitespace()
            .collect();
        let bad = || format!("malformed window-map line: {line}");
        match (words.first().copied(), open.as_mut()) {
            (Some("begin"), _) => {
                open = Some(Snapshot {
                    label: words.get(1).unwrap_or(&"").to_string(),
                    consistent: true,
                    ..Snapshot::default()
                })
            }
            (Some(state @ ("busy" | "lazy" | "free")), Some(s)) => {
                let start = words.get(1).and_then(|w| hex(w)).ok_or_else(bad)?;
                let end = words.get(2).and_then(|w| hex(w)).ok_or_else(bad)?;
                let kind = match state {
                    "busy" => RangeKind::Busy {
                        owner: words.get(3).and_then(|w| w.parse().ok()).ok_or_else(bad)?,
                        kind: words.get(4).unwrap_or(&"?").to_string(),
                    },
                    "lazy" => RangeKind::Lazy,
                    _ => RangeKind::Free,
                };
                s.ranges.push(Range { start, end, kind });
            }
            (Some("end"), Some(_)) => {
                let mut s = open.take().expect("open snapshot");
                let field = |name: &str| -> Option<u64> {
                    words
                        .iter()
                        .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                };
                s.counts = (
                    field("busy").ok_or_else(bad)? as usize,
                    field("lazy").ok_or_else(bad)? as usize,
                    field("free").ok_or_else(bad)? as usize,
                    field("largest").ok_or_else(bad)?,
                );
                s.consistent = !words.contains(&"consistent=no");
                out.push(s);
            }
            _ => return Err(format!("window-map line outside a dump: {line}")),
        }
    }
    Ok(out)
}

/// A vmallocinfo line: `0xSTART-0xEND SIZE CALLER ... owner=ID`.
fn is_vmallocinfo(line: &str) -> bool {
    line.split_whitespace().any(|w| {
        w.split_once('-').is_some_and(|(a, b)| {
            a.len() == 10 && b.len() == 10 && hex(a).is_some() && hex(b).is_some()
        })
    }) && line.contains(" owner=")
}

/// What is wrong with `s`: its drawn counts against its end line and its
/// vmallocinfo lines (empty when they agree).
pub fn check(s: &Snapshot) -> Vec<String> {
    let mut problems = Vec::new();
    let drawn = (
        s.busy(),
        s.count(|k| *k == RangeKind::Lazy),
        s.count(|k| *k == RangeKind::Free),
    );
    let (busy, lazy, free, largest) = s.counts;
    if drawn != (busy, lazy, free) {
        problems.push(format!(
            "window map {}: drawn busy/lazy/free {drawn:?}, end line says {:?}",
            s.label,
            (busy, lazy, free)
        ));
    }
    if s.busy() != s.vmallocinfo {
        problems.push(format!(
            "window map {}: {} busy areas drawn, {} vmallocinfo lines in the same snapshot",
            s.label,
            s.busy(),
            s.vmallocinfo
        ));
    }
    let biggest = s.largest_free().map_or(0, |r| r.end - r.start);
    if biggest != largest {
        problems.push(format!(
            "window map {}: largest free range drawn {biggest} bytes, end line says {largest}",
            s.label
        ));
    }
    problems
}

/// Colours for owners, in order of first appearance.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#393b79", "#637939",
];

/// The SVG of `snapshots`: one block per snapshot, the window folded into
/// `ROWS` strips left to right, top to bottom.
pub fn svg(snapshots: &[Snapshot], title: &str) -> String {
    const ROWS: u64 = 8;
    const W: f64 = 1200.0;
    const ROW_H: f64 = 14.0;
    let block_h = ROWS as f64 * (ROW_H + 2.0) + 70.0;
    let owners: Vec<u32> = {
        let mut seen = BTreeMap::new();
        for s in snapshots {
            for r in &s.ranges {
                if let RangeKind::Busy { owner, .. } = r.kind {
                    let n = seen.len();
                    seen.entry(owner).or_insert(n);
                }
            }
        }
        let mut v: Vec<(u32, usize)> = seen.into_iter().collect();
        v.sort_by_key(|&(_, i)| i);
        v.into_iter().map(|(o, _)| o).collect()
    };
    let colour = |owner: u32| {
        let i = owners.iter().position(|&o| o == owner).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let legend_h = 30.0 + 18.0 * (owners.len() as f64 / 4.0).ceil();
    let height = 50.0 + legend_h + block_h * snapshots.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        W + 40.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="20" y="24" font-size="15" font-weight="bold">{title}</text>"#
    );
    // Legend: states, then owners.
    let mut lx = 20.0;
    let ly = 44.0;
    for (name, fill) in [
        ("free", "#eeeeee"),
        ("lazily freed", "#f4a261"),
        ("guard page", "#d62728"),
    ] {
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{}" width="14" height="12" fill="{fill}" stroke="#999"/><text x="{}" y="{ly}">{name}</text>"##,
            ly - 10.0,
            lx + 18.0
        );
        lx += 130.0;
    }
    let _ = writeln!(
        s,
        r#"<rect x="{lx}" y="{}" width="14" height="12" fill="none" stroke="black" stroke-width="2"/><text x="{}" y="{ly}">largest free range</text>"#,
        ly - 10.0,
        lx + 18.0
    );
    for (i, &o) in owners.iter().enumerate() {
        let (x, y) = (
            20.0 + 290.0 * (i % 4) as f64,
            ly + 20.0 + 18.0 * (i / 4) as f64,
        );
        let areas: usize = snapshots
            .iter()
            .map(|sn| sn.count(|k| matches!(k, RangeKind::Busy { owner, .. } if *owner == o)))
            .sum();
        let _ = writeln!(
            s,
            r#"<g class="legend" data-owner="{o}"><rect x="{x}" y="{}" width="14" height="12" fill="{}"/><text x="{}" y="{y}">owner {o} ({areas} areas in all snapshots)</text></g>"#,
            y - 10.0,
            colour(o),
            x + 18.0
        );
    }
    let mut top = 50.0 + legend_h;
    for snap in snapshots {
        let Some(lo) = snap.ranges.iter().map(|r| r.start).min() else {
            continue;
        };
        let hi = snap
            .ranges
            .iter()
            .map(|r| r.end)
            .max()
            .unwrap_or(lo)
            .max(lo + PAGE);
        let row_bytes = (hi - lo).div_ceil(ROWS);
        let largest = snap.largest_free().cloned();
        let _ = writeln!(s, r#"<g class="snapshot" data-label="{}">"#, snap.label);
        let (busy, lazy, free, largest_bytes) = snap.counts;
        let _ = writeln!(
            s,
            r#"<text x="20" y="{}" font-weight="bold">{}</text><text x="300" y="{}">{busy} busy, {lazy} lazy, {free} free ranges; largest free range {} KiB{}; window {:#010x}-{:#010x}, {} KiB per strip</text>"#,
            top + 14.0,
            snap.label,
            top + 14.0,
            largest_bytes / 1024,
            largest
                .as_ref()
                .map(|r| format!(" at {:#010x}", r.start))
                .unwrap_or_default(),
            lo,
            hi,
            row_bytes / 1024
        );
        // Draws [start, end) across the strips it spans.
        let span = |s: &mut String, start: u64, end: u64, attrs: &str| {
            let mut a = start;
            while a < end {
                let row = (a - lo) / row_bytes;
                let row_end = (lo + (row + 1) * row_bytes).min(end);
                let x = 20.0 + (a - lo - row * row_bytes) as f64 / row_bytes as f64 * W;
                let w = ((row_end - a) as f64 / row_bytes as f64 * W).max(0.8);
                let y = top + 24.0 + row as f64 * (ROW_H + 2.0);
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{ROW_H}" {attrs}/>"#
                );
                a = row_end;
            }
        };
        for r in &snap.ranges {
            match &r.kind {
                RangeKind::Busy { owner, kind } => {
                    let _ = writeln!(
                        s,
                        r#"<g class="busy" data-owner="{owner}" data-kind="{kind}"><title>{:#010x}-{:#010x} {kind} owner={owner}</title>"#,
                        r.start, r.end
                    );
                    span(
                        &mut s,
                        r.start,
                        r.end,
                        &format!(r#"fill="{}""#, colour(*owner)),
                    );
                    if snap.guarded(r.end) {
                        span(
                            &mut s,
                            r.end,
                            r.end + PAGE,
                            r##"fill="#d62728" class="guard""##,
                        );
                    }
                    s.push_str("</g>\n");
                }
                RangeKind::Lazy => {
                    s.push_str(r#"<g class="lazy">"#);
                    span(&mut s, r.start, r.end, r##"fill="#f4a261""##);
                    s.push_str("</g>\n");
                }
                RangeKind::Free => {
                    s.push_str(r#"<g class="free">"#);
                    let outline = largest.as_ref() == Some(r);
                    let attrs = if outline {
                        r##"fill="#eeeeee" stroke="black" stroke-width="1.5""##
                    } else {
                        r##"fill="#eeeeee""##
                    };
                    span(&mut s, r.start, r.end, attrs);
                    s.push_str("</g>\n");
                }
            }
        }
        s.push_str("</g>\n");
        top += block_h;
    }
    s.push_str("</svg>\n");
    s
}

/// (label, busy, lazy, free) groups drawn per snapshot in `svg`.
pub fn drawn_counts(svg: &str) -> Vec<(String, usize, usize, usize)> {
    svg.split(r#"<g class="snapshot" data-label=""#)
        .skip(1)
        .map(|block| {
            let label = block.split('"').next().unwrap_or("").to_string();
            (
                label,
                block.matches(r#"<g class="busy""#).count(),
                block.matches(r#"<g class="lazy""#).count(),
                block.matches(r#"<g class="free""#).count(),
            )
        })
        .collect()
}

/// Draws the dumps in `log` to `svg_path`; checks every snapshot's drawn
/// counts against its end line and vmallocinfo lines. Returns the
/// snapshots drawn and the problems found.
pub fn render_and_check(
    log: &str,
    title: &str,
    svg_path: &std::path::Path,
) -> Result<(usize, Vec<String>), String> {
    let snaps = parse(log)?;
    if snaps.is_empty() {
        return Ok((0, Vec::new()));
    }
    let picture = svg(&snaps, title);
    std::fs::write(svg_path, &picture).map_err(|e| format!("write {}: {e}", svg_path.display()))?;
    let mut problems: Vec<String> = snaps.iter().flat_map(check).collect();
    let drawn = drawn_counts(&picture);
    for (snap, (label, busy, lazy, free)) in snaps.iter().zip(&drawn) {
        let (b, l, f, _) = snap.counts;
        if (*busy, *lazy, *free) != (b, l, f) || *busy != snap.vmallocinfo {
            problems.push(format!(
                "{}: snapshot {label}: the picture has {busy} busy, {lazy} lazy, {free} free; the dump {b}/{l}/{f} and {} vmallocinfo lines",
                svg_path.display(),
                snap.vmallocinfo
            ));
        }
    }
    if drawn.len() != snaps.len() {
        problems.push(format!(
            "{}: {} snapshots drawn of {}",
            svg_path.display(),
            drawn.len(),
            snaps.len()
        ));
    }
    Ok((snaps.len(), problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "\
[ 1.0] INFO  [mapper] window-map: begin long_busy_list
[ 1.0] INFO  [mapper] 0x40000000-0x40002000    8192 0x00012a4c pages=2 vmalloc owner=2
[ 1.0] INFO  [mapper] 0x40003000-0x40004000    4096 0x68656170 pages=1 vmalloc owner=3
[ 1.0] INFO  [other] unrelated line
[ 1.0] INFO  [mapper] window-map: busy 0x40000000 0x40002000 2 vmalloc
[ 1.0] INFO  [mapper] window-map: busy 0x40003000 0x40004000 3 ioremap
[ 1.0] INFO  [mapper] window-map: lazy 0x40005000 0x40008000
[ 1.0] INFO  [mapper] window-map: free 0x40008000 0x40010000
[ 1.0] INFO  [mapper] window-map: free 0x40011000 0x4f000000
[ 1.0] INFO  [mapper] window-map: end long_busy_list busy=2 lazy=1 free=2 largest=251588608
";

    #[test]
    fn a_dump_is_parsed_checked_and_drawn_with_its_counts() {
        let snaps = parse(DUMP).unwrap();
        assert_eq!(snaps.len(), 1);
        let s = &snaps[0];
        assert_eq!(s.label, "long_busy_list");
        assert_eq!(s.vmallocinfo, 2);
        assert_eq!(s.counts, (2, 1, 2, 0x4f000000 - 0x40011000));
        assert!(s.consistent);
        assert_eq!(check(s), Vec::<String>::new());
        // 0x40002000 is no range's: a guard page; 0x40004000 too.
        assert!(s.guarded(0x40002000));
        let picture = svg(&snaps, "test");
        assert_eq!(
            drawn_counts(&picture),
            vec![("long_busy_list".to_string(), 2, 1, 2)]
        );
        assert_eq!(picture.matches(r#"class="guard""#).count(), 2);
        assert_eq!(
            picture.matches(r#"<g class="legend""#).count(),
            2,
            "two owners"
        );
        assert!(picture.contains("largest free range 245692 KiB at 0x40011000"));
    }

    #[test]
    fn disagreeing_counts_are_reported() {
        let missing_line = DUMP.replace(
            "[ 1.0] INFO  [mapper] 0x40003000-0x40004000    4096 0x68656170 pages=1 vmalloc owner=3\n",
            "",
        );
        let s = &parse(&missing_line).unwrap()[0];
        assert_eq!(check(s).len(), 1, "{:?}", check(s));
        let wrong_end = DUMP.replace("busy=2 lazy=1", "busy=3 lazy=1");
        assert!(!check(&parse(&wrong_end).unwrap()[0]).is_empty());
        assert!(parse("window-map: busy 0x1 0x2 1 vmalloc\n").is_err());
        assert!(parse("window-map: begin x\nwindow-map: busy zz\n").is_err());
    }
}
