//! A line diff for the plan: readable changes to policy documents and the workflow file.

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// The longest-common-subsequence diff of two texts, line by line. Quadratic, which is fine for
/// policy documents and workflow files (a few hundred lines at most).
pub fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    // table[i][j] = LCS length of a[i..] and b[j..]
    let mut table = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let v = if a.get(i) == b.get(j) {
                cell(&table, i + 1, j + 1) + 1
            } else {
                cell(&table, i + 1, j).max(cell(&table, i, j + 1))
            };
            if let Some(c) = table.get_mut(i).and_then(|r| r.get_mut(j)) {
                *c = v;
            }
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                out.push(Line::Same(x));
                i += 1;
                j += 1;
            }
            (Some(x), Some(_)) if cell(&table, i + 1, j) >= cell(&table, i, j + 1) => {
                out.push(Line::Removed(x));
                i += 1;
            }
            (_, Some(y)) => {
                out.push(Line::Added(y));
                j += 1;
            }
            (Some(x), None) => {
                out.push(Line::Removed(x));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

fn cell(t: &[Vec<usize>], i: usize, j: usize) -> usize {
    t.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0)
}

/// Renders a diff with `-`/`+`/` ` markers, each line indented by `indent`, keeping `context`
/// unchanged lines around each change and eliding the rest with `…`.
pub fn render(old: &str, new: &str, indent: &str, context: usize) -> String {
    let d = lines(old, new);
    let changed: Vec<bool> = d.iter().map(|l| !matches!(l, Line::Same(_))).collect();
    let near = |k: usize| {
        let lo = k.saturating_sub(context);
        let hi = (k + context + 1).min(changed.len());
        changed.get(lo..hi).is_some_and(|w| w.iter().any(|c| *c))
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, l) in d.iter().enumerate() {
        match l {
            Line::Same(s) if near(k) => {
                out.push_str(&format!("{indent}  {s}\n"));
                skipped = false;
            }
            Line::Same(_) => {
                if !skipped {
                    out.push_str(&format!("{indent}  …\n"));
                    skipped = true;
                }
            }
            Line::Removed(s) => {
                out.push_str(&format!("{indent}- {s}\n"));
                skipped = false;
            }
            Line::Added(s) => {
                out.push_str(&format!("{indent}+ {s}\n"));
                skipped = false;
            }
        }
    }
    out
}

/// Renders a whole new text as additions.
pub fn render_new(new: &str, indent: &str) -> String {
    new.lines().map(|l| format!("{indent}+ {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_changes() {
        assert!(
            lines("a\nb", "a\nb")
                .iter()
                .all(|l| matches!(l, Line::Same(_)))
        );
    }

    #[test]
    fn a_changed_line_is_removed_then_added() {
        let d = lines("a\nb\nc", "a\nB\nc");
        assert_eq!(
            d,
            vec![
                Line::Same("a"),
                Line::Removed("b"),
                Line::Added("B"),
                Line::Same("c")
            ]
        );
    }

    #[test]
    fn render_keeps_context_and_elides_the_rest() {
        let old = "1\n2\n3\n4\n5\n6\n7";
        let new = "1\n2\n3\n4\n5\n6\nseven";
        let r = render(old, new, "", 1);
        assert_eq!(r, "  …\n  6\n- 7\n+ seven\n");
    }

    #[test]
    fn additions_at_the_end() {
        let d = lines("a", "a\nb");
        assert_eq!(d, vec![Line::Same("a"), Line::Added("b")]);
    }
}
