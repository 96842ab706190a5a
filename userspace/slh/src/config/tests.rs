// SPDX-License-Identifier: MIT OR Apache-2.0
//! Unit tests of the configuration types: the ranges, the names and numbers they parse, what
//! they print, and the round trip through the uapi struct.

use super::*;

fn queues(n: u32) -> Queues {
    Queues::count(n).unwrap()
}

#[test]
fn queue_counts_map_to_the_uapi_int() {
    assert_eq!(Queues::PerCpu.to_raw(), -1);
    assert_eq!(queues(1).to_raw(), 1);
    assert_eq!(queues(1024).to_raw(), 1024);
    assert_eq!(Queues::Count(QueueCount::MAX).to_raw(), 1024);
    assert_eq!(Queues::Count(QueueCount::MIN).to_raw(), 1);
    // 0 would mean "off" to the kernel: no QueueCount holds it, nor anything above 1024.
    for bad in [0, 1025, u32::MAX] {
        assert_eq!(QueueCount::new(bad), None, "{bad}");
        assert_eq!(Queues::count(bad), None, "{bad}");
        let error = QueueCount::try_from(bad).unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::QueueCount);
        assert_eq!(error.input(), bad.to_string());
        assert!(error.to_string().contains("expected 1..=1024"), "{error}");
    }
    assert_eq!(QueueCount::try_from(16).map(u32::from), Ok(16));
    assert_eq!(QueueCount::new(7).unwrap().to_string(), "7");
}

#[test]
fn queue_counts_parse() {
    assert_eq!("64".parse::<Queues>(), Ok(queues(64)));
    assert_eq!(" cpus ".parse::<Queues>(), Ok(Queues::PerCpu));
    assert_eq!("-1".parse::<Queues>(), Ok(Queues::PerCpu));
    for bad in ["0", "1025", "-2", "x", ""] {
        let error = bad.parse::<Queues>().unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::QueueCount, "{bad:?}");
        assert_eq!(error.input(), bad);
        assert_eq!(
            error.to_string(),
            format!("invalid queue count {bad:?}: expected 1..=1024 or \"cpus\"")
        );
    }
    // A std error, so that `?` in a function returning Box<dyn Error> takes it.
    let _: Box<dyn std::error::Error + Send + Sync> = "0".parse::<Queues>().unwrap_err().into();
}

#[test]
fn max_wait_maps_to_the_uapi_field() {
    assert_eq!(MaxWait::default(), MaxWait::Millis(200));
    assert_eq!(MaxWait::Strict.to_raw(Op::Enable).unwrap(), 0);
    assert_eq!(MaxWait::Millis(1).to_raw(Op::Enable).unwrap(), 1);
    assert_eq!(MaxWait::Millis(60_000).to_raw(Op::Enable).unwrap(), 60_000);
    // Above the kernel's limit; and Millis(0), which is Strict by its name.
    for bad in [0, 60_001, u32::MAX] {
        let error = MaxWait::Millis(bad).to_raw(Op::Enable).unwrap_err();
        assert!(matches!(error, Error::OutOfRange { .. }), "{bad}");
        assert_eq!(error.errno(), Some(libc::EINVAL));
        assert!(error.to_string().contains(&format!("max wait (ms) {bad}")));
    }
    assert_eq!(MaxWait::from_millis(0), MaxWait::Strict);
    assert_eq!(MaxWait::from_millis(150), MaxWait::Millis(150));
    assert_eq!(MaxWait::Millis(150).as_millis(), 150);
    assert_eq!(MaxWait::Strict.as_millis(), 0);
    assert_eq!(
        MaxWait::Millis(150).as_duration(),
        Some(Duration::from_millis(150))
    );
    assert_eq!(MaxWait::Strict.as_duration(), None);
    assert!(MaxWait::Strict.is_strict() && !MaxWait::DEFAULT.is_strict());
    assert_eq!(MaxWait::Millis(150).to_string(), "150 ms");
    assert_eq!(MaxWait::Strict.to_string(), "0 ms (strict)");
}

#[test]
fn max_waits_parse() {
    for (text, expected) in [
        ("0", MaxWait::Strict),
        ("strict", MaxWait::Strict),
        (" Strict ", MaxWait::Strict),
        ("0ms", MaxWait::Strict),
        ("150", MaxWait::Millis(150)),
        ("150ms", MaxWait::Millis(150)),
        ("150 ms", MaxWait::Millis(150)),
        ("60000", MaxWait::Millis(60_000)),
    ] {
        assert_eq!(text.parse::<MaxWait>(), Ok(expected), "{text:?}");
    }
    // What Display writes for a bounded wait parses back.
    assert_eq!(
        MaxWait::Millis(7).to_string().parse::<MaxWait>(),
        Ok(MaxWait::Millis(7))
    );
    for bad in ["60001", "-1", "+5", "1s", "ms", "", "x", "1.5"] {
        let error = bad.parse::<MaxWait>().unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::MaxWait);
        assert!(error.to_string().contains("0..=60000"), "{bad:?}: {error}");
    }
}

