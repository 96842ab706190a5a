//! twos against a transcription of `ip_vs_twos_schedule()` (same reads, same bounds asked of
//! the random source, same choice) with chosen random numbers, the draw against the weights
//! said plainly, and `u32_below` against a transcription of `__get_random_u32_below()`.

mod loads;

use ipvs_sched_core::twos::{pick, u32_below};
use loads::*;
use proptest::prelude::*;
use std::cell::RefCell;

/// `ip_vs_twos_schedule()`, line by line; `rand(ceil)` is `get_random_u32_below(ceil)`.
fn c_twos(c: &CList, rand: &mut dyn FnMut(u32) -> u32) -> Option<usize> {
    let mut choice1: Option<usize> = None;
    let mut choice2: Option<usize> = None;
    let (mut weight1, mut weight2, mut overhead1) = (-1i32, -1i32, 0i32);
    let mut overhead2 = 0i32; // uninitialized in C; only read once set
    let mut total_weight: i32 = 0;
    for i in 0..c.len() {
        if !c.overloaded(i) {
            let weight = c.weight(i);
            if weight > 0 {
                total_weight = total_weight.wrapping_add(weight);
                choice1 = Some(i);
            }
        }
    }
    choice1?;
    total_weight = total_weight.wrapping_add(1);
    let mut rweight1 = rand(total_weight as u32) as i32;
    let mut rweight2 = rand(total_weight as u32) as i32;
    for i in 0..c.len() {
        if c.overloaded(i) {
            continue;
        }
        let weight = c.weight(i);
        if weight <= 0 {
            continue;
        }
        rweight1 = rweight1.wrapping_sub(weight);
        rweight2 = rweight2.wrapping_sub(weight);
        if rweight1 <= 0 && weight1 == -1 {
            choice1 = Some(i);
            weight1 = weight;
            overhead1 = c.conn_overhead(i);
        }
        if rweight2 <= 0 && weight2 == -1 {
            choice2 = Some(i);
            weight2 = weight;
            overhead2 = c.conn_overhead(i);
        }
        if weight1 != -1 && weight2 != -1 {
            break;
        }
    }
    if choice2.is_some() && weight2.wrapping_mul(overhead1) > weight1.wrapping_mul(overhead2) {
        choice1 = choice2;
    }
    choice1
}

type Reads = Vec<(usize, Field)>;

/// A random source giving `r[0]`, `r[1]`, ... modulo the bound asked, noting the bounds.
fn source(asked: &RefCell<Vec<u32>>, r: [u32; 2]) -> impl FnMut(u32) -> u32 + '_ {
    move |ceil: u32| {
        let mut a = asked.borrow_mut();
        let v = r[a.len() % 2];
        a.push(ceil);
        if ceil == 0 {
            v
        } else {
            v % ceil
        }
    }
}

/// Runs both with the same two random values (taken modulo the bound, as a source would
/// give); returns each one's choice, reads and the bounds asked.
fn run(s: &[Server], r: [u32; 2]) -> [(Option<usize>, Reads, Vec<u32>); 2] {
    let log = Log::default();
    let asked = RefCell::new(vec![]);
    let got = pick(recs(s, &log), source(&asked, r));
    let core = (got, log.take(), asked.take());
    let mut rand = source(&asked, r);
    let want = c_twos(&CList { s, log: &log }, &mut rand);
    [core, (want, log.take(), asked.take())]
}

fn idx(s: &[Server], r: [u32; 2]) -> Option<usize> {
    run(s, r)[0].0
}

#[test]
fn each_draw_lands_in_proportion_to_weight() {
    // Weights 2 and 3, no load: the first draw decides (a tie keeps it). Draws 0..=5: C's
    // `[0, total]` gives the first server one more value than its weight.
    let s = [server(2, 0, 0, false), server(3, 0, 0, false)];
    let got: Vec<usize> = (0..6).map(|r| idx(&s, [r, 0]).unwrap()).collect();
    assert_eq!(got, [0, 0, 0, 1, 1, 1]);
    // Overloaded and quiesced servers are not drawn.
    let s = [
        server(2, 0, 0, true),
        server(0, 0, 0, false),
        server(3, 0, 0, false),
    ];
    assert!((0..5).all(|r| idx(&s, [r, r]) == Some(2)));
    assert_eq!(idx(&s[..2], [0, 0]), None);
}

