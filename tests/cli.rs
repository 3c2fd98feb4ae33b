//! The command-line tool end to end, on a synthetic dataset made in the test.

use std::path::Path;
use std::process::Command;

use image::{ImageBuffer, Luma};

/// A textured image whose content is shifted by (dx, dy).
fn write_image(path: &Path, dx: i32, dy: i32) {
    let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(300, 240, |x, y| {
        let (x, y) = ((x as i32 - dx) as f32, (y as i32 - dy) as f32);
        let v = 0.5 + 0.2 * ((x * 0.05).sin() * (y * 0.07).cos()) + 0.2 * ((x * 0.021 + y * 0.033).sin());
        Luma([(v * 65535.0) as u16])
    });
    img.save(path).unwrap();
}

fn cc2d(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cc2d")).args(args).output().unwrap()
}

/// A hand10-style dataset in a new folder: shifted copies of one texture, two landmarks
/// (or `extra` more) that move with it, 0.2 mm per pixel.
fn synthetic_dataset(name: &str, shifts: &[(i32, i32)], extra: usize) -> tempfile::TempDir {
    let scratch = tempfile::Builder::new().prefix(&format!("cc2d-cli-{name}-")).tempdir().unwrap();
    let dir = scratch.path();
    let lms: Vec<(f64, f64)> = [(100.0, 80.0), (200.0, 160.0)].into_iter().chain((0..extra).map(|i| (50.0 + 30.0 * i as f64, 200.0))).collect();
    let mut csv = String::new();
    let mut spacing = String::from("id,width,height,spacing_mm\n");
    for (i, &(dx, dy)) in shifts.iter().enumerate() {
        write_image(&dir.join(format!("im{i}.png")), dx, dy);
        csv += &format!("im{i}");
        for (x, y) in &lms {
            csv += &format!(",{},{}", x + dx as f64, y + dy as f64);
        }
        csv += "\n";
        spacing += &format!("im{i},300,240,0.2\n");
    }
    std::fs::write(dir.join(format!("landmarks_{}.csv", lms.len())), csv).unwrap();
    std::fs::write(dir.join("spacing_mm.csv"), spacing).unwrap();
    scratch
}

