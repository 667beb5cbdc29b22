//! Choosing proxy numbers for the SMS participants of a group: the heart of unambiguous routing.
//!
//! A route is the pair (our number, their phone). Each pair names at most one conversation, so
//! a reply to our number from that phone lands in exactly one place. A phone joining a group
//! gets a proxy number such that its pair is free. Numbers are tried in one order for every
//! phone (the group's own proxies first, most used first, then free pool numbers), so a group
//! keeps one number unless a pair is taken, and numbers are reused across groups that share no
//! phone. See docs/routing.md.
//!
//! This module is pure: the service asks the store which pairs are taken and feeds the answers
//! back until every phone has a number or one cannot get any.

use std::collections::{HashMap, HashSet};

use super::phone::E164;

/// (our number, their phone)
pub type Pair = (E164, E164);

#[derive(Debug, PartialEq, Eq)]
pub enum Choice {
    /// Every phone has a proxy number whose pair is known to be free.
    Done(Vec<(E164, E164)>),
    /// These pairs must be looked up before a choice can be made.
    Check(Vec<Pair>),
    /// Every candidate is taken for this phone.
    Exhausted(E164),
}

/// One step of the choice. `checked` holds every pair looked up so far, `taken` those found in
/// use. Returns (phone, proxy) in the order of `phones`.
pub fn choose_proxies(
    phones: &[E164],
    candidates: &[E164],
    checked: &HashSet<Pair>,
    taken: &HashSet<Pair>,
) -> Choice {
    let mut chosen = Vec::with_capacity(phones.len());
    let mut to_check = Vec::new();
    for phone in phones {
        let first_free = candidates.iter().find(|n| !taken.contains(&((*n).clone(), phone.clone())));
        let Some(number) = first_free else {
            return Choice::Exhausted(phone.clone());
        };
        let pair = (number.clone(), phone.clone());
        if checked.contains(&pair) {
            chosen.push((phone.clone(), number.clone()));
        } else {
            to_check.push(pair);
        }
    }
    if to_check.is_empty() {
        Choice::Done(chosen)
    } else {
        Choice::Check(to_check)
    }
}

/// The order in which numbers are offered: the group's proxies, most used first, then the free
/// pool numbers it does not use yet.
pub fn candidate_order(group_proxies: &[E164], pool: &[E164]) -> Vec<E164> {
    let mut counts: HashMap<&E164, usize> = HashMap::new();
    for number in group_proxies {
        *counts.entry(number).or_default() += 1;
    }
    let mut used: Vec<(&E164, usize)> = counts.into_iter().collect();
    used.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut order: Vec<E164> = used.into_iter().map(|(n, _)| n.clone()).collect();
    for number in pool {
        if !order.contains(number) {
            order.push(number.clone());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        E164::from_stored(s.to_string())
    }

    /// Runs the step loop against a fixed set of taken pairs, counting lookups.
    fn run(
        phones: &[E164],
        candidates: &[E164],
        in_use: &HashSet<Pair>,
    ) -> (Result<Vec<(E164, E164)>, E164>, usize) {
        let (mut checked, mut taken, mut lookups) = (HashSet::new(), HashSet::new(), 0);
        loop {
            match choose_proxies(phones, candidates, &checked, &taken) {
                Choice::Done(chosen) => return (Ok(chosen), lookups),
                Choice::Exhausted(phone) => return (Err(phone), lookups),
                Choice::Check(pairs) => {
                    lookups += 1;
                    for pair in pairs {
                        if in_use.contains(&pair) {
                            taken.insert(pair.clone());
                        }
                        checked.insert(pair);
                    }
                }
            }
        }
    }

    #[test]
    fn a_group_keeps_one_number_when_its_pairs_are_free() {
        let phones = [n("+1p1"), n("+1p2"), n("+1p3")];
        let (chosen, lookups) = run(&phones, &[n("+1A"), n("+1B")], &HashSet::new());
        assert!(chosen.unwrap().iter().all(|(_, proxy)| *proxy == n("+1A")));
        assert_eq!(lookups, 1, "one batched lookup");
    }

    #[test]
    fn a_taken_pair_moves_only_that_phone_to_the_next_number() {
        let phones = [n("+1p1"), n("+1p2")];
        let in_use = HashSet::from([(n("+1A"), n("+1p2"))]);
        let (chosen, lookups) = run(&phones, &[n("+1A"), n("+1B")], &in_use);
        assert_eq!(chosen.unwrap(), [(n("+1p1"), n("+1A")), (n("+1p2"), n("+1B"))]);
        assert_eq!(lookups, 2);
    }

    #[test]
    fn a_phone_whose_pairs_are_all_taken_exhausts_the_pool() {
        let in_use = HashSet::from([(n("+1A"), n("+1p1")), (n("+1B"), n("+1p1"))]);
        let (chosen, _) = run(&[n("+1p1")], &[n("+1A"), n("+1B")], &in_use);
        assert_eq!(chosen, Err(n("+1p1")));
        assert_eq!(run(&[n("+1p1")], &[], &HashSet::new()).0, Err(n("+1p1")));
    }

    #[test]
    fn numbers_are_reused_across_groups_that_share_no_phone() {
        // Group 1 holds (A, p1); group 2 with p2 and p3 still starts on A.
        let in_use = HashSet::from([(n("+1A"), n("+1p1"))]);
        let (chosen, _) = run(&[n("+1p2"), n("+1p3")], &[n("+1A"), n("+1B")], &in_use);
        assert!(chosen.unwrap().iter().all(|(_, proxy)| *proxy == n("+1A")));
    }

    #[test]
    fn candidates_put_the_groups_most_used_proxy_first() {
        let order = candidate_order(&[n("+1B"), n("+1C"), n("+1B")], &[n("+1A"), n("+1B"), n("+1D")]);
        assert_eq!(order, [n("+1B"), n("+1C"), n("+1A"), n("+1D")]);
    }
}
