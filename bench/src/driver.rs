//! The load run: every variant in every scenario, interleaved over rounds, each sample against a
//! server process of its own.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kv_sessions::SessionId;

use crate::footprint::{Footprint, FootprintStore, status_field_kib};
use crate::http::{self, Client};
use crate::report::{self, Comparison, Report};
use crate::scenario::{HOT_SESSIONS, Scenario, Sessions};
use crate::server::kv::CookieSigner;
use crate::server::{self, NO_VALUE, SAVED, VALUE};
use crate::space::Space;
use crate::variant::{ColdStore, Side, Variant};
use crate::wrk::{self, Load, Measurement};

/// How long a server may take to start listening; opening a store of a million sessions counts.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections that create the hot sessions through `/set`.
const SEEDING_CONNECTIONS: usize = 8;

/// What `drive` runs, from the command line.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) rounds: usize,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) load: Load,
    pub(crate) variants: Vec<&'static Variant>,
    pub(crate) scenarios: Vec<Scenario>,
    /// Sessions in the cold-read scenario's stores.
    pub(crate) cold_sessions: usize,
    /// Session counts the footprint is measured at; empty to skip it.
    pub(crate) footprint_sessions: Vec<usize>,
    /// The core servers are pinned to with `taskset`, if any.
    pub(crate) server_core: Option<String>,
    /// Where RESULTS.md, the charts and the samples go.
    pub(crate) out: PathBuf,
    /// Scratch space: stores, cookie files, server logs.
    pub(crate) work: PathBuf,
}

/// One wrk run against one server.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) round: usize,
    pub(crate) scenario: Scenario,
    pub(crate) variant: &'static Variant,
    pub(crate) measurement: Measurement,
    /// The server's peak resident memory when the run ended.
    pub(crate) server_peak_kib: u64,
}

/// A store filled before the rounds, for cold-read.
struct ColdSeed {
    dir: PathBuf,
    cookies: PathBuf,
}

/// Runs every round, then the footprint, and writes the reports.
pub(crate) fn run(options: &Options) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    fs::create_dir_all(&options.work)?;
    fs::create_dir_all(&options.out)?;
    let script = options.work.join("sessions.lua");
    fs::write(&script, wrk::SCRIPT)?;
    let cold = seed_cold_stores(options, &exe)?;
    let comparisons = Comparison::rewritten_by(&options.variants);
    let mut csv = SamplesCsv::create(&options.out, &comparisons)?;
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    for round in 1..=options.rounds {
        for &scenario in &options.scenarios {
            for &variant in options.variants.iter().filter(|v| v.runs(scenario)) {
                let run = Run {
                    options,
                    exe: &exe,
                    script: &script,
                    cold: &cold,
                    round,
                    scenario,
                    variant,
                };
                match run.measure() {
                    Ok(sample) => {
                        csv.append(&sample)?;
                        samples.push(sample);
                    }
                    Err(error) => {
                        let failure = format!(
                            "round {round}, {}, {}: {error}",
                            scenario.name(),
                            variant.name
                        );
                        eprintln!("  failed: {failure}");
                        failures.push((variant, failure));
                    }
                }
            }
        }
    }
    // The footprints are the in-process stores'; a run that rewrites none of that part would
    // throw them away.
    let footprints = if comparisons.contains(&Comparison::InProcess) {
        measure_footprints(options, &exe)?
    } else {
        Vec::new()
    };
    report::write(&Report {
        options,
        samples: &samples,
        footprints: &footprints,
        failures: &failures,
    })
}

/// Fills, once, the stores that cold-read needs; a store filled by an earlier run with the
/// same count is reused.
fn seed_cold_stores(options: &Options, exe: &Path) -> io::Result<BTreeMap<&'static str, ColdSeed>> {
    let mut seeds = BTreeMap::new();
    if !options.scenarios.contains(&Scenario::ColdRead) {
        return Ok(seeds);
    }
    let stores = options
        .variants
        .iter()
        .filter(|variant| variant.runs(Scenario::ColdRead))
        .filter_map(|variant| variant.cold_store());
    for store in stores {
        if seeds.contains_key(store.name()) {
            continue;
        }
        let seed = seed_cold_store(options, exe, store)?;
        seeds.insert(store.name(), seed);
    }
    Ok(seeds)
}

