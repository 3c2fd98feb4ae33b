//! Browser tests (wasm-bindgen-test in headless Chromium): WebGPU is found and computes what
//! the CPU backend computes; decoding, preprocessing and the NCC baseline give in wasm the
//! landmarks recorded natively. Run by `scripts/test.sh` (docs/testing.md, "Tests in a real browser").
#![cfg(target_arch = "wasm32")]

mod common;

use burn::module::Module;
use burn::tensor::Device;
use common::probe::{ProbeNet, probe_input};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `navigator.gpu.requestAdapter()`'s info, for the log: which adapter the tests ran on.
async fn adapter_info() -> String {
    let get = |o: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).unwrap_or(wasm_bindgen::JsValue::UNDEFINED);
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    if gpu.is_undefined() {
        return "navigator.gpu is undefined".into();
    }
    let request: js_sys::Function = get(&gpu, "requestAdapter").dyn_into().unwrap();
    let adapter = JsFuture::from(js_sys::Promise::from(request.call0(&gpu).unwrap())).await.unwrap();
    if adapter.is_null() {
        return "requestAdapter() returned null".into();
    }
    let info = get(&adapter, "info");
    ["vendor", "architecture", "device", "description"].iter().map(|k| format!("{k}={}", get(&info, k).as_string().unwrap_or_default())).collect::<Vec<_>>().join(" ")
}

#[wasm_bindgen_test]
async fn webgpu_forward_equals_flex_forward() {
    let info = adapter_info().await;
    console_log!("WebGPU adapter: {info}");
    let gpu = cc2d::web::webgpu_device().await.expect("a WebGPU adapter (Chromium needs --enable-unsafe-webgpu)");
    let cpu = Device::flex();
    let net = ProbeNet::new(&cpu);
    let x = probe_input(32, 24, &cpu);
    let a: Vec<f32> = net.forward(x.clone()).into_data_async().await.unwrap().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = net.to_device(&gpu).forward(x.to_device(&gpu)).into_data_async().await.unwrap().try_to_vec::<f32>().unwrap();
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    console_log!("WebGPU vs flex: max |diff| = {diff:e} over {} values ({info})", a.len());
    assert!(diff < 1e-4, "max |diff| = {diff}");
}