#[test]
fn baseline_then_eval_on_a_synthetic_hand10_style_dataset() {
    let dataset = synthetic_dataset("ncc", &[(0, 0), (12, -7), (-9, 15)], 0);
    let dir = dataset.path();

    let d = dir.to_str().unwrap();
    let out_csv = dir.join("pred.csv");
    let json = dir.join("pred.json");
    let o = cc2d(&["baseline", "--data", d, "--split", "all", "--template-id", "im0", "-o", out_csv.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    // The template itself and two shifted copies: every landmark within 2 px (0.4 mm).
    let row = stdout.lines().find(|l| l.starts_with("all")).expect(&stdout);
    let mre: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(mre < 0.4, "{stdout}");
    let detections: Vec<cc2d::io::landmarks::Detection> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(detections.len(), 3);
    assert_eq!(detections[1].landmarks[0].name, "L1");

    // eval reads the written CSV back and gives the same figure.
    let o = cc2d(&["eval", out_csv.to_str().unwrap(), "--data", d]);
    assert!(o.status.success());
    let eval_out = String::from_utf8_lossy(&o.stdout);
    let eval_row = eval_out.lines().find(|l| l.starts_with("all")).expect(&eval_out);
    let eval_mre: f64 = eval_row.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(eval_mre, mre, "baseline {row} vs eval {eval_row}");
    // One annotator's ground truth exists only where the dataset keeps each annotator's.
    for args in [&["eval", out_csv.to_str().unwrap()][..], &["labels"]] {
        let o = cc2d(&[args, &["--data", d, "--annotator", "senior"]].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("--annotator senior needs the ISBI 2015 layout"), "{args:?}: {err}");
    }
    // `labels` writes the ground truth, which scores 0 mm.
    let labels = dir.join("labels.csv");
    let o = cc2d(&["labels", "--data", d, "--split", "all", "-o", labels.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cc2d(&["eval", labels.to_str().unwrap(), "--data", d]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.lines().any(|l| l.starts_with("all") && l.split_whitespace().nth(2) == Some("0.000")), "{out}");

    // Bad input: clear errors naming the file.
    std::fs::write(dir.join("bad.csv"), "id,x1,y1\nim0,1,2\nim1,1,x\n").unwrap();
    let o = cc2d(&["eval", dir.join("bad.csv").to_str().unwrap(), "--data", d]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.csv: line 3: \"x\" is not a number"), "{err}");
    let o = cc2d(&["baseline", "--data", d, "--template-id", "nope"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no image with id \"nope\""));
    // One unreadable image costs that image only: the others are written, the command
    // fails naming it. (No --split: a dataset without a test split runs on all images.)
    std::fs::write(dir.join("im2.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    std::fs::remove_file(&out_csv).unwrap();
    let o = cc2d(&["baseline", "--data", d, "--template-id", "im0", "-o", out_csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("im2.png: corrupt or truncated") && err.contains("1 of 3 images could not be processed"), "{err}");
    let written = cc2d::io::landmarks::Predictions::read_csv(&out_csv).unwrap();
    assert_eq!(written.rows.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["im0", "im1"]);
}

/// The whole one-shot path through the CLI, briefly: SSL training and matching (whose
/// output serves as pseudo-labels), detector training and detection; weights for another
/// landmark count are refused with the counts named.
#[test]
#[cfg(feature = "train")] // trains a model
fn ssl_and_tpl_commands_run_end_to_end() {
    let dataset = synthetic_dataset("cc2d", &[(0, 0), (12, -7), (-9, 15)], 0);
    let dir = dataset.path();
    let d = dir.to_str().unwrap();
    let path = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = ok(cc2d(&["train-ssl", "--data", d, "--split", "all", "--epochs", "1", "--run", &path("ssl"), "--eval-every", "1", "--eval-images", "2", "--eval-template", "im0"]));
    assert!(out.contains("epoch 1 mean loss") && out.contains("2 training images: MRE"), "{out}");
    assert_eq!(std::fs::read_to_string(path("ssl/log.csv")).unwrap().lines().count(), 2);
    let out = ok(cc2d(&["match", "--data", d, "--split", "all", "--template-id", "im0", "--weights", &path("ssl/model.bpk"), "-o", &path("pseudo.csv")]));
    assert!(out.lines().any(|l| l.starts_with("all")), "{out}");
    // A second SSL round from those weights, its patches focused on the pseudo-labels; focus
    // points that name none of the images are refused.
    let round2 = ["train-ssl", "--data", d, "--split", "all", "--epochs", "1", "--eval-template", "im0", "--init-weights", &path("ssl/model.bpk"), "--learning-rate", "1e-4"];
    let out = ok(cc2d(&[&round2[..], &["--focus-points", &path("pseudo.csv"), "--run", &path("ssl-r2")]].concat()));
    assert!(out.contains("lr 1e-4, from trained weights, 50 % of points near pseudo-labels (σ = 8 px)") && out.contains("epoch 1 mean loss"), "{out}");
    let description = cc2d::model::weights::description(&dir.join("ssl-r2/model.bpk")).unwrap();
    assert!(description.contains("\"focus_share\":0.5"), "{description}");
    assert_ne!(std::fs::read(path("ssl-r2/model.bpk")).unwrap(), std::fs::read(path("ssl/model.bpk")).unwrap());
    std::fs::write(dir.join("elsewhere.csv"), "id,x1,y1,x2,y2\nnot-here,1,2,3,4\n").unwrap();
    let o = cc2d(&[&round2[..], &["--focus-points", &path("elsewhere.csv"), "--run", &path("ssl-r2b")]].concat());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("has a row in the focus points"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.join("short.csv"), "id,x1,y1\nim1,1,2\n").unwrap();
    let o = cc2d(&[&round2[..], &["--focus-points", &path("short.csv"), "--run", &path("ssl-r2c")]].concat());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("image im1 has 1 points, the template 2 landmarks"), "{}", String::from_utf8_lossy(&o.stderr));
    // Few-shot: two more labelled images as templates; one with other landmarks is refused.
    let out = ok(cc2d(&[
        "match",
        "--data",
        d,
        "--split",
        "all",
        "--template-id",
        "im0",
        "--add-template-id",
        "im1",
        "--add-template-id",
        "im2",
        "--weights",
        &path("ssl/model.bpk"),
        "-o",
        &path("few.csv"),
    ]));
    assert!(out.contains("and 2 more (2 landmarks)") && out.lines().any(|l| l.starts_with("all")), "{out}");
    assert_eq!(cc2d::io::landmarks::Predictions::read_csv(&dir.join("few.csv")).unwrap().rows.len(), 3);
    std::fs::write(dir.join("other.json"), r#"{"image":"im1.png","width":300,"height":240,"landmarks":[{"name":"x","x":10,"y":10},{"name":"y","x":20,"y":20}]}"#).unwrap();
    let o =
        cc2d(&["match", "--data", d, "--split", "all", "--template-id", "im0", "--add-template", &path("other.json"), "--weights", &path("ssl/model.bpk"), "-o", &path("x.csv")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("every template must label the same landmarks"), "{}", String::from_utf8_lossy(&o.stderr));

    let out = ok(cc2d(&[
        "train-tpl",
        "--data",
        d,
        "--template-id",
        "im0",
        "--pseudo-labels",
        &path("pseudo.csv"),
        "--epochs",
        "1",
        "--run",
        &path("tpl"),
        "--ssl-weights",
        &path("ssl/model.bpk"),
        "--eval-every",
        "1",
        "--eval-images",
        "2",
    ]));
    assert!(out.contains("2 pseudo-labelled images") && out.contains("epoch 1 mean loss"), "{out}");
    // Continued as the page's fineTune continues a detector: its own schedule, from the epoch
    // its training ended (1), two more; not without the detector to continue.
    let continued = ["train-tpl", "--data", d, "--template-id", "im0", "--pseudo-labels", &path("pseudo.csv"), "--epochs", "2", "--run", &path("tpl-more")];
    let out = ok(cc2d(&[&continued[..], &["--init-weights", &path("tpl/model.bpk"), "--continue-training"]].concat()));
    assert!(out.contains("continued from epoch 1") && out.contains("epoch 3 mean loss") && !out.contains("epoch 1 mean loss"), "{out}");
    let log = std::fs::read_to_string(path("tpl-more/log.csv")).unwrap();
    assert_eq!(log.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect::<Vec<_>>(), ["2", "3"], "{log}");
    // A finer head (output stride 2) trains and detects like the shipped one; a stride the
    // decoder cannot have is refused before any training.
    let finer = ["train-tpl", "--data", d, "--template-id", "im0", "--pseudo-labels", &path("pseudo.csv"), "--epochs", "1", "--eval-every", "0"];
    ok(cc2d(&[&finer[..], &["--output-stride", "2", "--run", &path("tpl-fine")]].concat()));
    let description = cc2d::model::weights::description(&dir.join("tpl-fine/model.bpk")).unwrap();
    assert!(description.contains("\"decoder_widths\":[96,64,48,32]"), "{description}");
    let out = ok(cc2d(&["detect", "--data", d, "--split", "all", "--template-id", "im0", "--weights", &path("tpl-fine/model.bpk"), "-o", &path("det-fine.csv")]));
    assert!(out.lines().any(|l| l.starts_with("all")), "{out}");
    let o = cc2d(&[&finer[..], &["--output-stride", "3", "--run", &path("tpl-bad")]].concat());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("output stride 3: must be 1, 2, 4, 8 or 16"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cc2d(&[&continued[..], &["--continue-training"]].concat());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--init-weights"), "{}", String::from_utf8_lossy(&o.stderr));
    let out =
        ok(cc2d(&["detect", "--data", d, "--split", "all", "--template-id", "im0", "--weights", &path("tpl/model.bpk"), "-o", &path("det.csv"), "--json", &path("det.json")]));
    assert!(out.lines().any(|l| l.starts_with("all")), "{out}");
    let detections: Vec<cc2d::io::landmarks::Detection> = serde_json::from_str(&std::fs::read_to_string(path("det.json")).unwrap()).unwrap();
    assert!(detections.iter().all(|d| d.landmarks.len() == 2 && d.landmarks.iter().all(|l| (0.0..=1.0).contains(&l.score))));

    // The same through one resumable command; a second run reuses what the first made.
    let pipeline = ["pipeline", "--data", d, "--split", "all", "--template-id", "im0", "--ssl-weights", &path("ssl/model.bpk"), "--tpl-epochs", "1", "--out", &path("pipe")];
    let out = ok(cc2d(&pipeline));
    assert!(out.contains("== 4/4 detection") && std::fs::metadata(path("pipe/predictions.csv")).is_ok(), "{out}");
    let again = ok(cc2d(&pipeline));
    assert!(again.contains("reusing") && !again.contains("epoch 1 mean loss"), "{again}");
    assert_eq!(std::fs::read_to_string(path("pipe/predictions.csv")).unwrap().lines().count(), 4);

    let three_dataset = synthetic_dataset("three", &[(0, 0), (5, 5)], 1);
    let three = three_dataset.path();
    let o = cc2d(&["detect", "--data", three.to_str().unwrap(), "--split", "all", "--template-id", "im0", "--weights", &path("tpl/model.bpk")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("weights trained for 2 landmarks") && err.contains("3 landmarks"), "{err}");
}

/// The GPU recipe runs end to end on the CPU with a tiny run of the `wide` preset: SSL,
/// pseudo-labels, detector, detection, and both weights written in the shipped format.
#[test]
#[cfg(feature = "train")] // trains a model
fn gpu_recipe_runs_on_the_cpu_with_a_tiny_run() {
    let dataset = synthetic_dataset("gpu-recipe", &[(0, 0), (12, -7), (-9, 15)], 0);
    let dir = dataset.path();
    let out = dir.join("out");
    let o = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gpu-train.sh"))
        .arg(&out)
        .args(["--device", "cpu", "--ssl-epochs", "1", "--tpl-epochs", "1", "--template-id", "im0", "--split", "all", "--detect-split", "all", "--data", dir.to_str().unwrap()])
        .env("CC2D_BIN", env!("CARGO_BIN_EXE_cc2d"))
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    assert!(text.contains("== 4/4 detection") && text.contains("gpu-train: weights in"), "{text}");
    for f in ["ssl-wide.bpk", "tpl-wide.bpk", "predictions.csv"] {
        assert!(out.join(f).is_file(), "{f} missing: {text}");
    }
}

/// `calibrate` stores a confidence in the weights that `detect` then reports, and `eval
/// --scores` judges it (AUROC and reliability table); `eval --json` writes the bias.
#[test]
#[cfg(feature = "train")] // trains a model
fn calibrate_then_judge_the_confidence() {
    let dataset = synthetic_dataset("calibrate", &[(0, 0), (12, -7), (-9, 15), (6, 6)], 0);
    let dir = dataset.path();
    let d = dir.to_str().unwrap();
    let path = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // Pseudo-labels: the truth itself (the point here is the plumbing, not the accuracy).
    ok(cc2d(&["baseline", "--data", d, "--split", "all", "--template-id", "im0", "-o", &path("pseudo.csv")]));
    ok(cc2d(&["train-tpl", "--data", d, "--template-id", "im0", "--pseudo-labels", &path("pseudo.csv"), "--epochs", "1", "--run", &path("tpl"), "--eval-every", "0"]));
    let out = ok(cc2d(&["calibrate", "--data", d, "--template-id", "im0", "--split", "all", "--weights", &path("tpl/model.bpk"), "--to", &path("calibrated.bpk")]));
    assert!(out.contains("calibrated on 3 images") && out.contains("wrote"), "{out}");
    let detector =
        cc2d::tpl::detect::TplDetector::load(std::path::Path::new(&path("calibrated.bpk")), cc2d::config::Preset::Small, Some(2), &burn::tensor::Device::flex()).unwrap();
    let calibration = detector.calibration().expect("the calibration travels in the weights");
    assert_eq!((calibration.landmarks, calibration.single.len(), calibration.tta.len()), (2, 4 + 2, 5 + 2));
    ok(cc2d(&[
        "detect",
        "--data",
        d,
        "--split",
        "all",
        "--template-id",
        "im0",
        "--weights",
        &path("calibrated.bpk"),
        "-o",
        &path("det.csv"),
        "--json",
        &path("det.json"),
        "--tta",
    ]));
    let out = ok(cc2d(&["eval", &path("det.csv"), "--data", d, "--scores", &path("det.json"), "--per-landmark", "--json", &path("eval.json")]));
    assert!(out.contains("confidence AUROC") && out.contains("≤ 4 mm %") && out.contains("|bias|"), "{out}");
    let eval: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path("eval.json")).unwrap()).unwrap();
    let bias = &eval["all"]["landmarks"][0]["bias_mm"];
    assert!(bias["dx"].is_f64() && bias["scatter"].is_f64(), "{eval}");
}

/// The shipped detector is built into the binary: `detect` with its defaults works from any
/// folder, here on a folder of unlabelled images (no split named: all of them).
#[test]
fn the_shipped_detector_needs_no_checkout_and_a_plain_folder_needs_no_split() {
    let scratch = tempfile::Builder::new().prefix("cc2d-cli-folder-").tempdir().unwrap();
    let dir = scratch.path();
    write_image(&dir.join("scan.png"), 0, 0);
    let o = Command::new(env!("CARGO_BIN_EXE_cc2d")).current_dir(dir).args(["detect", "--data", ".", "-o", "found.csv"]).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let found = cc2d::io::landmarks::Predictions::read_csv(&dir.join("found.csv")).unwrap();
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0].1.len(), 19);
}

/// Image files named on the command line (a quoted pattern that cc2d expands itself): no
/// dataset folder is needed, a bad file is reported and skipped and the exit status says so;
/// `--shard i/n` splits a run so that the shards' CSVs, concatenated, equal one run's.
#[test]
fn files_on_the_command_line_and_shards_that_merge_into_one_run() {
    let scratch = tempfile::Builder::new().prefix("cc2d-cli-files-").tempdir().unwrap();
    let dir = scratch.path();
    for i in 0..5 {
        write_image(&dir.join(format!("scan{i}.png")), 3 * i, -2 * i);
    }
    std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\n cut here").unwrap();
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_cc2d")).current_dir(dir).env_remove("CC2D_DATA").args(args).output().unwrap();
    let rows = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap().lines().map(str::to_string).collect::<Vec<_>>();

    let o = run(&["detect", "scan*.png", "broken.png", "-o", "all.csv"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("broken.png") && err.contains("1 of 6 images could not be processed"), "{err}");
    let all = rows("all.csv");
    assert_eq!(all.len(), 1 + 5, "{all:?}");
    assert!(all[1].starts_with("scan0,") && all[5].starts_with("scan4,"));

    let mut merged = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = format!("shard{}.csv", &shard[..1]);
        let o = run(&["detect", "scan*.png", "--shard", shard, "-o", &out]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = rows(&out);
        merged.extend(if merged.is_empty() { &r[..] } else { &r[1..] }.iter().cloned());
    }
    assert_eq!(merged, all, "the shards' rows, concatenated, are one run's");

    let o = run(&["detect", "scan*.png", "--shard", "2/2"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("the index must be below the count"));
    let o = run(&["detect", "nothing*.png"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("nothing*.png: no file matches this pattern"));
    // The default dataset is found from the working directory (or $CC2D_DATA), never from
    // where the binary was built.
    let help = String::from_utf8_lossy(&run(&["detect", "--help"]).stdout).into_owned();
    assert!(help.contains("[default: ../shared/data/isbi2015]"), "{help}");
}

/// `advise-template` ranks every image of the split once, most typical first, reading no
/// labels (here a plain folder: the images only).
#[test]
fn template_advice_ranks_every_image_once() {
    let scratch = tempfile::Builder::new().prefix("cc2d-cli-advice-").tempdir().unwrap();
    let dir = scratch.path();
    // Four shifted copies of one texture and one different image: the odd one ranks last.
    for (i, (dx, dy)) in [(0, 0), (6, -4), (-5, 3), (3, 5)].into_iter().enumerate() {
        write_image(&dir.join(format!("scan{i}.png")), dx, dy);
    }
    let odd: image::ImageBuffer<image::Luma<u8>, Vec<u8>> = image::ImageBuffer::from_fn(300, 240, |x, y| image::Luma([if (x / 40 + y / 40) % 2 == 0 { 20 } else { 230 }]));
    odd.save(dir.join("odd.png")).unwrap();
    let out = dir.join("advice.csv");
    let o = cc2d(&["advise-template", "--data", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&out).unwrap().lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), 5);
    let mut ids: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(rows.last().unwrap()[1], "odd", "{rows:?}");
    let scores: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    ids.sort_unstable();
    assert_eq!(ids, ["odd", "scan0", "scan1", "scan2", "scan3"]);
}
