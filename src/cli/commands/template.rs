//! `cc2d template`: the template JSON of one labelled dataset image.

use std::path::PathBuf;

use anyhow::{Context, Result};

use cc2d::io::dataset::Dataset;

use crate::args::default_data;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_os_t = default_data())]
    data: PathBuf,
    /// Image id.
    #[arg(long, default_value = "125")]
    id: String,
    #[arg(long, short, default_value = "template.json")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let t = Dataset::open(&a.data)?.template(&a.id)?;
    std::fs::write(&a.out, t.to_json()).with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {} ({} landmarks of image {})", a.out.display(), t.landmarks.len(), a.id);
    Ok(())
}
