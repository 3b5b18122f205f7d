//! Whole-workflow checks that need every step at once: cycles in `needs`, which steps
//! are upstream of which, and the `steps.<id>` references read by templates.

use std::collections::{HashMap, HashSet};

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
    let mut out: Vec<String> = Vec::new();
    scan_steps(text, |id, _| {
        if !id.is_empty() && !out.iter().any(|s| s == id) {
            out.push(id.to_string());
        }
    });
    out
}

/// The step ids a template or expression reads, or `None` when it uses `steps` in a way
/// that could read any step (`steps | items`, `steps[name]`, `for s in steps`). The
/// engine puts only these steps into the scope it renders with.
pub(crate) fn steps_read(text: &str) -> Option<Vec<&str>> {
    let mut out: Vec<&str> = Vec::new();
    let mut every = false;
    scan_steps(text, |id, exact| {
        if !exact {
            every = true;
        } else if !out.contains(&id) {
            out.push(id);
        }
    });
    (!every).then_some(out)
}

/// Calls `found(id, exact)` for each use of the name `steps`: `id` is what follows as
/// `.id` or `['id`, possibly empty; `exact` says the use reads exactly that step.
fn scan_steps<'t>(text: &'t str, mut found: impl FnMut(&'t str, bool)) {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("steps") {
        let start = from + at;
        let end = start + "steps".len();
        from = end;
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(end).copied();
        if before.is_some_and(|b| is_ident(b) || b == b'.') || after.is_some_and(is_ident) {
            continue;
        }
        let rest = text[end..].trim_start();
        if let Some(r) = rest.strip_prefix('.') {
            let id = ident_prefix(r.trim_start());
            found(id, !id.is_empty());
        } else if let Some(r) = rest.strip_prefix('[') {
            let r = r.trim_start();
            match r.strip_prefix(['\'', '"']) {
                Some(q) => {
                    let id = ident_prefix(q);
                    let quote = &r[..1];
                    let closed = q[id.len()..]
                        .strip_prefix(quote)
                        .is_some_and(|c| c.trim_start().starts_with(']'));
                    found(id, closed && !id.is_empty());
                }
                None => found("", false),
            }
        } else {
            found("", false);
        }
    }
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
    /// The first step with each id.
    index: HashMap<&'a str, usize>,
}

impl<'a> Graph<'a> {
    /// Build from ids and needs by id; names that are not steps are left out.
    pub fn new(steps: &[(&'a str, Vec<&str>)]) -> Self {
        let ids: Vec<&str> = steps.iter().map(|(id, _)| *id).collect();
        let mut index = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            index.entry(*id).or_insert(i);
        }
        let needs = steps
            .iter()
            .map(|(_, ns)| ns.iter().filter_map(|n| index.get(n).copied()).collect())
            .collect();
        Graph { ids, needs, index }
    }

    /// The index of the first step with this id.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Every distinct cycle, each as ids in `needs` order starting and ending at the
    /// earliest step of the cycle (e.g. `[a, b, a]`: a needs b, b needs a).
    pub fn cycles(&self) -> Vec<Vec<&'a str>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            /// On the open chain, at this depth.
            Open(usize),
            Done,
        }
        let n = self.ids.len();
        let mut mark = vec![Mark::New; n];
        let mut found: Vec<Vec<usize>> = Vec::new();
        for root in 0..n {
            if mark[root] != Mark::New {
                continue;
            }
            // Iterative DFS: (node, next edge to follow); `stack` is the open chain.
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            mark[root] = Mark::Open(0);
            while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
                if let Some(&next) = self.needs[node].get(*edge) {
                    *edge += 1;
                    match mark[next] {
                        Mark::New => {
                            mark[next] = Mark::Open(stack.len());
                            stack.push((next, 0));
                        }
                        Mark::Open(at) => {
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

    /// Which of `targets` step `from` needs, directly or through other steps (itself
    /// only through a cycle). The search stops as soon as every target is found, so a
    /// step that reads what it needs directly visits a step or two, not the whole graph.
    pub fn upstream_of(&self, from: usize, targets: &HashSet<usize>) -> HashSet<usize> {
        let mut found = HashSet::new();
        let mut seen = HashSet::new();
        let mut todo: Vec<usize> = self.needs[from].clone();
        while let Some(s) = todo.pop() {
            if !seen.insert(s) {
                continue;
            }
            if targets.contains(&s) {
                found.insert(s);
                if found.len() == targets.len() {
                    break;
                }
            }
            todo.extend(self.needs[s].iter().copied());
        }
        found
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
    use std::collections::BTreeSet;

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
        let all: HashSet<usize> = (0..4).collect();
        let up = |from| -> BTreeSet<usize> { g.upstream_of(from, &all).into_iter().collect() };
        assert_eq!(up(2), BTreeSet::from([0, 1]));
        assert!(up(0).is_empty());
        assert_eq!(up(3), BTreeSet::from([0, 3]));
    }

    #[test]
    fn upstream_search_stops_at_its_targets() {
        // A chain: s0 <- s1 <- ... <- s999.
        let ids: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
        let steps: Vec<(&str, Vec<&str>)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    id.as_str(),
                    ids[..i].last().map(String::as_str).into_iter().collect(),
                )
            })
            .collect();
        let g = Graph::new(&steps);
        assert_eq!(
            g.upstream_of(999, &HashSet::from([998])),
            HashSet::from([998])
        );
        assert_eq!(
            g.upstream_of(999, &HashSet::from([0, 500])),
            HashSet::from([0, 500])
        );
        assert!(g.upstream_of(5, &HashSet::from([6])).is_empty());
        assert_eq!(g.index("s7"), Some(7));
    }

    #[test]
    fn knows_which_steps_a_text_reads() {
        assert_eq!(
            steps_read(
                "{{ steps.a.output }} {{ steps['b'].x }} {{ steps[ \"c\" ] }} {{ steps.a }}"
            ),
            Some(vec!["a", "b", "c"])
        );
        assert_eq!(
            steps_read("input.steps.x and mysteps.y and steps_total"),
            Some(vec![])
        );
        for dynamic in [
            "{{ steps | tojson }}",
            "{% for s in steps %}{{ s }}{% endfor %}",
            "{{ steps[input.which] }}",
            "{{ steps['a' ~ input.n] }}",
            "{{ steps['a }}",
            "steps",
        ] {
            assert_eq!(steps_read(dynamic), None, "{dynamic}");
        }
        // The validator's scan is unchanged: a partial `steps['a` still names a.
        assert_eq!(step_refs("{{ steps['a' ~ input.n] }}"), vec!["a"]);
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
