// SPDX-License-Identifier: MIT OR Apache-2.0
//! Unit tests of the command line: what each subcommand accepts and refuses, and `slh check`'s
//! exit codes.

use super::*;
use clap::CommandFactory;

#[test]
fn check_exits_0_supported_1_unsupported_2_could_not_tell() {
    use slh::{Error, Op};
    let os = |errno| std::io::Error::from_raw_os_error(errno);
    let (status, stdout, stderr) = check_verdict(Ok(Ok(0)));
    assert_eq!(status, 0);
    assert_eq!(
        stdout.as_deref(),
        Some("socket-level hash: supported by this kernel")
    );
    assert_eq!(stderr, None);
    let unsupported = Error::from_io(Op::ReadConfig, os(libc::ENOPROTOOPT));
    let (status, stdout, stderr) = check_verdict(Ok(Err(unsupported)));
    assert_eq!(status, 1);
    assert!(stdout
        .unwrap()
        .starts_with("socket-level hash: not supported: "));
    assert_eq!(stderr, None);
    let other = Error::from_io(Op::ReadConfig, os(libc::EPERM));
    let (status, stdout, stderr) = check_verdict(Ok(Err(other)));
    assert_eq!((status, stdout), (2, None));
    assert!(stderr
        .unwrap()
        .starts_with("cannot tell: reading SO_SOCKLEVELHASH: "));
    let (status, stdout, stderr) = check_verdict(Err("cannot create a TCP socket: x".into()));
    assert_eq!((status, stdout), (2, None));
    assert_eq!(stderr.as_deref(), Some("cannot create a TCP socket: x"));
}

#[test]
fn command_line_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn demo_options_parse() {
    let cli = Cli::try_parse_from([
        "slh",
        "demo-server",
        "--port",
        "0",
        "--workers",
        "3",
        "--queues",
        "cpus",
        "--hash",
        "crc16",
        "--input",
        "four-tuple",
        "--max-wait",
        "150ms",
        "--epoll",
    ])
    .unwrap();
    let Command::DemoServer(args) = cli.command else {
        panic!("not demo-server")
    };
    assert_eq!(args.queues, Some(Queues::PerCpu));
    assert_eq!(args.hash, HashFn::Crc16);
    assert_eq!(args.input, HashInput::FourTuple);
    assert_eq!(args.max_wait, MaxWait::Millis(150));
    assert!(args.epoll && !args.blocking && !args.off);
    let Command::DemoServer(args) =
        Cli::try_parse_from(["slh", "demo-server", "--port", "0", "--workers", "2"])
            .unwrap()
            .command
    else {
        panic!("not demo-server")
    };
    assert_eq!(args.max_wait, MaxWait::DEFAULT);
    for bad in [
        &["--workers", "0"][..],
        &["--workers", "2", "--queues", "0"],
        &["--workers", "2", "--hash", "md5"],
        &["--workers", "2", "--blocking", "--epoll"],
        &["--workers", "2", "--max-wait", "60001"],
        &["--workers", "2", "--off", "--max-wait", "0"],
    ] {
        let argv = ["slh", "demo-server", "--port", "1"].iter().chain(bad);
        assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
    }
}

#[test]
fn info_needs_a_whole_target() {
    assert!(Cli::try_parse_from(["slh", "info"]).is_err());
    assert!(Cli::try_parse_from(["slh", "info", "--pid", "1"]).is_err());
    assert!(
        Cli::try_parse_from(["slh", "info", "--port", "80", "--pid", "1", "--fd", "3"]).is_err()
    );
    assert!(Cli::try_parse_from(["slh", "info", "--pid", "1", "--fd", "3"]).is_ok());
    assert!(Cli::try_parse_from(["slh", "info", "--port", "80"]).is_ok());
    let json = |argv: &[&str]| match Cli::try_parse_from(argv).unwrap().command {
        Command::Info(args) => args.json,
        other => panic!("not info: {other:?}"),
    };
    assert!(json(&["slh", "info", "--port", "80", "--json"]));
    assert!(json(&["slh", "info", "--json", "--pid", "1", "--fd", "3"]));
    assert!(!json(&["slh", "info", "--port", "80"]));
    // Only info has it.
    assert!(Cli::try_parse_from(["slh", "set", "--port", "80", "--off", "--json"]).is_err());
}

#[test]
fn set_needs_a_target_and_one_setting() {
    assert!(Cli::try_parse_from(["slh", "set", "--port", "80", "--off"]).is_ok());
    assert!(Cli::try_parse_from(["slh", "set", "--port", "80", "--queues", "8"]).is_ok());
    assert!(Cli::try_parse_from(["slh", "set", "--off"]).is_err());
    assert!(Cli::try_parse_from(["slh", "set", "--port", "80"]).is_err());
    assert!(Cli::try_parse_from(["slh", "set", "--port", "80", "--off", "--queues", "8"]).is_err());
    assert!(
        Cli::try_parse_from(["slh", "set", "--port", "80", "--off", "--hash", "crc16"]).is_err()
    );
    assert!(
        Cli::try_parse_from(["slh", "set", "--port", "80", "--off", "--max-wait", "100"]).is_err()
    );
    // A --max-wait alone is no setting: it goes with --queues.
    assert!(Cli::try_parse_from(["slh", "set", "--port", "80", "--max-wait", "100"]).is_err());
}

#[test]
fn set_takes_a_max_wait_or_leaves_it_to_the_socket() {
    let max_wait = |extra: &[&str]| {
        let argv = ["slh", "set", "--port", "80", "--queues", "8"]
            .iter()
            .chain(extra);
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Command::Set(args)) => Ok(args.max_wait),
            Ok(other) => panic!("not set: {other:?}"),
            Err(error) => Err(error.kind()),
        }
    };
    assert_eq!(max_wait(&[]), Ok(None));
    assert_eq!(max_wait(&["--max-wait", "0"]), Ok(Some(MaxWait::Strict)));
    assert_eq!(
        max_wait(&["--max-wait", "strict"]),
        Ok(Some(MaxWait::Strict))
    );
    assert_eq!(
        max_wait(&["--max-wait", "150"]),
        Ok(Some(MaxWait::Millis(150)))
    );
    assert_eq!(
        max_wait(&["--max-wait", "60000ms"]),
        Ok(Some(MaxWait::Millis(60_000)))
    );
    for bad in ["--max-wait=60001", "--max-wait=-1", "--max-wait=soon"] {
        assert_eq!(
            max_wait(&[bad]),
            Err(clap::error::ErrorKind::ValueValidation),
            "{bad}"
        );
    }
}
