//! `probesim museum [FILE]`: runs each exhibit's before/after pair and says whether it shows its symptom.

use crate::museum::{self, Museum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `museum`.
#[derive(clap::Args, Debug)]
pub struct MuseumArgs {
    /// The museum file.
    #[arg(default_value = "museum/exhibits.toml")]
    pub file: PathBuf,
    /// Only the exhibit with this name.
    #[arg(long)]
    pub only: Option<String>,
}

/// Exit 0 if every exhibit visited shows its symptom before and not after, 1 if one does not, 2 for bad input.
pub fn run(args: &MuseumArgs) -> ExitCode {
    let m = match Museum::load(&args.file) {
        Ok(m) => m,
        Err(e) => return super::fail(e),
    };
    let picked: Vec<_> = m.exhibits.iter().filter(|x| args.only.as_ref().is_none_or(|n| *n == x.name)).collect();
    if picked.is_empty() {
        let names: Vec<&str> = m.exhibits.iter().map(|x| x.name.as_str()).collect();
        return super::fail(format!("--only: no exhibit of that name (there are: {})", names.join(", ")));
    }
    let mut broken = 0;
    for x in picked {
        let v = match museum::visit(x) {
            Ok(v) => v,
            Err(e) => return super::fail(e),
        };
        outln!("{} — {} ({})", x.name, x.change, x.version);
        for line in x.story.trim().lines() {
            outln!("  {line}");
        }
        outln!("  symptom: {}", x.symptom.describe());
        let show = |p: &std::path::Path, seen: &Option<String>| match seen {
            Some(s) => format!("{}: shows it ({s})", p.display()),
            None => format!("{}: does not show it", p.display()),
        };
        outln!("  before  {}", show(&x.before, &v.before));
        outln!("  after   {}", show(&x.after, &v.after));
        if !v.holds() {
            broken += 1;
            outln!("  BROKEN: the pair no longer shows the change");
        }
        outln!();
    }
    if broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
