//! The kv-sessions load harness: bare actix-web, kv-sessions and its peers, side by side.
//!
//! `bench/run` builds this binary in release mode and runs `drive` on one core; the driver starts
//! each variant's server (`serve`) on the other core, loads it with wrk, and writes
//! `bench/RESULTS.md`, `bench/results.svg` and `bench/samples.csv`.
//!
//! ```text
//! kv-sessions-bench drive [options]                          the whole run; see --help
//! kv-sessions-bench serve <variant> <port> <dir> <space>     one server, until killed
//! kv-sessions-bench seed <store> <sessions> <dir> <cookies>  fill a cold-read store
//! kv-sessions-bench footprint <store> <sessions> <dir>       memory, disk and open time
//! kv-sessions-bench fleet [options]                          invalidation cost at fleet scale
//! kv-sessions-bench list                                     variants, scenarios and stores
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod driver;
mod fleet;
mod footprint;
mod http;
mod redis_keys;
mod report;
mod scenario;
mod seed;
mod server;
mod space;
mod variant;
mod wrk;

use crate::driver::Options;
use crate::footprint::FootprintStore;
use crate::scenario::Scenario;
use crate::space::Space;
use crate::variant::{ColdStore, Engine, Side, VARIANTS, Variant};
use crate::wrk::Load;

const USAGE: &str = "\
usage: kv-sessions-bench drive [--quick] [--rounds N] [--duration SECS] [--warmup SECS]
                               [--threads N] [--connections N] [--only VARIANT,...]
                               [--scenarios SCENARIO,...] [--cold-sessions N]
                               [--footprint-sessions N,...] [--no-footprint]
                               [--server-core CORE] [--out DIR] [--work DIR]
       kv-sessions-bench serve <variant> <port> <dir> <space>
       kv-sessions-bench seed <store> <sessions> <dir> <cookie-file>
       kv-sessions-bench footprint <store> <sessions> <dir>
       kv-sessions-bench fleet [--instances N,...] [--rates N,...] [--seconds SECS]
                               [--engines redis,postgres]
       kv-sessions-bench list

drive runs every variant in every scenario for each round (default 5 rounds of 4 s after a
1 s warm-up, wrk -t1 -c32), then measures each store's footprint at 100,000 and 1,000,000
sessions. --quick is one round of 2 s. Bare actix-web is always measured: every ratio is
against it.

fleet runs N lightweight subscribers (default 0,20,50,100) in this process against the local
Redis and PostgreSQL while one publisher writes at each rate (default 1000,2000,5000 writes/s,
3 s each), and prints what delivery costs, with the cost at 100 instances and 10,000 writes/s.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kv-sessions-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    let io = |error: std::io::Error| error.to_string();
    match (command.as_str(), rest) {
        ("drive", flags) => driver::run(&drive_options(flags)?).map_err(io),
        ("serve", [variant, port, dir, space]) => {
            let variant = Variant::find(variant).ok_or(format!("no variant {variant}"))?;
            let space = Space::from_name(space).ok_or(format!("no space {space}"))?;
            server::serve(variant, number(port)?, Path::new(dir), &space).map_err(io)
        }
        ("seed", [store, sessions, dir, cookies]) => {
            let store = ColdStore::from_name(store).ok_or(format!("no cold store {store}"))?;
            seed::seed(store, Path::new(dir), number(sessions)?, Path::new(cookies)).map_err(io)
        }
        ("footprint", [store, sessions, dir]) => {
            let store = FootprintStore::from_name(store).ok_or(format!("no store {store}"))?;
            let footprint =
                footprint::measure(store, number(sessions)?, Path::new(dir)).map_err(io)?;
            println!("{}", footprint.to_line());
            Ok(())
        }
        ("fleet", flags) => fleet::run(&fleet_settings(flags)?).map_err(io),
        ("list", []) => {
            list();
            Ok(())
        }
        ("help" | "--help" | "-h", _) => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn list() {
    println!("variants:");
    for variant in VARIANTS {
        let scenarios: Vec<&str> = variant.scenarios.iter().map(|s| s.name()).collect();
        println!(
            "  {:<21} {} ({})",
            variant.name,
            variant.label,
            scenarios.join(", ")
        );
    }
    let scenarios: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
    println!("scenarios: {}", scenarios.join(", "));
    let stores: Vec<&str> = FootprintStore::ALL.iter().map(|s| s.name()).collect();
    println!("footprint stores: {}", stores.join(", "));
}

fn drive_options(flags: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rounds: 5,
        duration: Duration::from_secs(4),
        warmup: Duration::from_secs(1),
        load: Load {
            threads: 1,
            connections: 32,
        },
        variants: VARIANTS.iter().collect(),
        scenarios: Scenario::ALL.to_vec(),
        cold_sessions: 1_000_000,
        footprint_sessions: vec![100_000, 1_000_000],
        server_core: None,
        out: PathBuf::from("bench"),
        work: PathBuf::from("target/bench-work"),
    };
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let mut value = || flags.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => {
                options.rounds = 1;
                options.duration = Duration::from_secs(2);
            }
            "--rounds" => options.rounds = number(value()?)?,
            "--duration" => options.duration = Duration::from_secs(number(value()?)?),
            "--warmup" => options.warmup = Duration::from_secs(number(value()?)?),
            "--threads" => options.load.threads = number(value()?)?,
            "--connections" => options.load.connections = number(value()?)?,
            "--only" => options.variants = variants(value()?)?,
            "--scenarios" => options.scenarios = scenarios(value()?)?,
            "--cold-sessions" => options.cold_sessions = number(value()?)?,
            "--footprint-sessions" => {
                options.footprint_sessions =
                    value()?.split(',').map(number).collect::<Result<_, _>>()?;
            }
            "--no-footprint" => options.footprint_sessions.clear(),
            "--server-core" => options.server_core = Some(value()?.clone()),
            "--out" => options.out = PathBuf::from(value()?),
            "--work" => options.work = PathBuf::from(value()?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(options)
}

fn fleet_settings(flags: &[String]) -> Result<fleet::Settings, String> {
    let mut settings = fleet::Settings::default();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let value = flags.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--instances" => settings.instances = numbers(value)?,
            "--rates" => settings.rates = numbers(value)?,
            "--seconds" => settings.duration = Duration::from_secs(number(value)?),
            "--engines" => settings.engines = engines(value)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(settings)
}

fn engines(list: &str) -> Result<Vec<Engine>, String> {
    list.split(',')
        .map(|name| match name {
            "redis" => Ok(Engine::Redis),
            "postgres" => Ok(Engine::Postgres),
            _ => Err(format!("no engine {name}: redis or postgres")),
        })
        .collect()
}

/// The variants named in a comma-separated list, with bare actix-web added first.
fn variants(list: &str) -> Result<Vec<&'static Variant>, String> {
    let mut chosen: Vec<&'static Variant> = VARIANTS
        .iter()
        .filter(|v| v.side == Side::Baseline)
        .collect();
    for name in list.split(',') {
        let variant = Variant::find(name).ok_or(format!("no variant {name}; see `list`"))?;
        if !chosen.iter().any(|v| v.name == variant.name) {
            chosen.push(variant);
        }
    }
    Ok(chosen)
}

fn scenarios(list: &str) -> Result<Vec<Scenario>, String> {
    list.split(',')
        .map(|name| Scenario::from_name(name).ok_or(format!("no scenario {name}; see `list`")))
        .collect()
}

fn numbers<T: std::str::FromStr>(list: &str) -> Result<Vec<T>, String> {
    list.split(',').map(number).collect()
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a number"))
}