/// Fine-tuning on WebGPU: one detector training step equals the step on flex.
#[wasm_bindgen_test]
async fn a_detector_training_step_on_webgpu_equals_the_step_on_flex() {
    use common::probe::{detector_training_step, tiny_detector_config};
    let gpu = cc2d::web::webgpu_device().await.expect("a WebGPU adapter");
    let start = tiny_detector_config().init(&Device::flex());
    let read = async |(loss, heatmap): (burn::tensor::Tensor<1>, burn::tensor::Tensor<4>)| {
        (loss.into_data_async().await.unwrap().try_to_vec::<f32>().unwrap()[0], heatmap.into_data_async().await.unwrap().try_to_vec::<f32>().unwrap())
    };
    let (loss_cpu, h_cpu) = read(detector_training_step(&start, &Device::flex())).await;
    let (loss_gpu, h_gpu) = read(detector_training_step(&start, &gpu)).await;
    let diff = h_cpu.iter().zip(&h_gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    console_log!("training step, WebGPU vs flex: loss {loss_gpu} vs {loss_cpu}, trained heatmap max |diff| {diff:e}");
    assert!((loss_cpu - loss_gpu).abs() < 1e-4 * loss_cpu.abs().max(1.0), "loss {loss_gpu} vs {loss_cpu}");
    assert!(diff < 1e-4, "trained heatmap max |diff| {diff}");
}

#[cfg(cc2d_data)]
mod real {
    pub const TEMPLATE: &[u8] = include_bytes!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/images/125.jpg"));
    pub const QUERY: &[u8] = include_bytes!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/images/151.jpg"));
    pub const SENIOR: &str = include_str!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/AnnotationsByMD/400_senior/125.txt"));
    pub const JUNIOR: &str = include_str!(concat!(env!("CC2D_DATA_DIR"), "/isbi2015/AnnotationsByMD/400_junior/125.txt"));
    pub const SSL_WEIGHTS: &[u8] = include_bytes!("../weights/ssl-small.bpk");
    pub const TPL_WEIGHTS: &[u8] = include_bytes!("../weights/tpl-small.bpk");
}

/// Decoding, preprocessing and the NCC baseline (library code, no GPU) give in wasm the
/// landmarks recorded natively.
#[cfg(cc2d_data)]
#[wasm_bindgen_test]
fn ncc_in_wasm_matches_the_native_record() {
    use cc2d::baseline::ncc::{NccConfig, NccMatcher};
    use cc2d::io::landmarks::Detection;
    let template = common::isbi_template(real::SENIOR, real::JUNIOR, 1935, 2400);
    let template_image = cc2d::io::image::decode(real::TEMPLATE, "125.jpg").unwrap();
    let matcher = NccMatcher::new(&template_image, &template, NccConfig::default()).unwrap();
    let found = cc2d::locate::Locator::detect(&matcher, &cc2d::io::image::decode(real::QUERY, "151.jpg").unwrap(), "151.jpg", &burn::tensor::Device::flex()).unwrap();
    let recorded: Detection = serde_json::from_str(common::NCC_FIXTURE).unwrap();
    let d = common::max_distance(&found.points(), &recorded.points());
    console_log!("NCC wasm vs native record: max distance {d:e} px over {} landmarks", found.landmarks.len());
    assert!(d < 1e-3, "wasm NCC moved {d} px from the native record");
}

async fn engine(backend: &str) -> cc2d::web::Engine {
    let engine = cc2d::web::Engine::create(backend.into()).await.unwrap_or_else(|_| panic!("{backend} engine"));
    assert_eq!(engine.backend(), backend);
    engine
}

/// The shipped models in the page, on the CPU backend and on WebGPU, find on image 151 the
/// landmarks recorded natively: SSL matching within one model pixel (the argmax's grid),
/// the detector within one pixel.
#[cfg(cc2d_data)]
#[wasm_bindgen_test]
async fn shipped_models_on_cpu_and_webgpu_match_the_native_records() {
    use cc2d::io::landmarks::{Detection, Point};
    use cc2d::web::Image;
    let template = common::isbi_template(real::SENIOR, real::JUNIOR, 1935, 2400).to_json();
    let ssl_recorded: Vec<Point> = serde_json::from_str(include_str!("fixtures/ssl_125_on_151.json")).unwrap();
    let tpl_recorded: Detection = serde_json::from_str(include_str!("fixtures/tpl_on_151.json")).unwrap();
    let model_pixel = (1935.0f64 / 384.0).hypot(2400.0 / 384.0);
    let query = Image::from_encoded(real::QUERY, "151.jpg").unwrap();
    for backend in ["cpu", "webgpu"] {
        let engine = engine(backend).await;
        engine.load_detector(real::TPL_WEIGHTS.to_vec(), "tpl-small.bpk").unwrap();
        let started = js_sys::Date::now();
        let found: Detection = serde_json::from_str(&engine.detect(&query, false).await.unwrap()).unwrap();
        let d = common::max_distance(&found.points(), &tpl_recorded.points());
        console_log!("TPL detection in wasm on {backend}: max distance {d:.2e} px from the native record ({:.0} ms)", js_sys::Date::now() - started);
        assert!(d <= 1.0, "{backend}: the detector moved {d} px from the native record");
        assert_eq!(found.landmarks.iter().map(|l| l.name.clone()).collect::<Vec<_>>(), tpl_recorded.landmarks.iter().map(|l| l.name.clone()).collect::<Vec<_>>());

        engine.load_extractor(real::SSL_WEIGHTS.to_vec(), "ssl-small.bpk").unwrap();
        engine.set_template(&Image::from_encoded(real::TEMPLATE, "125.jpg").unwrap(), &template).unwrap();
        let started = js_sys::Date::now();
        let found: Detection = serde_json::from_str(&engine.match_template(&query).await.unwrap()).unwrap();
        let d = common::max_distance(&found.points(), &ssl_recorded);
        console_log!("SSL matching in wasm on {backend}: max distance {d:.2} px from the native record ({:.0} ms)", js_sys::Date::now() - started);
        assert!(d <= model_pixel + 1e-6, "{backend}: SSL matching moved {d} px from the native record");
    }
}

/// Clear refusals: unknown backends, images that are not images, weights of another model;
/// each a JS `Error` with the message and a stable `code` a program can switch on.
#[cfg(cc2d_data)]
#[wasm_bindgen_test]
async fn bad_input_is_refused_with_a_message_a_web_developer_can_act_on() {
    use cc2d::web::{Engine, Image, Rejection};
    let refusal = |e: Rejection| -> (String, String) {
        let error = js_sys::Error::from(JsValue::from(e));
        let code = js_sys::Reflect::get(&error, &"code".into()).ok().and_then(|c| c.as_string()).unwrap_or_default();
        (error.message().into(), code)
    };
    let (m, code) = refusal(Engine::create("quantum".into()).await.err().expect("unknown backend refused"));
    assert!(m.contains("unknown backend") && code == "CC2D_BAD_INPUT", "{code}: {m}");
    let (m, code) = refusal(Image::from_encoded(b"GIF89a...", "clip.gif").err().expect("a GIF is refused"));
    assert!(m.contains("clip.gif") && m.contains("not a supported image") && code == "CC2D_BAD_IMAGE", "{code}: {m}");
    let engine = engine("cpu").await;
    let (m, code) = refusal(engine.load_detector(b"truncated".to_vec(), "x.bpk").unwrap_err());
    assert!(m.contains("not a cc2d weights file") && code == "CC2D_WEIGHTS_MISMATCH", "{code}: {m}");
    let (m, code) = refusal(engine.load_detector(real::SSL_WEIGHTS.to_vec(), "ssl-small.bpk").unwrap_err());
    assert!(m.contains("not CC2D-TPL detector weights") && code == "CC2D_WEIGHTS_MISMATCH", "{code}: {m}");
    let (m, code) = refusal(engine.detect(&Image::from_encoded(real::QUERY, "151.jpg").unwrap(), false).await.unwrap_err());
    assert!(m.contains("no detector weights loaded") && code == "CC2D_NOT_READY", "{code}: {m}");
}

/// What `fineTune` does when it loads the training module: the engine's detector, templates
/// and training set exported and imported into a new engine, which then detects, matches
/// and trains as the first would have; a damaged session is refused and changes nothing.
#[cfg(cc2d_data)]
#[wasm_bindgen_test]
async fn an_engines_session_moves_into_another_engine_unchanged() {
    use cc2d::io::landmarks::Detection;
    use cc2d::web::{Image, Rejection, yield_to_event_loop};
    // On the CPU backend every call runs to its end at once: turns of the event loop between
    // them keep the test driver's page responsive.
    let template = common::isbi_template(real::SENIOR, real::JUNIOR, 1935, 2400).to_json();
    let query = Image::from_encoded(real::QUERY, "151.jpg").unwrap();
    let first = engine("cpu").await;
    first.load_detector(real::TPL_WEIGHTS.to_vec(), "tpl-small.bpk").unwrap();
    first.load_extractor(real::SSL_WEIGHTS.to_vec(), "ssl-small.bpk").unwrap();
    first.set_template(&Image::from_encoded(real::TEMPLATE, "125.jpg").unwrap(), &template).unwrap();
    let pseudo: Detection = serde_json::from_str(&first.pseudo_label(&query).await.unwrap()).unwrap();
    yield_to_event_loop().await;
    let detected: Detection = serde_json::from_str(&first.detect(&query, false).await.unwrap()).unwrap();
    let session = first.export_session().unwrap();
    console_log!("session: {} bytes (template 1935×2400, one pseudo-labelled image, f32 detector)", session.len());
    yield_to_event_loop().await;

    let second = engine("cpu").await;
    second.load_extractor(real::SSL_WEIGHTS.to_vec(), "ssl-small.bpk").unwrap();
    second.import_session(&session).unwrap();
    assert_eq!((second.training_set_size(), second.template_count(), second.landmark_names()), (1, 1, first.landmark_names()));
    let again: Detection = serde_json::from_str(&second.detect(&query, false).await.unwrap()).unwrap();
    assert_eq!(again, detected, "the moved detector detects as before");
    yield_to_event_loop().await;
    let matched: Detection = serde_json::from_str(&second.match_template(&query).await.unwrap()).unwrap();
    assert_eq!(matched.points(), pseudo.points(), "the moved template matches as before");
    yield_to_event_loop().await;

    let code = |e: Rejection| js_sys::Reflect::get(&js_sys::Error::from(JsValue::from(e)), &"code".into()).ok().and_then(|c| c.as_string()).unwrap_or_default();
    for damaged in [&session[..session.len() / 2], b"not a session".as_slice(), &[]] {
        assert_eq!(code(second.import_session(damaged).unwrap_err()), "CC2D_BAD_INPUT");
    }
    let after: Detection = serde_json::from_str(&second.detect(&query, false).await.unwrap()).unwrap();
    assert_eq!((after, second.training_set_size()), (detected, 1), "a refused session leaves the engine as it was");
}

/// Under CI the real-data browser test must run: fail if the build did not see the data.
#[cfg(not(cc2d_data))]
#[wasm_bindgen_test]
fn real_data_is_present_under_ci() {
    assert!(option_env!("CI").is_none(), "CI must build the browser tests with the shared data (set CC2D_DATA)");
    console_log!("skipping the real-radiograph browser test: no shared data at build time (set CC2D_DATA)");
}
