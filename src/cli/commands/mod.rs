//! One module per subcommand: its arguments (`Args`), `run`, and the typed function that
//! does the work (what `pipeline` calls).

pub mod advise_template;
pub mod baseline;
pub mod calibrate;
pub mod detect;
pub mod eval;
pub mod export;
pub mod labels;
pub mod r#match;
#[cfg(feature = "train")]
pub mod pipeline;
pub mod shift_bench;
pub mod template;
#[cfg(feature = "train")]
pub mod train_ssl;
#[cfg(feature = "train")]
pub mod train_tpl;

/// The training commands in a build without training (Burn's autodiff and optimiser, the
/// `train` feature, which detection does without): each takes any arguments and says how
/// to build a cc2d that trains.
#[cfg(not(feature = "train"))]
macro_rules! needs_training {
    ($($module:ident = $name:literal),*) => {$(
        pub mod $module {
            #[derive(clap::Args)]
            pub struct Args {
                #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
                arguments: Vec<String>,
            }

            pub fn run(_: Args) -> anyhow::Result<()> {
                anyhow::bail!(concat!(
                    "`cc2d ", $name, "` trains a model, and this cc2d was built without training support: ",
                    "build with --features train (`cargo run --release --features train -- ", $name, " …`, ",
                    "or `cargo install --path . --features train`)"
                ))
            }
        }
    )*};
}
#[cfg(not(feature = "train"))]
needs_training!(pipeline = "pipeline", train_ssl = "train-ssl", train_tpl = "train-tpl");