fn seed_cold_store(options: &Options, exe: &Path, store: ColdStore) -> io::Result<ColdSeed> {
    let count = options.cold_sessions;
    let base = options.work.join(format!("cold-{}-{count}", store.name()));
    let seed = ColdSeed {
        dir: base.join("store"),
        cookies: base.join("cookies.txt"),
    };
    let done = base.join("complete");
    if done.exists() {
        eprintln!("cold-read: reusing {count} sessions in {}", base.display());
        return Ok(seed);
    }
    if base.exists() {
        fs::remove_dir_all(&base)?;
    }
    fs::create_dir_all(&base)?;
    eprintln!(
        "cold-read: writing {count} sessions into a {} store",
        store.name()
    );
    let started = Instant::now();
    let status = Command::new(exe)
        .args(["seed", store.name(), &count.to_string()])
        .arg(&seed.dir)
        .arg(&seed.cookies)
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "seeding the {} store failed",
            store.name()
        )));
    }
    eprintln!("cold-read: done in {:.0?}", started.elapsed());
    fs::write(done, "")?;
    Ok(seed)
}

/// One sample: a variant's server in one scenario of one round.
struct Run<'a> {
    options: &'a Options,
    exe: &'a Path,
    script: &'a Path,
    cold: &'a BTreeMap<&'static str, ColdSeed>,
    round: usize,
    scenario: Scenario,
    variant: &'static Variant,
}

impl Run<'_> {
    /// Measures the sample in a space of its own on the shared servers, and empties the space
    /// once the server is gone, whether the sample was measured or not.
    fn measure(&self) -> io::Result<Sample> {
        eprintln!(
            "round {}/{}: {} on {}",
            self.round,
            self.options.rounds,
            self.scenario.name(),
            self.variant.name
        );
        let space = Space::generate();
        let measured = self.measure_in(&space);
        let cleared = server::clear(self.variant, &space).map_err(|error| {
            io::Error::other(format!("emptying {} failed: {error}", space.name()))
        });
        let sample = measured?;
        cleared?;
        Ok(sample)
    }

    fn measure_in(&self, space: &Space) -> io::Result<Sample> {
        let scratch = self.options.work.join("run").join(self.variant.name);
        if scratch.exists() {
            fs::remove_dir_all(&scratch)?;
        }
        fs::create_dir_all(&scratch)?;
        let store_dir = match self.cold_seed()? {
            Some(seed) => seed.dir.clone(),
            None => scratch.join("store"),
        };
        let server = Server::start(self, &store_dir, space, &scratch.join("server.log"))?;
        let cookies = self.cookies(&server, &scratch)?;
        self.check_answers(&server, cookies.as_deref())?;
        let url = format!("http://127.0.0.1:{}{}", server.port, self.scenario.path());
        let load = self.options.load;
        wrk::run(
            &url,
            self.script,
            cookies.as_deref(),
            load,
            self.options.warmup,
        )?;
        let measurement = wrk::run(
            &url,
            self.script,
            cookies.as_deref(),
            load,
            self.options.duration,
        )?;
        let server_peak_kib = server.peak_kib().unwrap_or(0);
        drop(server);
        fs::remove_dir_all(&scratch)?;
        eprintln!(
            "  {:.0} req/s, p50 {} µs, p99 {} µs, {} errors",
            measurement.requests_per_sec(),
            measurement.p50_us,
            measurement.p99_us,
            measurement.errors
        );
        Ok(Sample {
            round: self.round,
            scenario: self.scenario,
            variant: self.variant,
            measurement,
            server_peak_kib,
        })
    }

    fn cold_seed(&self) -> io::Result<Option<&ColdSeed>> {
        if self.scenario.sessions() != Sessions::Cold || self.variant.side == Side::Baseline {
            return Ok(None);
        }
        let store = self.variant.cold_store().ok_or_else(|| {
            io::Error::other("this variant keeps no sessions on disk to read cold")
        })?;
        self.cold
            .get(store.name())
            .map(Some)
            .ok_or_else(|| io::Error::other("its cold store was not seeded"))
    }

    /// The cookie file wrk sends from, creating the hot sessions where the scenario needs them.
    /// Bare actix-web gets cookies of the same shape, so that wrk does the same work for it.
    fn cookies(&self, server: &Server, scratch: &Path) -> io::Result<Option<PathBuf>> {
        let baseline = self.variant.side == Side::Baseline;
        match self.scenario.sessions() {
            Sessions::None => Ok(None),
            Sessions::Cold if baseline => match self.cold.values().next() {
                Some(seed) => Ok(Some(seed.cookies.clone())),
                None => write_cookies(scratch, &stand_in_cookies()),
            },
            Sessions::Cold => Ok(self.cold_seed()?.map(|seed| seed.cookies.clone())),
            Sessions::Hot if baseline => write_cookies(scratch, &stand_in_cookies()),
            Sessions::Hot => {
                let cookies =
                    http::create_sessions(server.port, HOT_SESSIONS, SEEDING_CONNECTIONS)?;
                write_cookies(scratch, &cookies)
            }
        }
    }

    /// Checks, before measuring, that the server does what the scenario expects: a seeded
    /// cookie reads back its session, and a write answers 200.
    fn check_answers(&self, server: &Server, cookies: Option<&Path>) -> io::Result<()> {
        let cookie = match cookies {
            Some(file) => first_line(file)?,
            None => None,
        };
        let mut client = Client::connect(server.port)?;
        let response = client.get(self.scenario.path(), cookie.as_deref())?;
        let expected = match (self.variant.side, self.scenario.path()) {
            (_, "/set") => SAVED,
            (Side::Baseline, _) => NO_VALUE,
            _ => VALUE,
        };
        if response.status != 200 || response.body != expected {
            return Err(io::Error::other(format!(
                "GET {} answered {} {:?} where {expected:?} was expected",
                self.scenario.path(),
                response.status,
                response.body
            )));
        }
        Ok(())
    }
}

