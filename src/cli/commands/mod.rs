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
pub mod pipeline;
pub mod template;
pub mod train_ssl;
pub mod train_tpl;
