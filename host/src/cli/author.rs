//! `switchboard plugin new|build|test`: the plugin author's loop over a
//! plugin directory (`crate::authoring` does the work).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::authoring::{self, Language, Project, Toolchain};
use crate::runtime::{PluginRuntime, RuntimeOptions};

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's language.
    #[arg(long, value_enum)]
    lang: Language,
    /// The world it implements.
    #[arg(long, value_parser = ["channel-adapter", "guardrail", "persona"])]
    world: String,
    /// The plugin's name; the directory `NAME/` is created.
    name: String,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plugin directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let dir = authoring::scaffold(Path::new("."), &args.name, args.lang, &args.world)?;
    println!("created {}", dir.display());
    println!(
        "next: switchboard plugin build {0} && switchboard plugin test {0}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let project = Project::open(&args.dir)?;
    match authoring::build(&project, &Toolchain::from_env()) {
        Ok((path, took)) => {
            eprintln!("built in {:.1} s", took.as_secs_f64());
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let project = Project::open(&args.dir)?;
    let bytes = component_bytes(&args.dir)?;
    let rt = runtime_for(&args.dir.to_string_lossy())?;
    let plugin = match rt.load(&bytes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("invalid plugin {}: {e}", args.dir.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let cases = project.cases();
    if cases.is_empty() {
        eprintln!("no saved cases in {}", project.dir.join("cases").display());
        return Ok(ExitCode::FAILURE);
    }
    let outcomes = authoring::run_cases(&rt, &plugin, &project.manifest.name, &cases);
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    for o in &outcomes {
        let name = o.case.file_name().unwrap_or_default().to_string_lossy();
        match (&o.broken, o.passed()) {
            (Some(why), _) => println!("BROKEN {name}: {why}"),
            (None, true) => println!("ok     {name}"),
            (None, false) => println!("FAILED {name} (- expected, + actual):\n{}", o.diff()),
        }
    }
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The component of a plugin directory, built first when it is missing or
/// older than its sources.
pub(super) fn component_bytes(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let project = Project::open(dir)?;
    if authoring::needs_build(&project) {
        let (path, _) = authoring::build(&project, &Toolchain::from_env())?;
        eprintln!("built {}", path.display());
    }
    let out = project.output();
    std::fs::read(&out).with_context(|| format!("reading {}", out.display()))
}

/// A small runtime for one command. A plugin directory gets a disk cache of
/// compiled code (`DIR/dist/.compiled`) so that the author's repeated
/// `test`/`run`/`check` of a JS or Python component (10-20 MiB, seconds to
/// compile) compile it once per build; a `.wasm` file or first-party name
/// gets none, so `check` reports the real compile time.
pub(super) fn runtime_for(spec: &str) -> anyhow::Result<PluginRuntime> {
    let mut options = RuntimeOptions::default();
    options.engine.pool_instances = 4;
    if let Ok(project) = Project::open(std::path::Path::new(spec)) {
        options.cache_dir = Some(project.dir.join("dist/.compiled"));
        options.disk_cache_bytes = 1 << 30;
    }
    PluginRuntime::new(options)
}