/// Signed cookies of sessions that exist nowhere, shaped like kv-sessions' own.
fn stand_in_cookies() -> Vec<String> {
    let signer = CookieSigner::new();
    (0..HOT_SESSIONS)
        .map(|_| signer.cookie(SessionId::generate()))
        .collect()
}

fn write_cookies(scratch: &Path, cookies: &[String]) -> io::Result<Option<PathBuf>> {
    let file = scratch.join("cookies.txt");
    fs::write(&file, cookies.join("\n") + "\n")?;
    Ok(Some(file))
}

fn first_line(file: &Path) -> io::Result<Option<String>> {
    let text = fs::read_to_string(file)?;
    Ok(text.lines().next().map(str::to_owned))
}

/// A running server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(run: &Run<'_>, store_dir: &Path, space: &Space, log: &Path) -> io::Result<Self> {
        let port = free_port()?;
        let mut command = match &run.options.server_core {
            Some(core) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(core).arg(run.exe);
                taskset
            }
            None => Command::new(run.exe),
        };
        command
            .args(["serve", run.variant.name, &port.to_string()])
            .arg(store_dir)
            .arg(space.name())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log)?);
        let mut server = Self {
            child: command.spawn()?,
            port,
        };
        server.wait_until_listening(log)?;
        Ok(server)
    }

    fn wait_until_listening(&mut self, log: &Path) -> io::Result<()> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                let output = fs::read_to_string(log).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "the server exited ({status}): {output}"
                )));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(io::Error::other("the server did not start listening"))
    }

    fn peak_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status_field_kib(&status, "VmHWM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A kill loses nothing the bench needs: hot stores are thrown away, cold ones only read.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The samples files of the comparisons a run rewrites, written one line per sample as the run
/// goes, so that an interrupted run keeps what it measured. Bare actix-web's samples go to each.
struct SamplesCsv {
    files: Vec<(Comparison, File)>,
}

impl SamplesCsv {
    fn create(out: &Path, comparisons: &[Comparison]) -> io::Result<Self> {
        let mut files = Vec::new();
        for &comparison in comparisons {
            let mut file = File::create(out.join(comparison.samples_file()))?;
            writeln!(
                file,
                "round,scenario,variant,requests_per_sec,p50_us,p99_us,requests,errors,\
                 server_peak_kib"
            )?;
            files.push((comparison, file));
        }
        Ok(Self { files })
    }

    fn append(&mut self, sample: &Sample) -> io::Result<()> {
        for (comparison, file) in &mut self.files {
            if comparison.includes(sample.variant) {
                write_sample(file, sample)?;
            }
        }
        Ok(())
    }
}

fn write_sample(file: &mut File, sample: &Sample) -> io::Result<()> {
    let m = &sample.measurement;
    writeln!(
        file,
        "{},{},{},{:.0},{},{},{},{},{}",
        sample.round,
        sample.scenario.name(),
        sample.variant.name,
        m.requests_per_sec(),
        m.p50_us,
        m.p99_us,
        m.requests,
        m.errors,
        sample.server_peak_kib
    )
}

/// Measures every store's footprint at every session count, each in a process of its own.
fn measure_footprints(
    options: &Options,
    exe: &Path,
) -> io::Result<Vec<(FootprintStore, usize, Footprint)>> {
    let mut footprints = Vec::new();
    for &sessions in &options.footprint_sessions {
        for &store in FootprintStore::ALL {
            eprintln!("footprint: {} with {sessions} sessions", store.name());
            let dir = options.work.join("footprint");
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            let output = Command::new(exe)
                .args(["footprint", store.name(), &sessions.to_string()])
                .arg(&dir)
                .output()?;
            fs::remove_dir_all(&dir).ok();
            let stdout = String::from_utf8_lossy(&output.stdout);
            match Footprint::from_output(&stdout) {
                Some(footprint) if output.status.success() => {
                    footprints.push((store, sessions, footprint));
                }
                _ => eprintln!(
                    "  failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            }
        }
    }
    Ok(footprints)
}
