//! The top of the overview: what a person reads in a second (failing, held, waiting in a
//! chain, updated in the last day), the promotion chains, and the last day's updates and
//! failures per repo drawn as an inline SVG — server-side, no script, styled by the page's
//! one stylesheet.

use std::time::SystemTime;

use maud::{Markup, html};

use super::model::Glance;
use super::views::{path_part, stamp};
use crate::chains::ChainView;
use crate::status::{Moment, TIMELINE};

/// The four counts, each with the repos it counts.
pub(super) fn at_a_glance(g: &Glance) -> Markup {
    let card = |class: &str, count_of: &[String], what: &str| {
        html! {
            div.card {
                span class=(format!("count {}", if count_of.is_empty() { "muted" } else { class })) { (count_of.len()) }
                " " (what)
                @if !count_of.is_empty() {
                    br;
                    @for (i, repo) in count_of.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/repos/{}", path_part(repo))) { (repo) }
                    }
                }
            }
        }
    };
    html! {
        section.glance aria-label="At a glance" {
            (card("failed", &g.failing, "failing"))
            (card("held", &g.held, "with held references"))
            (card("held", &g.waiting, "waiting in a chain"))
            (card("updated", &g.updated, "updated in the last day"))
        }
    }
}

/// Each chain: a row per image, a column per stage.
pub(super) fn chains(views: &[ChainView]) -> Markup {
    html! {
        @if !views.is_empty() {
            h2 id="chains" { "Promotion chains" }
            @for view in views {
                div.scroll { table {
                    caption { (view.stages.join(" → ")) }
                    thead { tr {
                        th scope="col" { "Image" }
                        @for stage in &view.stages { th scope="col" { (stage) } }
                    } }
                    tbody { @for row in &view.images { tr {
                        th scope="row" .mono { (row.image) }
                        @for cell in &row.cells { td {
                            a.mono href=(format!("/repos/{}", path_part(&cell.repo))) {
                                (cell.tag.as_deref().unwrap_or("–"))
                            }
                            @if let Some(held) = &cell.held { " " span.muted { "for " (held) } }
                            @if let Some(waiting) = &cell.waiting { br; span.held { (waiting) } }
                        } }
                    } } }
                } }
            }
        }
    }
}

const WIDTH: f64 = 960.0;
const LABELS: f64 = 170.0;
const ROW: f64 = 24.0;
const AXIS: f64 = 20.0;

/// The last day, one row per repo: a green dot for each update, a red square for each failure.
pub(super) fn timeline(rows: &[(String, Vec<Moment>)], now: SystemTime) -> Markup {
    let span = TIMELINE.as_secs_f64();
    let plot = WIDTH - LABELS - 10.0;
    let x = |at: SystemTime| {
        let ago = now
            .duration_since(at)
            .unwrap_or_default()
            .as_secs_f64()
            .min(span);
        LABELS + plot * (1.0 - ago / span)
    };
    let height = AXIS + ROW * rows.len() as f64;
    html! {
        h2 id="timeline" { "The last day" }
        @if rows.is_empty() {
            p.muted { "No updates or failures in the last day." }
        } @else {
            svg.timeline viewBox=(format!("0 0 {WIDTH} {height}")) role="img"
                aria-label="Updates and failures per repo over the last day" {
                title { "Updates (dots) and failures (squares) per repo over the last day" }
                @for hours in (0..=24).step_by(6) {
                    @let gx = LABELS + plot * (1.0 - f64::from(hours) / 24.0);
                    line.axis x1=(gx) y1=(AXIS - 4.0) x2=(gx) y2=(height) {}
                    text.label x=(gx) y=(12) text-anchor="middle" {
                        @if hours == 0 { "now" } @else { "−" (hours) " h" }
                    }
                }
                @for (i, (repo, moments)) in rows.iter().enumerate() {
                    @let y = AXIS + ROW * i as f64 + ROW / 2.0;
                    text.label x=(0) y=(y + 4.0) { (short(repo)) }
                    line.axis x1=(LABELS) y1=(y) x2=(WIDTH - 10.0) y2=(y) {}
                    @for m in moments {
                        @match m.updated {
                            Some(count) => circle.up cx=(x(m.at)) cy=(y) r="5" {
                                title { (repo) ": updated " (count) " at " (stamp(m.at)) }
                            },
                            None => rect.fail x=(x(m.at) - 4.0) y=(y - 4.0) width="8" height="8" {
                                title { (repo) ": failed at " (stamp(m.at)) }
                            },
                        }
                    }
                }
            }
        }
    }
}

/// A repo's name, cut to fit the label column.
fn short(name: &str) -> String {
    match name.char_indices().nth(22) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_string(),
    }
}