#[test]
fn the_less_loaded_of_the_two_per_weight() {
    // First draw on server 0 (overhead 512, weight 1), second on server 1 (overhead 512,
    // weight 3): 3 * 512 > 1 * 512, the second.
    let s = [server(1, 2, 0, false), server(3, 2, 0, false)];
    assert_eq!(idx(&s, [0, 4]), Some(1));
    // Equal ratios: the first draw.
    let s = [server(1, 1, 0, false), server(3, 3, 0, false)];
    assert_eq!(idx(&s, [0, 4]), Some(0));
    assert_eq!(idx(&s, [4, 0]), Some(1));
}

#[test]
fn int_arithmetic_wraps_as_c() {
    // Two weights of INT_MAX: the sum wraps to -2, + 1 = -1, asked as 0xffffffff.
    let s = [server(i32::MAX, 0, 0, false), server(i32::MAX, 0, 0, false)];
    let [core, c] = run(&s, [7, 0xffff_fff0]);
    assert_eq!(core.2, [u32::MAX, u32::MAX]);
    assert_eq!(core.0, c.0);
}

/// `__get_random_u32_below()`, line by line.
fn c_below(ceil: u32, next: &mut dyn FnMut() -> u32) -> u32 {
    let rand = next();
    if ceil == 0 {
        return rand;
    }
    let mut mult = ceil as u64 * rand as u64;
    if (mult as u32) < ceil {
        let bound = ceil.wrapping_neg() % ceil;
        while (mult as u32) < bound {
            mult = ceil as u64 * next() as u64;
        }
    }
    (mult >> 32) as u32
}

#[test]
fn u32_below_by_hand() {
    // ceil 0: the value itself; ceil 1: always 0.
    assert_eq!(u32_below(0, || 1234), 1234);
    assert_eq!(u32_below(1, || u32::MAX), 0);
    // ceil 6: 0xffffffff * 6 >> 32 = 5; 0x80000001 * 6 = 0x3_0000_0006 >> 32 = 3.
    assert_eq!(u32_below(6, || u32::MAX), 5);
    assert_eq!(u32_below(6, || 0x8000_0001), 3);
    // 0x80000000 * 6 = 0x3_0000_0000: low half 0 < 2^32 mod 6 = 4, rejected.
    let mut vals = [0x8000_0000u32, u32::MAX].into_iter();
    assert_eq!(u32_below(6, || vals.next().unwrap()), 5);
    // ceil 3, first value 0: low half 0 < bound 2^32 mod 3 = 1, rejected; then 0x55555556:
    // 3 * 0x55555556 = 0x1_0000_0002, low half 2 >= 1: result 1.
    let mut vals = [0u32, 0x5555_5556].into_iter();
    assert_eq!(u32_below(3, || vals.next().unwrap()), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn matches_c(s in any_list(), r in any::<[u32; 2]>()) {
        let [core, c] = run(&s, r);
        prop_assert_eq!(core, c);
    }

    #[test]
    fn draws_plainly(s in any_small_list(), r in any::<[u32; 2]>()) {
        let ok: Vec<usize> = (0..s.len()).filter(|&i| !s[i].overloaded && s[i].weight > 0).collect();
        let got = idx(&s, r);
        if ok.is_empty() {
            prop_assert_eq!(got, None);
            return Ok(());
        }
        let total: u32 = ok.iter().map(|&i| s[i].weight as u32).sum();
        // The server a draw lands on: the first whose running sum of weights reaches it.
        let land = |v: u32| {
            let v = v % (total + 1);
            let mut sum = 0;
            *ok.iter().find(|&&i| { sum += s[i].weight as u32; sum >= v }).unwrap()
        };
        let (a, b) = (land(r[0]), land(r[1]));
        let oh = |i: usize| (s[i].activeconns * 256 + s[i].totalconns) as i64;
        // b only when strictly less loaded per weight.
        let want = if oh(b) * (s[a].weight as i64) < oh(a) * (s[b].weight as i64) { b } else { a };
        prop_assert_eq!(got, Some(want));
    }

    #[test]
    fn u32_below_matches_c(ceil in prop_oneof![Just(0u32), 1..10u32, any::<u32>()],
                           vals in prop::collection::vec(any::<u32>(), 64)) {
        let mut a = vals.iter().copied().cycle();
        let mut b = vals.iter().copied().cycle();
        let got = u32_below(ceil, || a.next().unwrap());
        prop_assert_eq!(got, c_below(ceil, &mut || b.next().unwrap()));
        if ceil != 0 {
            prop_assert!(got < ceil);
        }
    }
}