#[test]
fn config_round_trips_through_the_struct() {
    let config = Config::new(queues(8), HashFn::Crc16)
        .with_input(HashInput::FourTuple)
        .with_max_wait(MaxWait::Millis(150));
    assert_eq!(
        (config.queues, config.hash, config.input, config.max_wait),
        (
            queues(8),
            HashFn::Crc16,
            HashInput::FourTuple,
            MaxWait::Millis(150)
        )
    );
    assert_eq!(
        Config::new(Queues::PerCpu, HashFn::Toeplitz)
            .with_queues(queues(8))
            .with_hash(HashFn::Crc16)
            .with_input(HashInput::FourTuple)
            .with_max_wait(MaxWait::Millis(150)),
        config
    );
    let raw = config.to_raw(Op::Enable).unwrap();
    assert_eq!(
        raw,
        SockLevelHash {
            queues: 8,
            hash: 4,
            input: 2,
            flags: 0,
            max_wait_ms: 150
        }
    );
    assert_eq!(Config::from_raw(raw, Op::ReadConfig).unwrap(), Some(config));
    assert_eq!(
        config.to_string(),
        "8 queues, hash crc16, input four-tuple, max wait 150 ms"
    );
    let per_cpu = Config::new(Queues::PerCpu, HashFn::Toeplitz);
    assert_eq!(
        per_cpu.to_string(),
        "one queue per CPU, hash toeplitz, input client, max wait 200 ms"
    );
    assert_eq!(per_cpu.to_raw(Op::Enable).unwrap().queues, -1);
    assert_eq!(per_cpu.input, HashInput::ClientAddr);
    assert_eq!(per_cpu.max_wait, MaxWait::Millis(200));
    assert_eq!(per_cpu.to_raw(Op::Enable).unwrap().max_wait_ms, 200);

    let strict = config.with_max_wait(MaxWait::Strict);
    assert_eq!(strict.to_raw(Op::Enable).unwrap().max_wait_ms, 0);
    assert_eq!(
        Config::from_raw(strict.to_raw(Op::Enable).unwrap(), Op::ReadConfig).unwrap(),
        Some(strict)
    );
    assert!(strict.to_string().ends_with(", max wait 0 ms (strict)"));
    // A wait the kernel would refuse is refused before the call.
    let error = config
        .with_max_wait(MaxWait::Millis(60_001))
        .to_raw(Op::Enable)
        .unwrap_err();
    assert!(matches!(
        error,
        Error::OutOfRange {
            op: Op::Enable,
            value: 60_001,
            ..
        }
    ));
}

#[test]
fn the_kernel_reads_the_struct_as_the_library_meant_it() {
    use sock_level_hash_core::options::{self, parse_config};
    for max_wait in [
        MaxWait::Strict,
        MaxWait::Millis(1),
        MaxWait::DEFAULT,
        MaxWait::Millis(60_000),
    ] {
        let config = Config::new(queues(8), HashFn::XorFoldSrc).with_max_wait(max_wait);
        let raw = config.to_raw(Op::Enable).unwrap();
        let parsed = parse_config(crate::sys::Pod::as_bytes(&raw), 4).unwrap();
        assert_eq!(
            parsed,
            options::Config {
                queues: 8,
                hash: HashFn::XorFoldSrc,
                input: HashInput::ClientAddr,
                max_wait_ms: max_wait.as_millis(),
            }
        );
    }
}

#[test]
fn config_read_back_rejects_what_the_uapi_never_returns() {
    let off = SockLevelHash::default();
    assert_eq!(Config::from_raw(off, Op::ReadConfig).unwrap(), None);
    let bad = |raw| {
        Config::from_raw(raw, Op::ReadConfig)
            .unwrap_err()
            .to_string()
    };
    let base = SockLevelHash {
        queues: 2,
        ..Default::default()
    };
    assert!(bad(SockLevelHash { queues: -1, ..base }).contains("queue count -1"));
    assert!(bad(SockLevelHash { hash: 5, ..base }).contains("unknown hash function 5"));
    assert!(bad(SockLevelHash { input: 3, ..base }).contains("unknown hash input 3"));
    assert!(bad(SockLevelHash {
        max_wait_ms: 60_001,
        ..base
    })
    .contains("max wait 60001 ms"));
    // What a kernel without the bounded wait leaves in the field: strict, as it was.
    assert_eq!(
        Config::from_raw(base, Op::ReadConfig)
            .unwrap()
            .unwrap()
            .max_wait,
        MaxWait::Strict
    );
}

#[test]
fn names_parse_back_and_cover_every_variant() {
    for n in 0..5 {
        let hash = HashFn::try_from(n).unwrap();
        assert_eq!(parse_hash_fn(hash_fn_name(hash)), Ok(hash));
        assert_eq!(parse_hash_fn(&n.to_string()), Ok(hash));
    }
    for n in 0..3 {
        let input = HashInput::try_from(n).unwrap();
        assert_eq!(parse_hash_input(hash_input_name(input)), Ok(input));
    }
    assert_eq!(parse_hash_fn("CRC16"), Ok(HashFn::Crc16));
    let error = parse_hash_fn("md5").unwrap_err();
    assert_eq!(error.kind(), ParseErrorKind::HashFn);
    assert!(
        error.to_string().contains("toeplitz, src-ip-mod"),
        "{error}"
    );
    assert!(parse_hash_fn("5").is_err());
    let error = parse_hash_input(" server ").unwrap_err();
    assert_eq!(
        (error.kind(), error.input()),
        (ParseErrorKind::HashInput, "server")
    );
    assert!(
        error
            .to_string()
            .contains("client, client-server, four-tuple"),
        "{error}"
    );
}
