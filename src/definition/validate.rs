//! Whole-workflow checks that need every step at once: cycles in `needs`, which steps
//! are upstream of which, and the `steps.<id>` references read by templates.

use std::collections::BTreeSet;

/// The closest candidate within edit distance 2 of `word`, if any (and never one
/// that shares nothing with a short word).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= 2 && *d < len)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The step ids a template or expression reads as `steps.<id>` or `steps['<id>']`.
pub(crate) fn step_refs(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("steps") {
        let start = from + found;
        let end = start + "steps".len();
        from = end;
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| is_ident(b) || b == b'.') {
            continue;
        }
        let rest = text[end..].trim_start();
        let id = if let Some(r) = rest.strip_prefix('.') {
            ident_prefix(r.trim_start())
        } else if let Some(r) = rest.strip_prefix('[') {
            let r = r.trim_start();
            r.strip_prefix(['\'', '"']).map(ident_prefix).unwrap_or("")
        } else {
            ""
        };
        if !id.is_empty() && !out.iter().any(|s: &String| s == id) {
            out.push(id.to_string());
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn ident_prefix(s: &str) -> &str {
    let n = s.bytes().take_while(|b| is_ident(*b)).count();
    &s[..n]
}

/// A step graph: each step's id and the indices of the steps it needs.
pub(crate) struct Graph<'a> {
    pub ids: Vec<&'a str>,
    pub needs: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    /// Build from ids and needs by id; names that are not steps are left out.
    pub fn new(steps: &[(&'a str, Vec<&str>)]) -> Self {
        let ids: Vec<&str> = steps.iter().map(|(id, _)| *id).collect();
        let needs = steps
            .iter()
            .map(|(_, ns)| {
                ns.iter()
                    .filter_map(|n| ids.iter().position(|i| i == n))
                    .collect()
            })
            .collect();
        Graph { ids, needs }
    }

    /// Every distinct cycle, each as ids in `needs` order starting and ending at the
    /// earliest step of the cycle (e.g. `[a, b, a]`: a needs b, b needs a).
    pub fn cycles(&self) -> Vec<Vec<&'a str>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let n = self.ids.len();
        let mut mark = vec![Mark::New; n];
        let mut found: Vec<Vec<usize>> = Vec::new();
        for root in 0..n {
            if mark[root] != Mark::New {
                continue;
            }
            // Iterative DFS: (node, next edge to follow); `path` is the open chain.
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            mark[root] = Mark::Open;
            while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
                if let Some(&next) = self.needs[node].get(*edge) {
                    *edge += 1;
                    match mark[next] {
                        Mark::New => {
                            mark[next] = Mark::Open;
                            stack.push((next, 0));
                        }
                        Mark::Open => {
                            let at = stack.iter().position(|(s, _)| *s == next).unwrap_or(0);
                            let cycle: Vec<usize> = stack[at..].iter().map(|(s, _)| *s).collect();
                            found.push(rotate_to_min(cycle));
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    stack.pop();
                }
            }
        }
        found.sort();
        found.dedup();
        found
            .into_iter()
            .map(|c| {
                let mut ids: Vec<&str> = c.iter().map(|i| self.ids[*i]).collect();
                if let Some(first) = ids.first().copied() {
                    ids.push(first);
                }
                ids
            })
            .collect()
    }

    /// For each step, the set of steps it transitively needs.
    pub fn upstream(&self) -> Vec<BTreeSet<usize>> {
        (0..self.ids.len())
            .map(|start| {
                let mut seen = BTreeSet::new();
                let mut todo: Vec<usize> = self.needs[start].clone();
                while let Some(s) = todo.pop() {
                    if seen.insert(s) {
                        todo.extend(self.needs[s].iter().copied());
                    }
                }
                seen
            })
            .collect()
    }
}

fn rotate_to_min(mut cycle: Vec<usize>) -> Vec<usize> {
    if let Some(min_at) = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, v)| **v)
        .map(|(i, _)| i)
    {
        cycle.rotate_left(min_at);
    }
    cycle
}

/// Whether `s` is a workflow name: `[a-z0-9][a-z0-9_-]*`.
pub(crate) fn is_workflow_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Whether `s` is a step id: `[a-z][a-z0-9_]*`.
pub(crate) fn is_step_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(steps: &'a [(&'a str, &'a [&'a str])]) -> Graph<'a> {
        let v: Vec<(&str, Vec<&str>)> = steps.iter().map(|(i, n)| (*i, n.to_vec())).collect();
        Graph::new(&v)
    }

    #[test]
    fn finds_a_two_step_cycle_once() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &["a"])]);
        assert_eq!(g.cycles(), vec![vec!["a", "b", "a"]]);
    }

    #[test]
    fn finds_self_loops_and_longer_cycles() {
        let g = graph(&[("x", &["x"]), ("a", &["c"]), ("b", &["a"]), ("c", &["b"])]);
        assert_eq!(g.cycles(), vec![vec!["x", "x"], vec!["a", "c", "b", "a"]]);
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn upstream_is_transitive_and_survives_cycles() {
        let g = graph(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b", "zz"]),
            ("d", &["d", "a"]),
        ]);
        let up = g.upstream();
        assert_eq!(up[2], BTreeSet::from([0, 1]));
        assert!(up[0].is_empty());
        assert_eq!(up[3], BTreeSet::from([0, 3]));
    }

    #[test]
    fn scans_step_references() {
        assert_eq!(
            step_refs("{{ steps.a.output.x }} and {{ steps . b }} {{ steps['c'] }}"),
            vec!["a", "b", "c"]
        );
        assert!(step_refs("{{ input.steps.a }} {{ mysteps.b }} {{ steps }}").is_empty());
        assert_eq!(
            step_refs("steps.a.decision == 'x' and steps.a.comment"),
            vec!["a"]
        );
    }

    #[test]
    fn suggests_within_two_edits() {
        let keys = ["timeout", "deadline", "retry"];
        assert_eq!(closest("timout", keys.iter().copied()), Some("timeout"));
        assert_eq!(closest("zzzzzz", keys.iter().copied()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn names_and_ids() {
        assert!(is_workflow_name("invoice-approval2"));
        assert!(!is_workflow_name("Invoice"));
        assert!(!is_workflow_name(""));
        assert!(is_step_id("match_po"));
        assert!(!is_step_id("1a"));
        assert!(!is_step_id("a-b"));
    }
}
