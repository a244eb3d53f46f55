//! Unified diffs of rewritten files, for dry runs. A rewrite never adds or removes a line, so
//! lines are compared one to one.

/// Context lines around each change.
const CONTEXT: usize = 2;

/// `--- a/path`, `+++ b/path` and hunks for the lines that differ; empty if none do.
pub(crate) fn unified(path: &str, old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let changed: Vec<usize> = (0..old_lines.len().max(new_lines.len()))
        .filter(|&i| old_lines.get(i) != new_lines.get(i))
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(old_lines.len());
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    for (start, end) in hunks {
        let len = end - start;
        out.push_str(&format!(
            "@@ -{},{len} +{},{len} @@\n",
            start + 1,
            start + 1
        ));
        for i in start..end {
            let (o, n) = (
                old_lines.get(i).copied().unwrap_or(""),
                new_lines.get(i).copied().unwrap_or(""),
            );
            if o == n {
                push_line(&mut out, ' ', o);
            } else {
                push_line(&mut out, '-', o);
                push_line(&mut out, '+', n);
            }
        }
    }
    out
}

fn push_line(out: &mut String, marker: char, line: &str) {
    out.push(marker);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_with_context_merge_when_close() {
        let old = "a\nb\nimage: x:1\nc\nd\ne\nf\ng\nh\nimage: y:1\n";
        let new = old.replace("x:1", "x:2").replace("y:1", "y:2");
        assert_eq!(
            unified("dev/app.yaml", old, &new),
            "--- a/dev/app.yaml\n+++ b/dev/app.yaml\n\
             @@ -1,5 +1,5 @@\n a\n b\n-image: x:1\n+image: x:2\n c\n d\n\
             @@ -8,3 +8,3 @@\n g\n h\n-image: y:1\n+image: y:2\n"
        );
        assert_eq!(unified("f", "same\n", "same\n"), "");
    }
}
